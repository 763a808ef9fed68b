"""User tasks from `tf.data` datasets.

Labels are read once to count the splits, check them, and carve a missing
validation or test split per class with a fixed seed
(`splitting.stratified_split`); examples are then selected by position.
"""

import re

import numpy as np
import tensorflow as tf

from mu2keras.tasks import checks
from mu2keras.tasks import splitting
from mu2keras.tasks.task import Task
from mu2keras.tasks.task import split_private


class DatasetTask(Task):
    """A task whose splits are `tf.data` datasets of `(image, label)`.

    Args:
        name: str. Task name.
        num_classes: int. Number of classes.
        datasets: dict mapping each split to an unbatched dataset of
            `(uint8 image, int64 label)`.
        counts: dict mapping each split to its number of examples.
        **kwargs: Passed to `Task`.
    """

    def __init__(self, name, num_classes, datasets, counts, **kwargs):
        super().__init__(name, num_classes, **kwargs)
        self._datasets = datasets
        self._counts = counts

    def _num_examples(self, split):
        return self._counts[split]

    def _dataset(self, split, shuffle_files, seed):
        del shuffle_files, seed  # The user's dataset fixes its own order.
        return self._datasets[split]


def from_datasets(
    name,
    train,
    validation=None,
    test=None,
    num_classes=None,
    seed=0,
    validation_fraction=splitting.DEFAULT_VALIDATION_FRACTION,
    test_fraction=splitting.DEFAULT_TEST_FRACTION,
    class_names=None,
    value_range=None,
):
    """Creates a task from unbatched `tf.data` datasets.

    Each dataset yields `(image, label)` pairs or dicts with "image" and
    "label"; images `[H, W]` or `[H, W, C]` (C in {1, 3}, H and W may vary)
    and integer scalar labels. Every dataset must yield the same examples in
    the same order each time it is iterated (carved splits select examples
    by position). Labels are read once here, to count and check them.

    Args:
        name: str. Task name; a `private:` prefix makes the task private.
        train: `tf.data.Dataset`. Train examples.
        validation: `tf.data.Dataset` or None. None carves
            `validation_fraction` of each class out of `train`.
        test: `tf.data.Dataset` or None. None carves `test_fraction` of each
            class out of `train`.
        num_classes: int or None. Defaults to the largest label + 1.
        seed: int. Seed of the stratified split.
        validation_fraction: float. Used when `validation` is None.
        test_fraction: float. Used when `test` is None.
        class_names: list of str or None.
        value_range: `(low, high)` or None. Needed for float images.

    Returns:
        A `DatasetTask`.
    """
    name, private = split_private(name)
    sources = {"train": train, "validation": validation, "test": test}
    datasets, labels = {}, {}
    for split, ds in sources.items():
        if ds is not None:
            where = f"Task {name!r} {split}"
            datasets[split] = _as_pairs(ds, where, value_range)
            labels[split] = _read_labels(datasets[split], where, value_range)
            if num_classes is not None:
                checks.check_label_range(labels[split], num_classes, where)
    names, fractions = splitting.carve_plan(
        validation, test, validation_fraction, test_fraction
    )
    if names:
        *carved, rest = splitting.stratified_split(
            labels["train"], fractions, seed
        )
        assignment = np.zeros(len(labels["train"]), np.int64)
        for part, indices in enumerate(carved, start=1):
            assignment[indices] = part
        full = datasets["train"]
        for part, split in enumerate(names, start=1):
            datasets[split] = _select(full, assignment, part)
            labels[split] = labels["train"][carved[part - 1]]
        datasets["train"] = _select(full, assignment, 0)
        labels["train"] = labels["train"][rest]
    splitting.check_nonempty(name, labels)
    num_classes = splitting.infer_num_classes(
        [labels[s] for s in ("train", "validation", "test")], num_classes, name
    )
    return DatasetTask(
        name,
        num_classes,
        datasets,
        counts={s: len(v) for s, v in labels.items()},
        class_names=class_names,
        private=private,
        description="user datasets"
        + splitting.carve_description(names, fractions, seed),
    )


