"""VTAB split definitions and label preprocessing, on hand-made examples."""

import numpy as np
import pytest
import tensorflow as tf

from mu2keras.tasks import vtab
from mu2keras.tasks.vtab import VTAB_TASKS
from mu2keras.tasks.vtab import vtab_splits


def _label(task_name, example):
    image = tf.zeros([4, 4, 3], tf.uint8)
    _, label = VTAB_TASKS[task_name].preprocess({"image": image, **example})
    return int(label)


def _clevr(shapes=(0, 1, 2), depths=(12.0, 12.0, 12.0)):
    n = len(shapes)
    coords = np.zeros([n, 3], np.float32)
    coords[:, 2] = depths
    return {
        "objects": {
            "size": tf.zeros([n], tf.int64),
            "shape": tf.constant(shapes, tf.int64),
            "pixel_coords": tf.constant(coords),
        }
    }


def _kitti(types, depths):
    location = np.zeros([len(types), 3], np.float32)
    location[:, 2] = depths
    return {
        "objects": {
            "type": tf.constant(types, tf.int64),
            "location": tf.constant(location.reshape(-1, 3)),
        }
    }


@pytest.mark.parametrize("num_objects, label", [(3, 0), (7, 4), (10, 7)])
def test_clevr_count_all(num_objects, label):
    example = _clevr(shapes=[0] * num_objects, depths=[9.0] * num_objects)
    assert _label("clevr/count_all", example) == label


def test_clevr_count_cylinders_counts_shape_2():
    example = _clevr(shapes=[2, 0, 2, 1, 2], depths=[9.0] * 5)
    assert _label("clevr/count_cylinders", example) == 3


@pytest.mark.parametrize(
    "nearest, label",
    [(7.9, 0), (8.2, 1), (8.7, 2), (9.2, 3), (9.7, 4), (10.5, 5), (99.0, 5)],
)
def test_clevr_closest_object_distance_bins(nearest, label):
    example = _clevr(depths=[nearest, 50.0, 60.0])
    assert _label("clevr/closest_object_distance", example) == label


@pytest.mark.parametrize(
    "nearest, label", [(3.0, 0), (6.0, 1), (10.0, 2), (20.0, 3), (40.0, 4)]
)
def test_kitti_closest_object_distance_bins(nearest, label):
    example = _kitti(types=[0, 5], depths=[nearest, 70.0])
    assert _label("kitti/closest_object_distance", example) == label


@pytest.mark.parametrize(
    "types, label",
    [([], 0), ([3, 4], 0), ([0, 4], 1), ([0, 1, 2], 3), ([0, 1, 2, 0, 1], 3)],
)
def test_kitti_count_vehicles_caps_at_3(types, label):
    example = _kitti(types=types, depths=[10.0] * len(types))
    assert _label("kitti/count_vehicles", example) == label


@pytest.mark.parametrize(
    "types, depths, label",
    [
        ([0, 3], [5.0, 1.0], 0),  # Nearest vehicle at 5 m; the tram ignored.
        ([1], [15.0], 1),
        ([2, 0], [30.0, 25.0], 2),
        ([3, 4], [5.0, 6.0], 3),  # No car, van or truck: "no vehicle".
    ],
)
def test_kitti_closest_vehicle_distance(types, depths, label):
    example = _kitti(types=types, depths=depths)
    assert _label("kitti/closest_vehicle_distance", example) == label


def test_dsprites_scales_pixels_and_reads_attribute():
    image = tf.constant([[[0], [1]], [[1], [0]]], tf.uint8)
    example = {"image": image, "label_x_position": tf.constant(17, tf.int64)}
    task = VTAB_TASKS["dsprites/label_x_position"]
    out, label = task.preprocess(example)
    np.testing.assert_array_equal(out[..., 0], [[0, 255], [255, 0]])
    assert int(label) == 17
    assert task.label_feature == "label_x_position"


