"""Seeded, stratified splitting of a train set into train/validation/test.

Where a user or an embedded set gives no validation or test split, one is
carved out of the train data per class with a fixed seed, so small or
unbalanced tasks still validate and test on every class.
"""

import numpy as np

from mu2keras.tasks import checks
from mu2keras.tasks.task import check_num_classes

DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.1


def stratified_split(labels, fractions, seed):
    """Splits example indices class by class.

    Within each class the indices are shuffled with `seed`, then the first
    `round(n_c * fractions[0])` go to the first part, the next
    `round(n_c * fractions[1])` to the second, and so on; the rest form the
    last part.

    Args:
        labels: int numpy array `[N]`.
        fractions: list of float. Each in (0, 1), summing to less than 1.
        seed: int. Seed of the shuffle.

    Returns:
        `len(fractions) + 1` sorted int64 index arrays: one per fraction,
        then the remainder.
    """
    fractions = [float(f) for f in fractions]
    if any(not 0.0 < f < 1.0 for f in fractions) or sum(fractions) >= 1.0:
        raise ValueError(
            "Split fractions must each lie in (0, 1) and sum to less than 1; "
            f"got {fractions}."
        )
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(labels):
        indices = rng.permutation(np.flatnonzero(labels == label))
        start = 0
        for part, fraction in zip(parts[:-1], fractions, strict=True):
            # Round half up, so that e.g. 5% of 300 is 15 on every platform.
            count = int(np.floor(len(indices) * fraction + 0.5))
            part.append(indices[start : start + count])
            start += count
        parts[-1].append(indices[start:])
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def carve_plan(validation, test, validation_fraction, test_fraction):
    """Returns `(names, fractions)` of the splits to carve from train."""
    names, fractions = [], []
    if validation is None:
        names.append("validation")
        fractions.append(validation_fraction)
    if test is None:
        names.append("test")
        fractions.append(test_fraction)
    return names, fractions


def carve_description(names, fractions, seed):
    """Describes the carved splits, for a task's description."""
    if not names:
        return ""
    carved = ", ".join(
        f"{n} = {f:.0%}" for n, f in zip(names, fractions, strict=True)
    )
    return f"; carved from train per class with seed {seed}: {carved}"


def check_nonempty(name, labels):
    """Raises a ValueError if any split (dict split -> labels) is empty."""
    for split, split_labels in labels.items():
        if not split_labels.size:
            raise ValueError(
                f"Task {name!r}: the {split} split is empty; give more "
                "examples or a larger fraction."
            )


def infer_num_classes(label_arrays, num_classes, name):
    """Defaults `num_classes` to the largest label + 1; checks every label.

    Given or inferred, the rule is the same: at least 2 classes, and the
    labels of the splits together hold at least 2 distinct classes.

    Args:
        label_arrays: list of int arrays: train, validation, test labels.
        num_classes: int or None.
        name: str. Task name, for error messages.

    Returns:
        The number of classes.
    """
    if num_classes is not None:
        check_num_classes(num_classes)
    present = np.unique(np.concatenate(label_arrays))
    if len(present) < 2:
        raise ValueError(
            f"Task {name!r}: the labels hold a single class (unique values "
            f"{present.tolist()}); a task needs at least 2 classes."
        )
    if num_classes is None:
        num_classes = int(present[-1]) + 1
    splits = ("train", "validation", "test")
    for split, labels in zip(splits, label_arrays, strict=True):
        checks.check_label_range(labels, num_classes, f"{name} {split}")
    return num_classes
