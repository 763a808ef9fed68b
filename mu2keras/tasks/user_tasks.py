"""User tasks from numpy arrays, and in-memory tasks in general.

A user gives train arrays and, optionally, validation and test arrays; a
split that is not given is carved out of the train data per class with a
fixed seed (`splitting.stratified_split`).
"""

import tensorflow as tf

from mu2keras.tasks import checks
from mu2keras.tasks import splitting
from mu2keras.tasks.task import Task
from mu2keras.tasks.task import check_num_classes
from mu2keras.tasks.task import split_private


class ArrayTask(Task):
    """A task whose splits are in-memory uint8 arrays.

    Args:
        name: str. Task name.
        num_classes: int. Number of classes.
        arrays: dict, or a callable returning one, mapping each split to an
            `(images, labels)` pair: uint8 `[N, H, W, C]` and int64 `[N]`.
            A callable is called once, on first use, so a task can be named
            (e.g. listed in a benchmark) before its files are read.
        **kwargs: Passed to `Task`.
    """

    def __init__(self, name, num_classes, arrays, **kwargs):
        super().__init__(name, num_classes, **kwargs)
        self._source = arrays
        self._arrays = None

    def arrays(self, split):
        """Returns `(images, labels)` numpy arrays of `split`."""
        if self._arrays is None:
            source = self._source() if callable(self._source) else self._source
            self._arrays = self._check_arrays(source)
        return self._arrays[split]

    def _check_arrays(self, source):
        checked = {}
        for split in ("train", "validation", "test"):
            if split not in source:
                raise ValueError(f"Task {self.name!r} has no {split!r} split.")
            where = f"Task {self.name!r} {split}"
            images, labels = source[split]
            images = checks.to_uint8_images(images, where)
            labels = checks.to_int64_labels(labels, len(images), where)
            checks.check_label_range(labels, self.num_classes, where)
            checked[split] = (images, labels)
        return checked

    def _num_examples(self, split):
        return len(self.arrays(split)[1])

    def _dataset(self, split, shuffle_files, seed):
        # In-memory data has no files to shuffle; the pipeline shuffles
        # examples itself.
        del shuffle_files, seed
        return tf.data.Dataset.from_tensor_slices(self.arrays(split))


def from_arrays(
    name,
    images,
    labels,
    num_classes=None,
    validation=None,
    test=None,
    seed=0,
    validation_fraction=splitting.DEFAULT_VALIDATION_FRACTION,
    test_fraction=splitting.DEFAULT_TEST_FRACTION,
    class_names=None,
    value_range=None,
):
    """Creates a task from numpy arrays.

    Args:
        name: str. Task name; a `private:` prefix makes the task private.
        images: array. Train images, `[N, H, W]` or `[N, H, W, C]` with C in
            {1, 3}; uint8, integers in [0, 255], or floats with
            `value_range`.
        labels: array. Train labels, integer class ids `[N]`.
        num_classes: int or None. Defaults to the largest label + 1. Given
            or inferred, a task has at least 2 classes, and its labels hold
            at least 2 distinct ones.
        validation: `(images, labels)` or None. None carves
            `validation_fraction` of each class out of the train data.
        test: `(images, labels)` or None. None carves `test_fraction` of each
            class out of the train data.
        seed: int. Seed of the stratified split.
        validation_fraction: float. Used when `validation` is None.
        test_fraction: float. Used when `test` is None.
        class_names: list of str or None.
        value_range: `(low, high)` or None. Needed for float images.

    Returns:
        An `ArrayTask`.
    """
    name, private = split_private(name)
    if num_classes is not None:
        check_num_classes(num_classes)
    convert = _array_converter(name, value_range, num_classes)
    train = convert("train", images, labels)
    splits = {}
    for split, given in (("validation", validation), ("test", test)):
        if given is not None:
            splits[split] = convert(split, *_pair(given, split))
    names, fractions = splitting.carve_plan(
        validation, test, validation_fraction, test_fraction
    )
    if names:
        *carved, rest = splitting.stratified_split(train[1], fractions, seed)
        for split, indices in zip(names, carved, strict=True):
            splits[split] = (train[0][indices], train[1][indices])
        train = (train[0][rest], train[1][rest])
    splits["train"] = train
    splitting.check_nonempty(name, {s: v[1] for s, v in splits.items()})
    num_classes = splitting.infer_num_classes(
        [splits[s][1] for s in ("train", "validation", "test")],
        num_classes,
        name,
    )
    return ArrayTask(
        name,
        num_classes,
        splits,
        class_names=class_names,
        private=private,
        description="user arrays"
        + splitting.carve_description(names, fractions, seed),
    )


def _pair(value, split):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(
            f"`{split}` must be an (images, labels) pair or None; got "
            f"{type(value).__name__}."
        )
    return value


def _array_converter(name, value_range, num_classes):
    def convert(split, images, labels):
        where = f"Task {name!r} {split}"
        images = checks.to_uint8_images(images, where, value_range)
        labels = checks.to_int64_labels(labels, len(images), where)
        if num_classes is not None:
            # Before carving, so a bad label is named as such.
            checks.check_label_range(labels, num_classes, where)
        return images, labels

    return convert
