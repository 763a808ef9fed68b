"""A generation's datasets, as the engine reads them (spec §2.7, §6.1).

Training data is read from the beginning by every group (a new iterator
each), validation data is the same fixed batches at every evaluation, and
both are distributed by the engine's strategy with static shapes.
"""

import tensorflow as tf

# The validation batches of a generation are kept in memory, as the model
# reads them, up to this size (a ti0 setting's 500 images at 32 px are 6
# MB; 5,120 at 384 px would be 9 GB, and are preprocessed again instead).
VALIDATION_CACHE_MAX_BYTES = 256 * 2**20


def _short_lived(dataset):
    """`dataset` without tf.data's autotuning model thread.

    The engine opens a new iterator per group and abandons it after N_v × N_e
    batches. Deleting an iterator waits for its autotuning thread to finish
    an optimization pass: 0.2-1.7 s per group measured on 2 cores, more
    than training a small candidate. Autotuning never converges within so
    short an iterator anyway; without it, AUTOTUNE map parallelism falls
    back to the number of cores and prefetch buffers still grow on their own.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


class ValidationStream:
    """A validation dataset's first `steps` batches, repeated, distributed.

    Every evaluation reads the same `steps` batches from one iterator, so a
    stream serves a whole generation, and later ones given the same
    dataset object (creating an iterator costs about as much as evaluating
    a small path). Batches of at most `VALIDATION_CACHE_MAX_BYTES` in all
    are kept after the first evaluation, not preprocessed again for each.
    """

    def __init__(self, strategy, dataset, steps):
        self.strategy = strategy
        self.dataset = dataset
        self.steps = steps
        batches = _short_lived(dataset).take(steps)
        if steps * _batch_bytes(dataset) <= VALIDATION_CACHE_MAX_BYTES:
            batches = batches.cache()
        self.iterator = iter(
            strategy.experimental_distribute_dataset(batches.repeat())
        )

    def serves(self, strategy, dataset, steps):
        """Whether this stream is `steps` batches of `dataset` on `strategy`."""
        return (
            self.strategy is strategy
            and self.dataset is dataset
            and self.steps == steps
        )


class GenerationData:
    """A generation's datasets, distributed, with their static shapes.

    Args:
        strategy: `tf.distribute.Strategy`.
        train_data: `tf.data.Dataset` of global training batches.
        validation_data: `tf.data.Dataset` of validation batches.
        steps: int or None. Batches per evaluation (None: cardinality).
        validation: `ValidationStream` or None. An earlier generation's,
            after all its evaluations completed: taken over if it serves
            the same strategy, validation dataset object and steps.
    """

    def __init__(
        self, strategy, train_data, validation_data, steps, validation=None
    ):
        self.strategy = strategy
        replicas = strategy.num_replicas_in_sync
        train_specs = _batch_specs("train_data", train_data, replicas, (2,))
        val_specs = _batch_specs(
            "validation_data", validation_data, replicas, (2, 3)
        )
        self.global_batch_size = train_specs[0].shape[0]
        if steps is None:
            steps = int(validation_data.cardinality())
            if steps < 1:
                raise ValueError(
                    "validation_data has no known finite number of batches "
                    f"(cardinality {steps}); pass `validation_steps`."
                )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"validation_steps must be >= 1; got {steps!r}.")
        self.validation_steps = steps
        self.signature = (
            tuple(_spec_key(s) for s in train_specs),
            tuple(_spec_key(s) for s in val_specs),
        )
        self._train = strategy.experimental_distribute_dataset(
            _short_lived(train_data)
        )
        self._specs = (train_specs, val_specs)
        if validation is None or not validation.serves(
            strategy, validation_data, steps
        ):
            validation = ValidationStream(strategy, validation_data, steps)
        self.validation = validation

    @property
    def validation_iterator(self):
        return self.validation.iterator

    def train_iterator(self):
        return iter(self._train)

    def zeros_iterators(self):
        """Iterators of all-zero training and validation batches."""
        return [
            iter(
                self.strategy.experimental_distribute_dataset(
                    _short_lived(
                        tf.data.Dataset.from_tensors(_dummy_batch(s)).repeat()
                    )
                )
            )
            for s in self._specs
        ]


def _batch_specs(name, dataset, replicas, lengths):
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"{name} must be a tf.data.Dataset; got {dataset!r}.")
    specs = dataset.element_spec
    if not isinstance(specs, tuple) or len(specs) not in lengths:
        expected = " or ".join(
            ("(images, labels)", "(images, labels, weights)")[n - 2]
            for n in lengths
        )
        raise ValueError(
            f"{name} must yield {expected} tuples; its element spec is {specs}."
        )
    images, labels = specs[:2]
    batch = images.shape[0]
    if batch is None or images.shape[1:].num_elements() is None:
        raise ValueError(
            f"{name} must have static shapes (batch with "
            f"drop_remainder=True); got {images.shape}."
        )
    for spec in specs[1:]:
        if spec.shape != (batch,):
            raise ValueError(
                f"{name} labels and weights must have shape ({batch},); got "
                f"{spec.shape}."
            )
    if batch % replicas:
        raise ValueError(
            f"{name} batch size {batch} is not divisible by the "
            f"{replicas} replicas."
        )
    return specs


def _batch_bytes(dataset):
    return sum(
        s.shape.num_elements() * s.dtype.size
        for s in tf.nest.flatten(dataset.element_spec)
    )


def _dummy_batch(specs):
    """Zero images and labels (and unit weights) for warming up."""
    values = [tf.zeros(s.shape, s.dtype) for s in specs[:2]]
    return tuple(values + [tf.ones(s.shape, s.dtype) for s in specs[2:]])


def _spec_key(spec):
    return (tuple(spec.shape.as_list()), spec.dtype.name)
