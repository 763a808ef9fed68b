"""The TFDS code path under `tfds.testing.mock_data` (no downloads)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from mu2keras.tasks import DataHparams
from mu2keras.tasks import get_task
from mu2keras.tasks import pipeline
from mu2keras.tasks import tfds_tasks
from mu2keras.tasks.tfds_tasks import Source
from mu2keras.tasks.tfds_tasks import default_splits

# One task per split rule: name -> (sources, sizes of train/validation/test,
# num_classes). Sizes follow from the metadata in conftest.
CASES = {
    "imagenet2012": (
        {
            "train": Source("imagenet2012", "train"),
            "validation": Source("imagenet_v2", "test"),
            "test": Source("imagenet2012", "validation"),
        },
        (1_281_167, 10_000, 50_000),
        1000,
    ),
    "cifar10": (
        {
            "train": Source("cifar10:3.*.*", "train"),
            "validation": Source("cifar10_1", "test"),
            "test": Source("cifar10:3.*.*", "test"),
        },
        (50_000, 2_000, 10_000),
        10,
    ),
    "cifar100": (
        {
            "train": Source("cifar100:3.*.*", "train[:98%]"),
            "validation": Source("cifar100:3.*.*", "train[98%:]"),
            "test": Source("cifar100:3.*.*", "test"),
        },
        (49_000, 1_000, 10_000),
        100,
    ),
    "visual_domain_decathlon/dtd": (
        {
            "train": Source("visual_domain_decathlon/dtd", "train"),
            "validation": Source(
                "visual_domain_decathlon/dtd", "validation[:50%]"
            ),
            "test": Source("visual_domain_decathlon/dtd", "validation[50%:]"),
        },
        (1_880, 940, 940),
        47,
    ),
    "cmaterdb/bangla": (
        {
            "train": Source("cmaterdb/bangla", "train[20%:]"),
            "validation": Source("cmaterdb/bangla", "train[:20%]"),
            "test": Source("cmaterdb/bangla", "test"),
        },
        (4_000, 1_000, 1_000),
        10,
    ),
    "omniglot": (
        {
            "train": Source("omniglot", "train"),
            "validation": Source("omniglot", "small1"),
            "test": Source("omniglot", "small2"),
        },
        (19_280, 2_720, 3_120),
        1623,
    ),
    # Default rule, TFDS has train + test: validation is train[0%:5%].
    "mnist": (
        {
            "train": Source("mnist", "train[5%:]"),
            "validation": Source("mnist", "train[0%:5%]"),
            "test": Source("mnist", "test"),
        },
        (57_000, 3_000, 10_000),
        10,
    ),
    # Default rule, TFDS has all three splits: used as they are.
    "beans": (
        {
            "train": Source("beans", "train"),
            "validation": Source("beans", "validation"),
            "test": Source("beans", "test"),
        },
        (1_034, 133, 128),
        3,
    ),
    # VTAB full: 90% of TFDS train is VTAB train.
    "caltech101": (
        {
            "train": Source("caltech101:3.*.*", "train[:2754]"),
            "validation": Source("caltech101:3.*.*", "train[2754:]"),
            "test": Source("caltech101:3.*.*", "test"),
        },
        (2_754, 306, 6_084),
        102,
    ),
    # VTAB full, everything cut from train (80/10/10).
    "dsprites/label_x_position": (
        {
            "train": Source("dsprites:2.*.*", "train[:589824]"),
            "validation": Source("dsprites:2.*.*", "train[589824:663552]"),
            "test": Source("dsprites:2.*.*", "train[663552:]"),
        },
        (589_824, 73_728, 73_728),
        32,
    ),
    # VTAB full, the typo'd attribute of the notebook fixed.
    "smallnorb/label_elevation": (
        {
            "train": Source("smallnorb:2.*.*", "train"),
            "validation": Source("smallnorb:2.*.*", "test[:50%]"),
            "test": Source("smallnorb:2.*.*", "test[50%:]"),
        },
        (24_300, 12_150, 12_150),
        9,
    ),
    # VTAB-1k: val200 is the first 200 of VTAB val (train[63000:]); CLEVR's
    # TFDS validation split is VTAB's test.
    "clevr/closest_object_distance/1k": (
        {
            "train": Source("clevr:3.*.*", "train[:800]"),
            "validation": Source("clevr:3.*.*", "train[63000:63200]"),
            "test": Source("clevr:3.*.*", "validation"),
        },
        (800, 200, 15_000),
        6,
    ),
    "eurosat/1k": (
        {
            "train": Source("eurosat/rgb:2.*.*", "train[:800]"),
            "validation": Source("eurosat/rgb:2.*.*", "train[16200:16400]"),
            "test": Source("eurosat/rgb:2.*.*", "train[21600:]"),
        },
        (800, 200, 5_400),
        10,
    ),
    "kitti/count_vehicles/1k": (
        {
            "train": Source("kitti:3.2.0", "train[:800]"),
            "validation": Source("kitti:3.2.0", "validation[:200]"),
            "test": Source("kitti:3.2.0", "test"),
        },
        (800, 200, 711),
        4,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_split_rule_end_to_end(mock_tfds, name):
    sources, sizes, num_classes = CASES[name]
    task = get_task(name)
    assert task.name == name
    assert task.sources == sources
    assert tuple(task.num_examples(s) for s in sources) == sizes
    assert task.num_classes == num_classes
    for split in ("train", "validation", "test"):
        examples = list(task.dataset(split, shuffle_files=True, seed=1))
        assert len(examples) == 3  # mock_data's example count.
        for image, label in examples:
            assert image.dtype == "uint8" and image.shape.rank == 3
            assert image.shape[-1] in (1, 3)
            assert label.dtype == "int64" and label.shape == ()
            assert 0 <= int(label) < num_classes


def test_dsprites_images_are_scaled_to_255(mock_tfds):
    task = get_task("dsprites/label_orientation/1k")
    assert task.num_classes == 40  # All orientations, as the notebook.
    for image, _ in task.dataset("train"):
        assert set(np.unique(image.numpy())) <= {0, 255}


def test_class_names_come_from_tfds(mock_tfds):
    task = get_task("cmaterdb/bangla")
    assert task.class_names == [str(i) for i in range(10)]
    assert get_task("clevr/count_all/1k").class_names is None
    assert get_task("clevr/count_all/1k").num_classes == 8


def test_private_prefix(mock_tfds):
    task = get_task("private:cmaterdb/bangla")
    assert task.private is True
    assert task.name == "cmaterdb/bangla"
    assert get_task("cmaterdb/bangla").private is False


def test_data_dir_is_passed_to_tfds(mock_tfds, monkeypatch):
    seen = []
    real_builder = tfds.builder

    def spy(name, **kwargs):
        seen.append((name, kwargs.get("data_dir")))
        return real_builder(name, **kwargs)

    monkeypatch.setattr(tfds_tasks.tfds, "builder", spy)
    get_task("cifar10", data_dir="gs://my-bucket/tfds")
    assert seen == [
        ("cifar10:3.*.*", "gs://my-bucket/tfds"),
        ("cifar10_1", "gs://my-bucket/tfds"),
    ]


@pytest.mark.parametrize(
    "name, owner", [("imagenet_v2", "imagenet2012"), ("cifar10_1", "cifar10")]
)
def test_validation_only_sets_are_not_tasks(name, owner):
    with pytest.raises(ValueError, match=f"validation set of '{owner}'"):
        get_task(name)


@pytest.mark.parametrize(
    "splits, expected",
    [
        (
            ["train", "test"],
            {
                "test": "test",
                "validation": "train[0%:5%]",
                "train": "train[5%:]",
            },
        ),
        (
            ["train"],
            {
                "test": "train[0%:5%]",
                "validation": "train[5%:10%]",
                "train": "train[10%:]",
            },
        ),
        (
            ["train", "validation"],
            {
                "test": "train[0%:5%]",
                "validation": "validation",
                "train": "train[5%:]",
            },
        ),
        (
            ["train", "validation", "test", "extra"],
            {"test": "test", "validation": "validation", "train": "train"},
        ),
    ],
)
def test_default_split_rule(splits, expected):
    assert default_splits(splits) == expected


def test_default_split_rule_needs_train():
    with pytest.raises(ValueError, match=r"needs a 'train' split.*\['test'\]"):
        default_splits(["test"])


def test_out_of_range_tfds_labels_fail_when_read(tfds_metadata_dir):
    def as_dataset(self, *args, **kwargs):
        images = np.zeros([2, 32, 32, 3], np.uint8)
        return tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": np.array([3, 12], np.int64)}
        )

    with tfds.testing.mock_data(
        as_dataset_fn=as_dataset,
        policy=tfds.testing.MockPolicy.USE_FILES,
        data_dir=tfds_metadata_dir,
    ):
        ds = get_task("cmaterdb/bangla").dataset("test")
        iterator = iter(ds)
        assert int(next(iterator)[1]) == 3
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"Task cmaterdb/bangla: labels must lie in \[0, 10\).*\[12\]",
        ):
            next(iterator)


def test_tfds_task_feeds_the_pipeline(mock_tfds):
    task = get_task("omniglot")
    hparams = DataHparams(ds_image_size=16)
    ds = pipeline.train_dataset(task, hparams, batch_size=4, seed=0)
    images, labels = next(iter(ds))
    assert images.shape == (4, 16, 16, 3) and labels.shape == (4,)
    data = pipeline.test_dataset(task, image_size=16, batch_size=2)
    assert data.num_examples == 3_120  # From the metadata: small2.
    weights = np.concatenate([w for _, _, w in data.dataset])
    assert weights.tolist() == [1, 1, 1, 0]  # mock_data yields 3 examples.
