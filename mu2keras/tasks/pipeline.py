"""The µ2Net input pipeline (spec §5.3), in `tf.data` and `tf.image`.

Per example: cast to float32, tile grey to 3 channels, scale to [-1, 1];
in training only, an Inception-style random crop, a horizontal flip and
colour jitter, each switched by its `ds_*` hyperparameter (`augmentation`);
then, for every split, a resize to `ds_image_size` and a clip to [-1, 1].
Batches have static shapes (XLA and TPU need them).

Unlike the reference, which only shuffles whole batches, training shuffles
single examples. Training augments whole batches (`augmentation`), or one
image at a time where a task's images differ in size. Its randomness is
stateless and keyed by the seed and the position in the stream of the
batch's first example (or the image's), so the same seed gives the same
batches however many threads run the map.
"""

import dataclasses
import functools
import math

import tensorflow as tf

from mu2keras.tasks import augmentation
from mu2keras.tasks.data_hparams import DATA_HPARAM_KEYS  # noqa: F401
from mu2keras.tasks.data_hparams import DataHparams  # noqa: F401
from mu2keras.tasks.data_hparams import as_data_hparams

# Spec §2.7: a train split is cached when smaller than this and than the
# number of examples one path's training reads.
TRAIN_CACHE_MAX_EXAMPLES = 100_000

DEFAULT_SHUFFLE_BUFFER_SIZE = 10_000
# Epoch seeds of a stream: seed * _EPOCH_SEEDS + epoch.
_EPOCH_SEEDS = 1_000_003


@dataclasses.dataclass(frozen=True)
class EvalData:
    """A batched evaluation split and its sizes.

    Each element is `(images, labels, weights)`: float32
    `[batch_size, S, S, 3]`, int64 `[batch_size]` and float32
    `[batch_size]`. Weights are 1 for real examples and 0 for padding, so a
    weighted mean over all batches counts each example exactly once.

    Attributes:
        dataset: `tf.data.Dataset`, or a distributed dataset under a
            strategy. Finite: `num_batches` batches per pass.
        num_batches: int.
        batch_size: int.
        num_examples: int. Real (weight 1) examples per pass.
    """

    dataset: object
    num_batches: int
    batch_size: int
    num_examples: int


def num_train_examples(task):
    """Number of training examples of `task` (the N of spec §2.7's N_v)."""
    return task.num_examples("train")


def should_cache_train(num_examples, batch_size, num_steps=None):
    """Spec §2.7: cache train if `n < min(100,000, N_e * N_v * batch)`.

    Args:
        num_examples: int. Size of the train split.
        batch_size: int.
        num_steps: int or None. Steps one path trains for (N_v * N_e);
            None applies only the 100,000 cap.
    """
    limit = TRAIN_CACHE_MAX_EXAMPLES
    if num_steps is not None:
        limit = min(limit, num_steps * batch_size)
    return num_examples < limit


def validation_sizes(num_examples, batch_size, max_examples):
    """Spec §2.7's validation sizing.

    With at least `max_examples` examples, use `floor(max / batch_size)`
    full batches; otherwise `ceil(n / batch_size)` batches, each of
    `floor(n / num_batches)` examples.

    Args:
        num_examples: int. Size of the validation split.
        batch_size: int. The training batch size.
        max_examples: int. The config's `num_validation_examples_max`.

    Returns:
        `(num_batches, validation_batch_size)`.
    """
    _check_positive("batch_size", batch_size)
    _check_positive("max_examples", max_examples)
    if num_examples < 1:
        raise ValueError(f"The validation split is empty ({num_examples}).")
    if num_examples >= max_examples:
        num_batches = max_examples // batch_size
        if num_batches < 1:
            raise ValueError(
                f"`max_examples` ({max_examples}) must be at least "
                f"`batch_size` ({batch_size})."
            )
        return num_batches, batch_size
    num_batches = math.ceil(num_examples / batch_size)
    return num_batches, num_examples // num_batches


