"""`from_arrays` refuses a single class and NaN images, saying so."""

import re

import numpy as np
import pytest
import tensorflow as tf

from mu2keras.tasks import from_arrays
from mu2keras.tasks import from_datasets

IMAGES = np.zeros([20, 4, 4], np.uint8)


def single_class(values):
    return re.escape(
        "the labels hold a single class (unique values "
        f"{values}); a task needs at least 2 classes."
    )


@pytest.mark.parametrize("num_classes", [None, 2, 5])
def test_a_single_class_is_refused_given_or_inferred(num_classes):
    # Before, all-zero labels silently made a 2-class task.
    with pytest.raises(ValueError) as raised:
        from_arrays("one", IMAGES, np.zeros(20, int), num_classes=num_classes)
    assert str(raised.value) == (
        "Task 'one': the labels hold a single class (unique values [0]); a "
        "task needs at least 2 classes."
    )


def test_a_single_class_other_than_zero_is_named():
    with pytest.raises(ValueError, match=single_class([3])):
        from_arrays("three", IMAGES, np.full(20, 3))


def test_num_classes_one_is_refused_before_the_labels_are_checked():
    message = re.escape("`num_classes` must be an int >= 2; got 1.")
    for labels in (np.zeros(20, int), np.arange(20) % 2):
        with pytest.raises(ValueError, match=message):
            from_arrays("one", IMAGES, labels, num_classes=1)


def test_two_classes_across_given_splits_are_a_task():
    task = from_arrays(
        "two",
        IMAGES,
        np.zeros(20, int),
        validation=(IMAGES[:2], [0, 1]),
        test=(IMAGES[:2], [1, 1]),
    )
    assert task.num_classes == 2
    only_zeros = (IMAGES[:2], [0, 0])
    with pytest.raises(ValueError, match=single_class([0])):
        from_arrays(
            "one",
            IMAGES,
            np.zeros(20, int),
            validation=only_zeros,
            test=only_zeros,
        )


def test_from_datasets_follows_the_same_rule():
    ds = tf.data.Dataset.from_tensor_slices((IMAGES[..., None], [0] * 20))
    with pytest.raises(ValueError, match="Task 'ds': " + single_class([0])):
        from_datasets("ds", ds)


def nan_images():
    images = np.full([10, 4, 4, 1], 0.5, np.float32)
    images[4, 1, 2] = np.nan
    images[7, 0, 0] = images[7, 3, 3] = np.nan
    return images


@pytest.mark.parametrize("value_range", [(0, 1), None])
def test_nan_images_are_named_as_nan(value_range):
    # Before: "image values (nan, nan) fall outside value_range (0, 1)".
    with pytest.raises(ValueError) as raised:
        from_arrays(
            "nan", nan_images(), np.arange(10) % 2, value_range=value_range
        )
    assert str(raised.value) == (
        "Task 'nan' train: images hold 3 NaN values, in 2 of 10 images (the "
        "first: image 4)."
    )


def test_nan_in_a_given_split_names_the_split():
    images = np.full([10, 4, 4], 0.5, np.float32)
    nan = nan_images()[:, :, :, 0]
    with pytest.raises(ValueError) as raised:
        from_arrays(
            "nan",
            images,
            np.arange(10) % 2,
            validation=(nan, np.arange(10) % 2),
            value_range=(0, 1),
        )
    assert str(raised.value).startswith(
        "Task 'nan' validation: images hold 3 NaN values"
    )


def test_infinite_images_are_out_of_range():
    images = np.full([10, 4, 4], 0.5, np.float32)
    images[2, 0, 0] = np.inf
    message = re.escape(
        "Task 'inf' train: image values (0.5, inf) fall outside value_range "
        "(0, 1)."
    )
    with pytest.raises(ValueError, match=message):
        from_arrays("inf", images, np.arange(10) % 2, value_range=(0, 1))


def float_dataset(bad=None):
    """20 float images in [0, 1], two classes; `bad` put in image 3."""
    x = np.random.default_rng(0).uniform(0, 1, (20, 8, 8, 1))
    x = x.astype(np.float32)
    if bad is not None:
        x[3, 0, 0, 0] = bad
    y = np.arange(20) % 2
    return tf.data.Dataset.from_tensor_slices((x, y))


@pytest.mark.parametrize(
    "bad, counted, shown",
    [(np.nan, "1 NaN values", "max 0.99"), (1.5, "0 NaN values", "max 1.5")],
)
def test_from_datasets_refuses_nan_and_values_outside_the_range(
    bad, counted, shown
):
    # Before, they were clipped (NaN cast) into uint8 without a word.
    with pytest.raises(ValueError) as refused:
        from_datasets("a", float_dataset(bad), value_range=(0, 1))
    message = str(refused.value)
    assert message.startswith(
        f"Task 'a' train: an image holds {counted} or numbers outside "
        "value_range (0, 1) (its min 0"
    )
    assert shown in message and "\n" not in message


def test_from_datasets_takes_floats_inside_the_range():
    task = from_datasets("a", float_dataset(1.0), value_range=(0, 1))
    assert task.num_classes == 2
