"""The task model: a named classification problem with three splits.

µ2Net selects models on the validation split and only reports the test split
(spec §2.8, §5.2); a `Task` keeps the two apart and hands out each split as
an unbatched `tf.data.Dataset` of `(image uint8 [H, W, C], label int64)`.
"""

import abc

import tensorflow as tf

SPLITS = ("train", "validation", "test")

# Spec §2.10: a task name prefixed like this marks the task private.
PRIVATE_PREFIX = "private:"


def split_private(name):
    """Splits the `private:` prefix (spec §2.10) off a task name.

    Args:
        name: str. A task name, possibly prefixed with `private:`.

    Returns:
        A `(name, private)` tuple: the name without the prefix, and whether
        the prefix was there.
    """
    check_name(name)
    if name.startswith(PRIVATE_PREFIX):
        name = name[len(PRIVATE_PREFIX) :]
        check_name(name)
        return name, True
    return name, False


def check_name(name):
    """Raises a ValueError unless `name` is a non-empty string."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"A task name must be a non-empty string; got {name!r}."
        )


def check_split(split):
    """Raises a ValueError unless `split` is one of `SPLITS`."""
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}; got {split!r}.")


def check_num_classes(num_classes):
    """Raises a ValueError unless `num_classes` is an int >= 2."""
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or num_classes < 2
    ):
        raise ValueError(
            f"`num_classes` must be an int >= 2; got {num_classes!r}."
        )


def check_label_in_graph(label, num_classes, task_name):
    """Casts `label` to int64 and asserts `0 <= label < num_classes`.

    Used where labels come from a `tf.data` pipeline and cannot be checked up
    front (TFDS and user datasets). A failure raises `InvalidArgumentError`
    when the bad example is read.

    Args:
        label: int tensor. A scalar label.
        num_classes: int. The task's number of classes.
        task_name: str. Named in the error message.

    Returns:
        The label as an int64 scalar.
    """
    label = tf.cast(label, tf.int64)
    message = f"Task {task_name}: labels must lie in [0, {num_classes})"
    with tf.control_dependencies(
        [
            tf.debugging.assert_non_negative(label, message=message),
            tf.debugging.assert_less(
                label, tf.constant(num_classes, tf.int64), message=message
            ),
        ]
    ):
        return tf.identity(label)


class Task(abc.ABC):
    """A classification task with train, validation and test splits.

    Subclasses implement `_num_examples(split)` and
    `_dataset(split, shuffle_files, seed)`; the public methods check the
    split name first.

    Args:
        name: str. The task's name, without any `private:` prefix.
        num_classes: int. Number of classes, >= 2.
        class_names: list of str, or None. One name per class.
        private: bool. Whether the task is private (spec §2.10): its models
            are never offered as parents to other tasks.
        description: str. Where the data comes from and how it was split.
    """

    def __init__(
        self,
        name,
        num_classes,
        class_names=None,
        private=False,
        description="",
    ):
        check_name(name)
        if name.startswith(PRIVATE_PREFIX):
            raise ValueError(
                f"Pass `private=True` instead of the {PRIVATE_PREFIX!r} "
                f"prefix; got name {name!r}."
            )
        check_num_classes(num_classes)
        if class_names is not None:
            class_names = [str(c) for c in class_names]
            if len(class_names) != num_classes:
                raise ValueError(
                    f"Task {name!r}: `class_names` has {len(class_names)} "
                    f"entries but `num_classes` is {num_classes}."
                )
        self.name = name
        self.num_classes = num_classes
        self.class_names = class_names
        self.private = bool(private)
        self.description = description

    @property
    def num_train_examples(self):
        """Number of training examples: the input to spec §2.7's N_v."""
        return self.num_examples("train")

    def num_examples(self, split):
        """Returns the number of examples in `split`.

        Args:
            split: str. One of "train", "validation", "test".
        """
        check_split(split)
        return int(self._num_examples(split))

    def dataset(self, split, shuffle_files=False, seed=None):
        """Returns `split` as an unbatched dataset of `(image, label)`.

        Images are uint8 `[H, W, C]` with C in {1, 3} (H and W may vary
        between examples); labels are int64 scalars in
        `[0, num_classes)`. The order is fixed unless `shuffle_files`.

        Args:
            split: str. One of "train", "validation", "test".
            shuffle_files: bool. Shuffle the order of the source files
                (TFDS tasks only; in-memory tasks have no files).
            seed: int or None. Seed for the file shuffle.
        """
        check_split(split)
        return self._dataset(split, shuffle_files=shuffle_files, seed=seed)

    @abc.abstractmethod
    def _num_examples(self, split):
        """Returns the size of a (checked) split."""

    @abc.abstractmethod
    def _dataset(self, split, shuffle_files, seed):
        """Returns a (checked) split as an unbatched dataset."""

    def __repr__(self):
        private = ", private" if self.private else ""
        return (
            f"<{type(self).__name__} {self.name!r}: "
            f"{self.num_classes} classes{private}>"
        )
