"""User tasks from arrays and datasets; bad input gives clear errors."""

import numpy as np
import pytest
import tensorflow as tf

from mu2keras.tasks import from_arrays
from mu2keras.tasks import from_datasets
from mu2keras.tasks.splitting import stratified_split


def _values(task, split):
    """The per-image values (see labelled_images) and labels of a split."""
    pairs = [(int(im[0, 0, 0]), int(y)) for im, y in task.dataset(split)]
    return sorted(pairs)


def test_stratified_split_counts_and_seed():
    labels = np.repeat([0, 1, 2], [100, 50, 10])
    val, test, train = stratified_split(labels, [0.1, 0.2], seed=3)
    assert np.bincount(labels[val]).tolist() == [10, 5, 1]
    assert np.bincount(labels[test]).tolist() == [20, 10, 2]
    assert np.bincount(labels[train]).tolist() == [70, 35, 7]
    everything = np.concatenate([val, test, train])
    assert sorted(everything.tolist()) == list(range(160))
    again = stratified_split(labels, [0.1, 0.2], seed=3)
    other = stratified_split(labels, [0.1, 0.2], seed=4)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(again, [val, test, train], strict=True)
    )
    assert not np.array_equal(other[0], val)


@pytest.mark.parametrize("fractions", [[0.0], [0.5, 0.5], [1.2], [-0.1]])
def test_stratified_split_bad_fractions(fractions):
    with pytest.raises(ValueError, match="lie in \\(0, 1\\) and sum"):
        stratified_split(np.zeros(10, np.int64), fractions, seed=0)


def test_from_arrays_carves_validation_and_test(small_task, make_images):
    task = small_task
    assert task.num_classes == 3
    assert [task.num_examples(s) for s in ("train", "validation", "test")] == [
        48,
        6,
        6,
    ]
    # Each class gives 2 validation and 2 test images; nothing is lost or
    # shared.
    seen = []
    for split in ("train", "validation", "test"):
        pairs = _values(task, split)
        if split != "train":
            assert [y for _, y in pairs].count(0) == 2
        seen += pairs
    images, labels = make_images(20, 3)
    expected = sorted(
        (int(i[0, 0, 0]), int(y)) for i, y in zip(images, labels, strict=True)
    )
    assert sorted(seen) == expected
    assert "seed 0" in task.description


def test_from_arrays_given_splits_and_rgb(make_images):
    images, labels = make_images(4, 2, size=5, channels=3)
    task = from_arrays(
        "private:mine",
        images,
        labels,
        validation=(images[:2], labels[:2]),
        test=(images[:3], [0, 0, 1]),
        class_names=["a", "b"],
    )
    assert task.name == "mine" and task.private
    assert [task.num_examples(s) for s in ("train", "validation", "test")] == [
        8,
        2,
        3,
    ]
    image, label = next(iter(task.dataset("test")))
    assert image.shape == (5, 5, 3) and image.dtype == tf.uint8
    assert label.dtype == tf.int64
    assert task.class_names == ["a", "b"]


def test_from_arrays_float_images_need_value_range():
    images = np.full([10, 4, 4], 0.5, np.float32)
    labels = np.arange(10) % 2
    with pytest.raises(ValueError, match=r"float32 images need `value_range"):
        from_arrays("f", images, labels)
    task = from_arrays(
        "f", images, labels, value_range=(0, 1), validation_fraction=0.2
    )
    image, _ = next(iter(task.dataset("train")))
    assert image.dtype == tf.uint8 and int(image[0, 0, 0]) == 128


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros([10, 64], np.uint8), r"shape \(10, 64\) \(rank 2\)"),
        (np.zeros([10, 2, 4, 4, 1], np.uint8), r"rank 5"),
        (
            np.zeros([10, 4, 4, 4], np.uint8),
            r"1 \(grey\) or 3 \(RGB\).*4 channels",
        ),
        (
            np.full([10, 4, 4], 300, np.int32),
            r"\[0, 255\]; got values in \[300",
        ),
        ([np.zeros([4, 4]), np.zeros([5, 5])], "same shape"),
    ],
)
def test_from_arrays_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        from_arrays("bad", images, np.arange(10) % 2)


