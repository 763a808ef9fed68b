"""A generation's datasets: new training streams, a kept validation subset."""

import dataclasses

import numpy as np

from mu2keras import experiment
from mu2keras import tasks as tasks_lib
from mu2keras.evolution import inputs as inputs_lib
from mu2keras.evolution import method as method_lib
from mu2keras.tasks.data_hparams import DataHparams


def task(name, n=40):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return tasks_lib.from_arrays(name, images, np.arange(n) % 2, num_classes=2)


def inputs():
    c = experiment.default_config()
    c.batch_size = 8
    c.max_train_examples_between_validations = 16
    c.num_validations = 3
    c.max_validation_examples = 16
    return inputs_lib.GenerationInputs(c, method_lib.parse_method("mu2net", 0))


def hparams(image_size):
    return dataclasses.asdict(DataHparams(ds_image_size=image_size))


def test_validation_subset_is_kept_per_task_and_image_size():
    gen = inputs()
    a, b = task("a"), task("b")
    first = gen.generation(a, hparams(8), seed=1)[3]
    assert gen.generation(a, hparams(8), seed=2)[3] is first
    resized = gen.generation(a, hparams(12), seed=3)[3]
    assert resized is not first
    assert resized.dataset.element_spec[0].shape[1:] == (12, 12, 3)
    assert gen.validation(b, 12) is not resized
    assert gen.validation(a, 8) is not first  # Only one is kept.


def test_each_generation_gets_the_budget_and_its_own_training_stream():
    gen = inputs()
    n_v, n_e, train, _ = gen.generation(task("a"), hparams(8), seed=1)
    assert (n_v, n_e) == (2, 3)  # 16 examples of 8 between validations.
    images, labels = next(iter(train))
    assert images.shape == (8, 8, 8, 3) and labels.shape == (8,)
    other = next(iter(gen.generation(task("a"), hparams(8), seed=2)[2]))
    assert not np.array_equal(images.numpy(), other[0].numpy())
