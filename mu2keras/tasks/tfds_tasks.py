"""TFDS tasks with the paper's split rules and pinned versions (spec §5.2).

Each rule maps a task to a TFDS source (dataset and split string) for each
of train, validation and test:

* imagenet2012: validation is ImageNetV2's "test" split, test is ImageNet's
  "validation" split;
* cifar100: train[:98%] / train[98%:] / test;
* cifar10: all of train / CIFAR-10.1's "test" split / test;
* visual_domain_decathlon/*: train / validation[:50%] / validation[50%:]
  (the official test split has no labels);
* cmaterdb/*: train[20%:] / train[:20%] / test (a larger validation share,
  the sets being small);
* omniglot: train / small1 / small2;
* VTAB tasks and their `/1k` variants: see `vtab.py`;
* anything else (the default rule): TFDS test if it exists, else the next
  5% of train; TFDS validation if it exists, else the next 5% of train;
  train is the rest.
"""

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

from mu2keras.tasks import vtab
from mu2keras.tasks.task import Task
from mu2keras.tasks.task import check_label_in_graph

# Versions the reference pins outside the VTAB definitions (spec §5.2).
PINNED_VERSIONS = {"cifar10": "cifar10:3.*.*", "cifar100": "cifar100:3.*.*"}

# These only ever validate another task (spec §5.2).
VALIDATION_ONLY = {"imagenet_v2": "imagenet2012", "cifar10_1": "cifar10"}

# The default rule's slice of train for a missing test or validation split.
DEFAULT_SLICE_PERCENT = 5


@dataclasses.dataclass(frozen=True)
class Source:
    """Where one split of a task comes from.

    Attributes:
        dataset: str. TFDS name, with config and version where pinned.
        split: str. TFDS split string, e.g. "train[:98%]".
    """

    dataset: str
    split: str

    def __str__(self):
        return f"{self.dataset}[{self.split}]"


def _pinned(name):
    return PINNED_VERSIONS.get(name, name)


def _sources(dataset, train, validation, test):
    return {
        "train": Source(dataset, train),
        "validation": Source(dataset, validation),
        "test": Source(dataset, test),
    }


def default_splits(split_names, percent=DEFAULT_SLICE_PERCENT):
    """The default split rule (spec §5.2).

    Args:
        split_names: iterable of str. The dataset's TFDS splits.
        percent: int. Size of a slice cut from train, in percent.

    Returns:
        dict with "train", "validation" and "test" TFDS split strings.
    """
    split_names = set(split_names)
    if "train" not in split_names:
        raise ValueError(
            "The default split rule needs a 'train' split; the dataset has "
            f"{sorted(split_names)}."
        )
    used = 0
    splits = {}
    # Test first, then validation: for mnist, validation = train[0%:5%].
    for split in ("test", "validation"):
        if split in split_names:
            splits[split] = split
        else:
            splits[split] = f"train[{used}%:{used + percent}%]"
            used += percent
    splits["train"] = f"train[{used}%:]" if used else "train"
    return splits


def split_plan(name, get_builder):
    """Returns a task's sources and its VTAB definition (or None).

    Args:
        name: str. Task name, e.g. "cifar10" or "dtd/1k".
        get_builder: callable. TFDS name -> prepared `DatasetBuilder`; used
            where a rule depends on the dataset's splits or sizes.

    Returns:
        `(sources, vtab_task)`: dict split -> `Source`, and a `VtabTask` or
        None.
    """
    if name in VALIDATION_ONLY:
        raise ValueError(
            f"{name!r} is not a task: it is the validation set of "
            f"{VALIDATION_ONLY[name]!r} (spec §5.2)."
        )
    if name == "imagenet2012":
        return {
            "train": Source("imagenet2012", "train"),
            "validation": Source("imagenet_v2", "test"),
            "test": Source("imagenet2012", "validation"),
        }, None
    if name == "cifar100":
        return _sources(
            _pinned(name), "train[:98%]", "train[98%:]", "test"
        ), None
    if name == "cifar10":
        # Validation comes from CIFAR-10.1, so all of train trains.
        return {
            "train": Source(_pinned(name), "train"),
            "validation": Source("cifar10_1", "test"),
            "test": Source(_pinned(name), "test"),
        }, None
    if name.startswith("visual_domain_decathlon/"):
        return _sources(
            name, "train", "validation[:50%]", "validation[50%:]"
        ), None
    if name.startswith("cmaterdb/"):
        return _sources(name, "train[20%:]", "train[:20%]", "test"), None
    if name == "omniglot":
        return _sources(name, "train", "small1", "small2"), None
    vtab_name = name.removesuffix(vtab.ONE_K_SUFFIX)
    if vtab_name in vtab.VTAB_TASKS:
        task = vtab.VTAB_TASKS[vtab_name]
        info = get_builder(task.tfds_name).info
        counts = {k: v.num_examples for k, v in info.splits.items()}
        one_k = name.endswith(vtab.ONE_K_SUFFIX)
        splits = vtab.vtab_splits(task, counts, one_k)
        return {k: Source(task.tfds_name, v) for k, v in splits.items()}, task
    splits = default_splits(get_builder(_pinned(name)).info.splits.keys())
    return {k: Source(_pinned(name), v) for k, v in splits.items()}, None


