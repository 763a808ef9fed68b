"""The embedded offline sets and the foolbox samples.

Every package is installed by scripts/setup.sh, so nothing here skips.
"""

import gzip
import importlib.util
import os

import numpy as np
import pytest
from PIL import Image

from mu2keras.tasks import EMBEDDED_TASKS
from mu2keras.tasks import DataUnavailableError
from mu2keras.tasks import foolbox_samples
from mu2keras.tasks import get_task
from mu2keras.tasks import is_available
from mu2keras.tasks.package_data import read_idx

# name -> (image shape, classes, train/validation/test sizes).
EXPECTED = {
    "embedded/fashion_mnist": ((28, 28, 1), 10, (57_000, 3_000, 10_000)),
    "embedded/mnist": ((28, 28, 1), 10, (4_000, 500, 500)),
    "embedded/digits": ((8, 8, 1), 10, (1_439, 179, 179)),
    "embedded/textures": ((32, 32, 1), 3, (576, 96, 96)),
    "embedded/faces": ((25, 25, 1), 2, (140, 30, 30)),
}
SPLITS = ("train", "validation", "test")


def _package_path(package, *parts):
    root = importlib.util.find_spec(package).submodule_search_locations[0]
    return os.path.join(root, *parts)


@pytest.fixture(scope="module")
def tasks():
    return {name: get_task(name) for name in EMBEDDED_TASKS}


def test_default_order():
    assert EMBEDDED_TASKS == (
        "embedded/fashion_mnist",
        "embedded/mnist",
        "embedded/digits",
        "embedded/textures",
        "embedded/faces",
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shapes_dtypes_classes_sizes(tasks, name):
    shape, num_classes, sizes = EXPECTED[name]
    task = tasks[name]
    assert task.num_classes == num_classes
    assert len(task.class_names) == num_classes
    assert tuple(task.num_examples(s) for s in SPLITS) == sizes
    for split in SPLITS:
        images, labels = task.arrays(split)
        assert images.dtype == np.uint8 and images.shape[1:] == shape
        assert labels.dtype == np.int64
        # Every class appears in every split.
        assert set(labels.tolist()) == set(range(num_classes))
    image, label = next(iter(task.dataset("train")))
    assert image.shape == shape and image.dtype == "uint8"
    assert label.dtype == "int64"


@pytest.mark.parametrize("name", ["embedded/mnist", "embedded/faces"])
def test_splits_are_disjoint_and_stratified(tasks, name):
    task = tasks[name]
    seen = {}
    for split in SPLITS:
        images, labels = task.arrays(split)
        seen[split] = {image.tobytes() for image in images}
        counts = np.bincount(labels)
        assert counts.min() == counts.max()  # Balanced sets stay balanced.
    assert not seen["train"] & seen["validation"]
    assert not seen["train"] & seen["test"]
    assert not seen["validation"] & seen["test"]


def test_splits_are_reproducible(tasks):
    again = get_task("embedded/digits")
    for split in SPLITS:
        for a, b in zip(
            tasks["embedded/digits"].arrays(split),
            again.arrays(split),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)


def test_fashion_mnist_idx_reader_matches_foolbox_copies(tasks):
    # foolbox ships the first 20 Fashion-MNIST test images as PNGs.
    images, labels = tasks["embedded/fashion_mnist"].arrays("test")
    samples, sample_labels = foolbox_samples("fashionMNIST")
    np.testing.assert_array_equal(labels[:20], sample_labels)
    np.testing.assert_array_equal(images[:20], np.stack(samples))
    assert tasks["embedded/fashion_mnist"].class_names[9] == "Ankle boot"


def test_digits_are_stretched_to_255(tasks):
    images, _ = tasks["embedded/digits"].arrays("train")
    allowed = {int(np.round(k * 255 / 16)) for k in range(17)}
    assert set(np.unique(images).tolist()) <= allowed
    assert images.max() == 255


def test_textures_split_by_region(tasks):
    # The test split holds the bottom two rows of 32x32 patches of each
    # photo; its first brick patch is the photo's pixels [448:480, 0:32].
    brick = np.array(Image.open(_package_path("skimage", "data", "brick.png")))
    images, labels = tasks["embedded/textures"].arrays("test")
    assert np.bincount(labels).tolist() == [32, 32, 32]
    np.testing.assert_array_equal(images[0, ..., 0], brick[448:480, 0:32])
    assert tasks["embedded/textures"].class_names == [
        "brick",
        "grass",
        "gravel",
    ]
    assert "Derived task" in tasks["embedded/textures"].description


def test_faces_are_quantised_lfw_subset(tasks):
    raw = np.load(_package_path("skimage", "data", "lfw_subset.npy"))
    expected = np.round(raw * 255).astype(np.uint8)
    images, labels = tasks["embedded/faces"].arrays("test")
    faces = {image.tobytes() for image in expected[:100, :, :, None]}
    for image, label in zip(images, labels, strict=True):
        assert (image.tobytes() in faces) == (label == 0)


def test_missing_files_say_what_to_install(tmp_path):
    with pytest.raises(DataUnavailableError, match="apt-get install dataset"):
        get_task("embedded/fashion_mnist", data_dir=str(tmp_path))
    with pytest.raises(
        DataUnavailableError, match="pip install scikit-image"
    ) as error:
        get_task("embedded/textures", data_dir=str(tmp_path))
    assert str(tmp_path) in str(error.value)
    assert not is_available("embedded/faces", data_dir=str(tmp_path))
    assert is_available("embedded/faces")


def test_missing_package_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "mlxtend" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(
        DataUnavailableError,
        match=r"'mlxtend' is not installed.*`pip install --no-deps mlxtend==",
    ):
        get_task("embedded/mnist")


def test_data_dir_copy_is_used(tmp_path):
    # A copy of the files elsewhere (e.g. gs://) replaces the package's.
    source = _package_path("sklearn", "datasets", "data", "digits.csv.gz")
    with open(source, "rb") as f, open(tmp_path / "digits.csv.gz", "wb") as g:
        g.write(f.read())
    task = get_task("embedded/digits", data_dir=str(tmp_path))
    assert task.num_examples("train") == 1_439


def _write_gz(path, data):
    with gzip.open(path, "wb") as f:
        f.write(data)


def test_idx_reader(tmp_path):
    path = str(tmp_path / "ok-ubyte.gz")
    _write_gz(
        path, bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    )
    np.testing.assert_array_equal(read_idx(path), [[0, 1, 2], [3, 4, 5]])
    _write_gz(path, bytes([0, 0, 13, 1, 0, 0, 0, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        read_idx(path)
    _write_gz(path, bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(5,\).*holds 2"):
        read_idx(path)


def test_foolbox_samples():
    images, labels = foolbox_samples("cifar10")
    assert len(images) == 20 and labels.dtype == np.int64
    assert labels.tolist()[:6] == [3, 8, 8, 0, 6, 6]
    assert all(i.shape == (32, 32, 3) and i.dtype == np.uint8 for i in images)
    images, labels = foolbox_samples("imagenet")
    assert labels.tolist()[:3] == [243, 559, 438]
    assert all(i.ndim == 3 and i.shape[-1] == 3 for i in images)
    assert len({i.shape for i in images}) > 1  # Mixed sizes.
    images, _ = foolbox_samples("mnist")
    assert images[0].shape == (28, 28, 1)
    with pytest.raises(ValueError, match="one of .*'cifar10'.*got 'svhn'"):
        foolbox_samples("svhn")