def to_float_rgb(image):
    """uint8 `[H, W, C]` -> float32 `[H, W, 3]` in [-1, 1] (spec §5.3 1-3)."""
    return augmentation.to_rgb(augmentation.to_float(image))


def _resize_and_clip(image, image_size):
    # Bilinear, as the reference; the clip removes resize overshoot.
    image = tf.image.resize(image, [image_size, image_size])
    return tf.clip_by_value(image, -1.0, 1.0)


def preprocess_eval(image, image_size):
    """Validation and test preprocessing: no augmentation, no center crop.

    Args:
        image: uint8 tensor `[H, W, C]`, C in {1, 3}.
        image_size: int. Output size S.

    Returns:
        float32 `[S, S, 3]` in [-1, 1].
    """
    return _resize_and_clip(to_float_rgb(image), image_size)


def preprocess_train(image, hparams, seed):
    """Training preprocessing and augmentation of one image (spec §5.3).

    `augmentation.augment` on a batch of this one image; training streams
    of images with one static shape augment whole batches instead.

    Args:
        image: uint8 tensor `[H, W, C]`, C in {1, 3}.
        hparams: `DataHparams` or dict.
        seed: int tensor `[2]`. Key of the stateless random ops.

    Returns:
        float32 `[S, S, 3]` in [-1, 1], S = `ds_image_size`.
    """
    return augmentation.augment(image[None], seed, hparams)[0]