class TfdsTask(Task):
    """A task read from TFDS.

    Args:
        name: str. Task name.
        sources: dict. Split -> `Source`.
        builders: dict. TFDS name -> `DatasetBuilder`, for every source.
        preprocess: callable. TFDS example dict -> `(image, label)`.
        num_classes: int. Number of classes.
        **kwargs: Passed to `Task`.
    """

    def __init__(
        self, name, sources, builders, preprocess, num_classes, **kwargs
    ):
        super().__init__(name, num_classes, **kwargs)
        self.sources = dict(sources)
        self._builders = builders
        self._preprocess = preprocess

    def _num_examples(self, split):
        source = self.sources[split]
        splits = self._builders[source.dataset].info.splits
        try:
            return splits[source.split].num_examples
        except (KeyError, ValueError) as e:
            raise ValueError(
                f"Task {self.name!r}: TFDS has no size for {source}; is the "
                "dataset prepared in `data_dir`?"
            ) from e

    def _dataset(self, split, shuffle_files, seed):
        source = self.sources[split]
        ds = self._builders[source.dataset].as_dataset(
            split=source.split,
            shuffle_files=shuffle_files,
            # Every iterator reads the files in the same (seeded) order.
            read_config=tfds.ReadConfig(
                shuffle_seed=seed, shuffle_reshuffle_each_iteration=False
            ),
        )
        return ds.map(self._to_pair, num_parallel_calls=tf.data.AUTOTUNE)

    def _to_pair(self, example):
        image, label = self._preprocess(example)
        image = tf.ensure_shape(image, [None, None, None])
        label = check_label_in_graph(label, self.num_classes, self.name)
        return image, label


def _feature_preprocess(example):
    return example["image"], example["label"]


def tfds_task(name, data_dir=None, download=True):
    """Creates the TFDS task `name` with its split rule.

    Args:
        name: str. A TFDS task name, e.g. "cmaterdb/bangla" or "dtd/1k".
        data_dir: str or None. TFDS data directory (local or gs://); None
            uses TFDS's default.
        download: bool. Call `download_and_prepare()` on each dataset.

    Returns:
        A `TfdsTask`.
    """
    builders = {}

    def get_builder(tfds_name):
        if tfds_name not in builders:
            builder = tfds.builder(tfds_name, data_dir=data_dir)
            if download:
                builder.download_and_prepare()
            builders[tfds_name] = builder
        return builders[tfds_name]

    sources, vtab_task = split_plan(name, get_builder)
    for source in sources.values():
        get_builder(source.dataset)
    features = get_builder(sources["train"].dataset).info.features
    preprocess, class_names = _feature_preprocess, None
    if vtab_task is not None:
        preprocess = vtab_task.preprocess
    if vtab_task is not None and vtab_task.num_classes:
        num_classes = vtab_task.num_classes
    else:
        key = vtab_task.label_feature if vtab_task else "label"
        num_classes = features[key].num_classes
        class_names = list(features[key].names)
    description = f"TFDS {name}: " + ", ".join(
        f"{split} = {source}" for split, source in sources.items()
    )
    return TfdsTask(
        name,
        sources,
        builders,
        preprocess,
        num_classes,
        class_names=class_names,
        description=description,
    )