def test_smallnorb_elevation_reads_the_right_feature():
    # The notebook passes "label_elevatio" (spec §9); mu2keras fixes it.
    task = VTAB_TASKS["smallnorb/label_elevation"]
    assert task.label_feature == "label_elevation"
    example = {"label_elevation": tf.constant(6, tf.int64)}
    assert _label("smallnorb/label_elevation", example) == 6


def test_pinned_versions():
    # Spec §5.2, with the sun397 typo "4.*." fixed (spec §9).
    expected = {
        "caltech101": "caltech101:3.*.*",
        "dtd": "dtd:3.*.*",
        "oxford_flowers102": "oxford_flowers102:2.*.*",
        "oxford_iiit_pet": "oxford_iiit_pet:4.*.*",
        "sun397": "sun397/tfds:4.*.*",
        "svhn_cropped": "svhn_cropped:3.*.*",
        "patch_camelyon": "patch_camelyon:2.*.*",
        "eurosat": "eurosat/rgb:2.*.*",
        "resisc45": "resisc45:3.*.*",
        "diabetic_retinopathy_detection/btgraham-300": (
            "diabetic_retinopathy_detection/btgraham-300:3.*.*"
        ),
        "clevr/count_all": "clevr:3.*.*",
        "dmlab": "dmlab:2.0.1",
        "dsprites/label_orientation": "dsprites:2.*.*",
        "kitti/count_vehicles": "kitti:3.2.0",
        "smallnorb/label_azimuth": "smallnorb:2.*.*",
        "cifar10": "cifar10:3.*.*",
        "cifar100": "cifar100:3.*.*",
    }
    assert {k: VTAB_TASKS[k].tfds_name for k in expected} == expected


@pytest.mark.parametrize(
    "name, counts, full, one_k",
    [
        (
            "svhn_cropped",  # 90% of train trains, the rest validates.
            {"train": 73_257, "test": 26_032},
            ("train[:65931]", "train[65931:]", "test"),
            ("train[:800]", "train[65931:66131]", "test"),
        ),
        (
            "oxford_iiit_pet",  # 80% of train trains.
            {"train": 3_680, "test": 3_669},
            ("train[:2944]", "train[2944:]", "test"),
            ("train[:800]", "train[2944:3144]", "test"),
        ),
        (
            "resisc45",  # Only a train split: 60/20/20.
            {"train": 31_500},
            ("train[:18900]", "train[18900:25200]", "train[25200:]"),
            ("train[:800]", "train[18900:19100]", "train[25200:]"),
        ),
        (
            "dmlab",  # Official splits.
            {"train": 65_550, "validation": 22_628, "test": 22_735},
            ("train", "validation", "test"),
            ("train[:800]", "validation[:200]", "test"),
        ),
        (
            "smallnorb/label_category",  # Halves of TFDS test.
            {"train": 24_300, "test": 24_300},
            ("train", "test[:50%]", "test[50%:]"),
            ("train[:800]", "test[:200]", "test[50%:]"),
        ),
    ],
)
def test_vtab_split_arithmetic(name, counts, full, one_k):
    task = VTAB_TASKS[name]
    keys = ("train", "validation", "test")
    assert vtab_splits(task, counts, one_k=False) == dict(
        zip(keys, full, strict=True)
    )
    assert vtab_splits(task, counts, one_k=True) == dict(
        zip(keys, one_k, strict=True)
    )


def test_fixed_class_counts():
    fixed = {k: v.num_classes for k, v in VTAB_TASKS.items() if v.num_classes}
    assert fixed == {
        "clevr/count_all": 8,
        "clevr/count_cylinders": 11,
        "clevr/closest_object_distance": 6,
        "kitti/closest_object_distance": 5,
        "kitti/count_vehicles": 4,
        "kitti/closest_vehicle_distance": 4,
    }
    assert vtab.ONE_K_SUFFIX == "/1k"
