"""Shared fixtures: TFDS metadata for mocked datasets, small in-memory tasks.

`tfds.testing.mock_data` generates random examples from a dataset's feature
spec but, without metadata files, knows no split sizes. The fixture below
writes `dataset_info.json` files with the real split sizes, so the split
arithmetic of each rule is exercised on the sizes it meets in practice.
"""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.core import splits as splits_lib

from mu2keras.tasks import from_arrays

# TFDS name (with version where a task pins it) -> split sizes.
TFDS_SPLIT_SIZES = {
    "imagenet2012": {"train": 1_281_167, "validation": 50_000},
    "imagenet_v2": {"test": 10_000},
    "cifar10:3.*.*": {"train": 50_000, "test": 10_000},
    "cifar10_1": {"test": 2_000},
    "cifar100:3.*.*": {"train": 50_000, "test": 10_000},
    "visual_domain_decathlon/dtd": {
        "train": 1_880,
        "validation": 1_880,
        "test": 1_880,
    },
    "cmaterdb/bangla": {"train": 5_000, "test": 1_000},
    "omniglot": {
        "train": 19_280,
        "test": 13_180,
        "small1": 2_720,
        "small2": 3_120,
    },
    "mnist": {"train": 60_000, "test": 10_000},
    "beans": {"train": 1_034, "validation": 133, "test": 128},
    "caltech101:3.*.*": {"train": 3_060, "test": 6_084},
    "clevr:3.*.*": {"train": 70_000, "validation": 15_000, "test": 15_000},
    "smallnorb:2.*.*": {"train": 24_300, "test": 24_300},
    "dsprites:2.*.*": {"train": 737_280},
    "eurosat/rgb:2.*.*": {"train": 27_000},
    "kitti:3.2.0": {"train": 6_347, "validation": 423, "test": 711},
}


def _write_metadata(root, name, sizes):
    builder = tfds.builder(name, data_dir=root)
    infos = [
        splits_lib.SplitInfo(name=split, shard_lengths=[count], num_bytes=0)
        for split, count in sizes.items()
    ]
    builder.info.set_splits(splits_lib.SplitDict(infos))
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)


@pytest.fixture(scope="session")
def tfds_metadata_dir(tmp_path_factory):
    """A TFDS data_dir holding only metadata (split sizes, features)."""
    root = str(tmp_path_factory.mktemp("tfds_metadata"))
    for name, sizes in TFDS_SPLIT_SIZES.items():
        _write_metadata(root, name, sizes)
    return root


@pytest.fixture
def mock_tfds(tfds_metadata_dir):
    """Mocks TFDS: real split sizes, 3 random examples per split."""
    with tfds.testing.mock_data(
        num_examples=3,
        policy=tfds.testing.MockPolicy.USE_FILES,
        data_dir=tfds_metadata_dir,
    ):
        yield


def labelled_images(num_per_class, num_classes, size=8, channels=1):
    """Classes in blocks; every pixel of image i is (7 i + 3) mod 256."""
    n = num_per_class * num_classes
    labels = np.repeat(np.arange(num_classes), num_per_class)
    values = (np.arange(n) * 7 + 3) % 256
    images = np.broadcast_to(
        values[:, None, None, None], (n, size, size, channels)
    ).astype(np.uint8)
    return images.copy(), labels


@pytest.fixture
def make_images():
    """`labelled_images`: distinct, recognisable images for a test."""
    return labelled_images


@pytest.fixture
def small_task():
    """A 3-class task, 8x8 grey, 20 images per class, split 10%/10%."""
    images, labels = labelled_images(20, 3)
    return from_arrays("small", images, labels, seed=0)