def train_dataset(
    task,
    hparams,
    batch_size,
    seed,
    strategy=None,
    num_steps=None,
    cache=None,
    shuffle_buffer_size=DEFAULT_SHUFFLE_BUFFER_SIZE,
):
    """The endless, shuffled, augmented training stream of `task`.

    Args:
        task: `Task`.
        hparams: `DataHparams` or a path's hyperparameter dict.
        batch_size: int. Global batch size.
        seed: int. Seeds the file order, the shuffle and the augmentation.
        strategy: `tf.distribute.Strategy` or None. When given, the result
            is distributed with `strategy.experimental_distribute_dataset`
            (each replica gets `batch_size / num_replicas` examples).
        num_steps: int or None. Steps one path trains for (N_v * N_e), for
            the caching rule (`should_cache_train`).
        cache: bool or None. Overrides the caching rule.
        shuffle_buffer_size: int. Example shuffle buffer, capped at the
            split size (a small cached split is shuffled completely). It
            holds decoded images: lower it for large images on small hosts.

    Returns:
        A dataset of `(images, labels)`: float32 `[batch_size, S, S, 3]` in
        [-1, 1] and int64 `[batch_size]`; infinite, partial batches dropped.
    """
    hp = as_data_hparams(hparams)
    _check_positive("batch_size", batch_size)
    _check_seed(seed)
    n = task.num_examples("train")
    if n < 1:
        raise ValueError(f"Task {task.name!r} has no training examples.")
    if cache is None:
        cache = should_cache_train(n, batch_size, num_steps)
    examples = task.dataset("train", shuffle_files=True, seed=seed)
    if cache:
        examples = examples.cache()
    buffer_size = max(1, min(n, shuffle_buffer_size))

    # Epoch e is shuffled with its own seed rather than by a generator that
    # every iterator of the dataset shares (`reshuffle_each_iteration`), so
    # that each new iterator reads the same stream: candidates trained one
    # by one see the batches a fused group sees (spec §6.1).
    def epoch(e):
        return examples.shuffle(
            buffer_size,
            seed=seed * _EPOCH_SEEDS + e,
            reshuffle_each_iteration=False,
        )

    ds = tf.data.Dataset.counter().flat_map(epoch)
    base = tf.constant(seed, tf.int64)
    if examples.element_spec[0].shape.is_fully_defined():
        augment = _batch_augmentation(
            augmentation.switches(hp), hp.ds_image_size, batch_size
        )
        ranges = tf.constant(augmentation.ranges(hp), tf.float32)
        ds = ds.batch(batch_size, drop_remainder=True).enumerate()
        ds = ds.map(
            lambda number, batch: augment(base, number, ranges, *batch),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        # Images of varying sizes: one by one, keyed by their position.
        def augment_one(index, example):
            image, label = example
            key = tf.stack([base, index])
            return preprocess_train(image, hp, key), label

        ds = ds.enumerate().map(
            augment_one, num_parallel_calls=tf.data.AUTOTUNE
        )
        ds = ds.batch(batch_size, drop_remainder=True)
    return _distribute(ds.prefetch(tf.data.AUTOTUNE), strategy)


@functools.lru_cache(maxsize=64)
def _batch_augmentation(switches, image_size, batch_size):
    """Augments whole batches, each keyed by its first example's position.

    One function per `augmentation.switches`, image size and batch size,
    traced once per input shape; the draws' ranges are an input. `map`
    traces what it is given for every new dataset, and tracing the
    augmentation took 0.1 s of each generation (whose data hyperparameters
    are rarely all the same as an earlier one's).
    """

    # Its Python branches are all on static switches: AutoGraph's conversion
    # only costs (0.8 s, the first time in a process).
    @tf.function(autograph=False)
    def augment(base, number, ranges, images, labels):
        key = tf.stack([base, number * batch_size])
        images = augmentation.augment_in_ranges(
            images, key, switches, ranges, image_size
        )
        return images, labels

    return augment


def validation_dataset(
    task, image_size, batch_size, max_examples, strategy=None
):
    """The fixed validation subset of `task` (spec §2.7).

    The first `num_batches * batch_size` validation examples (sizes from
    `validation_sizes`) are cached as read and preprocessed without
    randomness, so every pass over the dataset yields identical batches.

    Args:
        task: `Task`.
        image_size: int. Output size S.
        batch_size: int. The training batch size.
        max_examples: int. The config's `num_validation_examples_max`.
        strategy: `tf.distribute.Strategy` or None.

    Returns:
        `EvalData`; every weight is 1.
    """
    num_batches, size = validation_sizes(
        task.num_examples("validation"), batch_size, max_examples
    )
    ds = task.dataset("validation").take(num_batches * size).cache()
    ds = _eval_batches(ds, image_size, size)
    return EvalData(
        _distribute(ds, strategy), num_batches, size, num_batches * size
    )


def test_dataset(task, image_size, batch_size, strategy=None):
    """One pass over the test split of `task`, in its stored order.

    The last batch is padded to `batch_size` with zero images whose weight
    is 0, so shapes stay static and weighted accuracy counts every test
    example once.

    Args:
        task: `Task`.
        image_size: int. Output size S.
        batch_size: int.
        strategy: `tf.distribute.Strategy` or None.

    Returns:
        `EvalData`.
    """
    _check_positive("batch_size", batch_size)
    n = task.num_examples("test")
    ds = _eval_batches(task.dataset("test"), image_size, batch_size)
    return EvalData(
        _distribute(ds, strategy), math.ceil(n / batch_size), batch_size, n
    )


# Not a pytest test, despite its name (tests import this module).
test_dataset.__test__ = False


def _eval_batches(ds, image_size, batch_size):
    _check_positive("image_size", image_size)
    ds = ds.map(
        lambda image, label: (preprocess_eval(image, image_size), label),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    ds = ds.batch(batch_size).map(_padder(batch_size, image_size))
    return ds.prefetch(tf.data.AUTOTUNE)


def _padder(batch_size, image_size):
    def pad(images, labels):
        real = tf.shape(labels)[0]
        missing = batch_size - real
        images = tf.pad(images, [[0, missing], [0, 0], [0, 0], [0, 0]])
        labels = tf.pad(labels, [[0, missing]])
        weights = tf.pad(tf.ones([real], tf.float32), [[0, missing]])
        images = tf.ensure_shape(
            images, [batch_size, image_size, image_size, 3]
        )
        labels = tf.ensure_shape(labels, [batch_size])
        return images, labels, tf.ensure_shape(weights, [batch_size])

    return pad


def _distribute(ds, strategy):
    if strategy is None:
        return ds
    return strategy.experimental_distribute_dataset(ds)


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; got {value!r}.")


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int; got {seed!r}.")