def test_from_arrays_bad_labels():
    images = np.zeros([10, 4, 4], np.uint8)
    with pytest.raises(ValueError, match="got 9 labels for 10 images"):
        from_arrays("bad", images, np.arange(9) % 2)
    with pytest.raises(ValueError, match="labels must be integers; got dtype"):
        from_arrays("bad", images, np.zeros(10, np.float32))
    with pytest.raises(ValueError, match=r"not one-hot\); got shape \(10, 2\)"):
        from_arrays("bad", images, np.eye(2)[np.arange(10) % 2].astype(int))
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\); got 1 out of"):
        labels = np.arange(10) % 2
        labels[3] = 7
        from_arrays("bad", images, labels, num_classes=2)
    with pytest.raises(ValueError, match=r"class ids >= 0; got e.g. \[-1\]"):
        from_arrays("bad", images, np.arange(10) % 3 - (np.arange(10) == 0))
    with pytest.raises(ValueError, match="the validation split is empty"):
        from_arrays("bad", images[:2], [0, 1])


def test_from_datasets_carves_by_position_and_class(make_images):
    images, labels = make_images(10, 2)
    ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    task = from_datasets("ds", ds, seed=1)
    assert [task.num_examples(s) for s in ("train", "validation", "test")] == [
        16,
        2,
        2,
    ]
    reference = from_arrays("arr", images, labels, seed=1)
    for split in ("train", "validation", "test"):
        # Same seed, same stratified split as the array path.
        assert _values(task, split) == _values(reference, split)


def test_from_datasets_mixed_sizes_and_grey_rank_2():
    def gen():
        for i in range(12):
            yield np.full([4 + i, 6, 3], i, np.uint8), i % 3

    spec = (
        tf.TensorSpec([None, None, 3], tf.uint8),
        tf.TensorSpec([], tf.int32),
    )
    train = tf.data.Dataset.from_generator(gen, output_signature=spec)
    grey = tf.data.Dataset.from_tensor_slices(
        (np.zeros([3, 5, 5], np.uint8), np.array([0, 1, 2]))
    )
    task = from_datasets("mixed", train, validation=grey, test=grey)
    assert task.num_classes == 3
    shapes = [tuple(im.shape) for im, _ in task.dataset("train")]
    assert shapes[:2] == [(4, 6, 3), (5, 6, 3)]
    image, label = next(iter(task.dataset("validation")))
    assert image.shape == (5, 5, 1) and label.dtype == tf.int64


def test_from_datasets_bad_inputs():
    images = np.zeros([4, 5, 5, 1], np.uint8)
    labels = np.array([0, 1, 0, 1])
    batched = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    with pytest.raises(ValueError, match="looks batched.*unbatch"):
        from_datasets("b", batched)
    rank5 = tf.data.Dataset.from_tensor_slices((images[None], labels[:1]))
    with pytest.raises(ValueError, match=r"\[H, W, C\].*\(rank 5\)"):
        from_datasets(
            "b", rank5.map(lambda x, y: (x[None], y)), validation=rank5
        )
    with pytest.raises(ValueError, match="expected a tf.data.Dataset"):
        from_datasets("b", (images, labels))
    floats = tf.data.Dataset.from_tensor_slices((images * 0.5, labels))
    with pytest.raises(ValueError, match="float64 images need `value_range"):
        from_datasets("b", floats)
    bad_labels = tf.data.Dataset.from_tensor_slices((images, labels + 5))
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\)"):
        from_datasets("b", bad_labels, bad_labels, bad_labels, num_classes=2)
    triples = tf.data.Dataset.from_tensor_slices((images, labels, labels))
    with pytest.raises(ValueError, match="elements must be \\(image, label\\)"):
        from_datasets("b", triples)
