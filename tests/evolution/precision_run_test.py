"""A whole run in bfloat16 (`config.compute_dtype`): every component made,
saved, reloaded and exported in it; one system, one precision."""

import os

import numpy as np
import pytest
import tensorflow as tf

from mu2keras.evolution import controller as controller_lib
from mu2keras.storage import state as state_lib
from mu2keras.system.component import ROOT_TASK
from tests.evolution.controller_test import TASKS
from tests.evolution.controller_test import run
from tests.evolution.controller_test import tiny_config

MIXED = "mixed_bfloat16"


def bf16_config(**overrides):
    overrides = {"compute_dtype": "bfloat16", **overrides}
    return tiny_config(tasks=("a", "b"), num_task_iters=1, **overrides)


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bf16")
    population = run(bf16_config(), workdir)
    return str(workdir), population


def _policies(population):
    return {c.layer.dtype_policy.name for c in population.components().values()}


def test_every_component_computes_in_bfloat16_with_float32_weights(grown):
    _, population = grown
    root = population.paths[ROOT_TASK][0]
    # The children's new and cloned components, the root's own, all mixed.
    assert len(population.components()) > len(root.components)
    assert _policies(population) == {MIXED}
    for component in population.components().values():
        assert {v.dtype for v in component.layer.weights} <= {"float32"}
    images = np.random.default_rng(2).uniform(-1, 1, (2, 8, 8, 3))
    images = images.astype("float32")
    path = population.best_path("a")
    logits = path(images)
    assert logits.dtype == tf.float32
    model = path.build_model()
    assert model.output.dtype == "float32"
    np.testing.assert_allclose(model(images), logits, rtol=0, atol=0.05)


def test_a_saved_bfloat16_system_reloads_in_bfloat16(grown):
    workdir, population = grown
    loaded = state_lib.load_state(workdir).population
    assert _policies(loaded) == {MIXED}
    images = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3))
    images = images.astype("float32")
    for task in ("a", "b"):
        np.testing.assert_array_equal(
            loaded.predict(task, images), population.predict(task, images)
        )


def test_the_saved_model_serves_float32_logits_of_the_bfloat16_paths(grown):
    workdir, population = grown
    serve = tf.saved_model.load(os.path.join(workdir, "saved_model"))
    images = np.random.default_rng(1).uniform(-1, 1, (4, 8, 8, 3))
    images = tf.constant(images.astype("float32"))
    for task in ("a", "b"):
        logits = serve.signatures[f"task_{task}"](images=images)["logits"]
        assert logits.dtype == tf.float32
        # bfloat16 rounding apart (graph against eager).
        np.testing.assert_allclose(
            logits, population.predict(task, images), rtol=0, atol=0.05
        )


def test_a_system_keeps_the_precision_it_was_made_with(grown, tmp_path):
    workdir, _ = grown
    before = sorted(os.listdir(workdir)), state_lib.latest_state(workdir)
    with pytest.raises(
        ValueError, match="compute_dtype is 'float32'.*'mixed_bfloat16'"
    ):
        controller_lib.Controller.resume(
            bf16_config(compute_dtype="float32"), workdir, tasks=TASKS
        )
    with pytest.raises(ValueError, match="compute_dtype is 'float32'"):
        controller_lib.Controller.create(
            tiny_config(tasks=("c",)),
            str(tmp_path / "next"),
            continue_from=workdir,
            tasks=TASKS,
        )
    assert (sorted(os.listdir(workdir)), state_lib.latest_state(workdir)) == (
        before
    )


def test_an_unknown_compute_dtype_fails_before_any_work(tmp_path):
    with pytest.raises(
        ValueError, match=r"config.compute_dtype must be one of .*'float16'"
    ):
        run(bf16_config(compute_dtype="float16"), tmp_path)
    assert not list(tmp_path.iterdir())