def _as_pairs(ds, where, value_range):
    """Checks a dataset's element spec and maps it to `(uint8, int64)`."""
    if not isinstance(ds, tf.data.Dataset):
        raise ValueError(
            f"{where}: expected a tf.data.Dataset; got {type(ds).__name__}."
        )
    spec = ds.element_spec
    if isinstance(spec, dict) and {"image", "label"} <= set(spec):
        image_spec, label_spec = spec["image"], spec["label"]
        ds = ds.map(lambda ex: (ex["image"], ex["label"]))
    elif isinstance(spec, tuple) and len(spec) == 2:
        image_spec, label_spec = spec
    else:
        raise ValueError(
            f"{where}: elements must be (image, label) or a dict with 'image' "
            f"and 'label'; got element spec {spec}."
        )
    shape = image_spec.shape
    if shape.rank == 4:
        raise ValueError(
            f"{where}: images have shape {shape}; the dataset looks batched. "
            "Pass an unbatched dataset (call `.unbatch()`)."
        )
    if shape.rank == 2:
        ds = ds.map(lambda image, label: (image[..., tf.newaxis], label))
        shape = shape.concatenate([1])
    if shape.rank is None:
        raise ValueError(f"{where}: images must have a known rank.")
    checks.check_image_shape(shape.as_list(), where)
    if label_spec.shape.rank != 0 or not label_spec.dtype.is_integer:
        raise ValueError(
            f"{where}: labels must be integer scalars; got {label_spec}."
        )
    convert = _image_converter(image_spec.dtype, where, value_range)
    return ds.map(
        lambda image, label: (convert(image), tf.cast(label, tf.int64)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


# The assertion that float images lie in their value_range: its first item.
_IMAGE_CHECK = "mu2keras: images outside value_range"


def _image_converter(dtype, where, value_range):
    if dtype == tf.uint8:
        return lambda image: image
    if not dtype.is_floating:
        raise ValueError(
            f"{where}: images must be uint8, or floats with `value_range`; "
            f"got {dtype.name}."
        )
    if value_range is None:
        raise ValueError(
            f"{where}: {dtype.name} images need `value_range=(low, high)`, "
            "e.g. (0, 1) or (0, 255), to be mapped to uint8."
        )
    low, high = checks.parse_value_range(value_range)

    def convert(image):
        image = tf.cast(image, tf.float32)
        # NaN fails both comparisons; nothing is clipped silently.
        inside = tf.reduce_all((image >= low) & (image <= high))
        nan = tf.math.is_nan(image)
        numbers = tf.where(nan, tf.zeros_like(image), image)
        checked = tf.debugging.Assert(
            inside,
            [
                _IMAGE_CHECK,
                tf.reduce_min(numbers),
                tf.reduce_max(numbers),
                tf.math.count_nonzero(nan),
            ],
        )
        with tf.control_dependencies([checked]):
            scaled = (image - low) * (255.0 / (high - low))
        return tf.cast(tf.clip_by_value(tf.round(scaled), 0, 255), tf.uint8)

    return convert


def _read_labels(ds, where, value_range):
    """The labels, in order; reading them also checks every image."""
    labels = ds.map(lambda image, label: label).as_numpy_iterator()
    try:
        return np.fromiter(labels, dtype=np.int64)
    except tf.errors.InvalidArgumentError as error:
        found = re.search(
            rf"{_IMAGE_CHECK}\] \[(\S+)\] \[(\S+)\] \[(\d+)\]", error.message
        )
        if found is None:
            raise
        low, high, nan = found.groups()
        raise ValueError(
            f"{where}: an image holds {nan} NaN values or numbers outside "
            f"value_range {value_range} (its min {low}, max {high}, NaN "
            "aside); map the images into value_range, or give the range "
            "they are in."
        ) from None


def _select(ds, assignment, part):
    """Keeps the examples whose position is assigned to `part`."""
    table = tf.constant(assignment)
    return (
        ds.enumerate()
        .filter(lambda i, example: tf.equal(tf.gather(table, i), part))
        .map(lambda i, example: example)
    )
