import gc
import math
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from mu2keras import architecture
from mu2keras.architecture import VARIANT_KEY
from mu2keras.system.component import ROOT_TASK
from mu2keras.system.population import Population
from mu2keras.system.population import parse_task_name
from tests.system import systems

# Parameters of the "testing" components (hidden 16, MLP 32, 8 px).
STEM = 784 + 16 + 80  # embedding, cls, posembed_input (2x2 grid).
BLOCK = 2224
NORM = 32
HEAD_A, HEAD_B = 3 * 17, 2 * 17
POSEMBED_12PX = 10 * 16  # b's resized position embedding (3x3 grid).


def locks(path):
    return {c.name: set(c.locks) for c in path.components}


def test_locks_trainable_and_accounted_params_by_hand():
    """Spec §1.4 on two tasks sharing frozen components (see systems.py)."""
    population = systems.make_population()
    root = systems.root_path(population)
    assert math.isnan(root.accounted_params())
    population.start_task("a")
    a = systems.make_child(population, "a", root, 3, clone=["encoderblock_0"])
    assert systems.flags(a) == "FFFTFTT"
    # Root components used only by "a" count fully against it.
    assert a.accounted_params() == STEM + 2 * BLOCK + NORM + HEAD_A
    population.end_task("a")
    R = ROOT_TASK
    assert locks(a) == {
        "embedding": {R, "a"},
        "cls": {R, "a"},
        "posembed_input": {R, "a"},
        "encoderblock_0": {"a"},
        "encoderblock_1": {R, "a"},
        "encoder_norm": {"a"},
        "head": {"a"},
    }
    assert not any(c.trainable for c in a.components)
    assert a.metrics["final_accounted_params"] == 5411

    population.start_task("b")
    b = systems.make_child(
        population, "b", a, 2, clone=["encoderblock_1"], image_size=12
    )
    assert systems.flags(b) == "FFTFTTT"
    # Shared with "a": the stem's embedding and cls, a's block 0.
    shared = (784 + 16) / 2 + BLOCK / 2
    own = POSEMBED_12PX + BLOCK + NORM + HEAD_B
    assert b.accounted_params() == shared + own == 3962
    assert a.accounted_params() == 5411  # b is not retained yet.
    population.end_task("b")
    assert locks(b) == {
        "embedding": {R, "a", "b"},
        "cls": {R, "a", "b"},
        "posembed_input": {"b"},
        "encoderblock_0": {"a", "b"},
        "encoderblock_1": {"b"},
        "encoder_norm": {"b"},
        "head": {"b"},
    }
    assert a.accounted_params() == 400 + 80 + 1112 + BLOCK + NORM + HEAD_A
    assert a.accounted_params() == 3899
    assert b.accounted_params() == 3962
    assert b.metrics["final_accounted_params"] == 3962
    assert a.metrics["final_accounted_params"] == 3899
    # The system size: every component of a task path, counted once.
    assert population.system_size() == 3899 + 3962
    assert population.system_size() == (
        STEM + BLOCK * 3 + NORM * 2 + HEAD_A + HEAD_B + POSEMBED_12PX
    )


def _train_steps(path, x, y, steps=3, lr=0.5):
    """Plain SGD on the path's trainable variables (its clones only)."""
    variables = [
        v for c in path.components if c.trainable for v in c.layer.weights
    ]
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, path(x, training=True))
        grads = tape.gradient(loss, variables)
        for v, g in zip(variables, grads, strict=True):
            v.assign_sub(lr * g)
    return variables


def test_training_task_b_leaves_task_a_bit_identical():
    population = systems.make_population()
    root = systems.root_path(population)
    population.start_task("a")
    a = systems.make_child(population, "a", root, 3, clone=["encoderblock_0"])
    population.end_task("a")
    x_a = systems.images(8, size=8, seed=1)
    before = population.predict("a", x_a).numpy()
    frozen = [v.numpy().copy() for c in a.components for v in c.layer.weights]

    population.start_task("b")
    b = systems.make_child(population, "b", a, 2, clone=["encoderblock_1"])
    x_b = systems.images(8, size=8, seed=2)
    y_b = np.arange(8) % 2
    head_before = b.component("head").layer.weights[0].numpy().copy()
    trained = _train_steps(b, x_b, y_b)
    assert len(trained) == 16 + 2 + 2  # b's block 1, encoder_norm, head.
    # Keras training on the path's model touches only the clones, too.
    model = b.build_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=(keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
    )
    model.fit(x_b, y_b, epochs=2, batch_size=4, verbose=0)
    assert not np.array_equal(
        b.component("head").layer.weights[0].numpy(), head_before
    )
    population.end_task("b")

    after = population.predict("a", x_a).numpy()
    assert np.array_equal(after, before)  # Bit for bit (spec §2.10).
    for old, v in zip(
        frozen,
        [v for c in a.components for v in c.layer.weights],
        strict=True,
    ):
        assert np.array_equal(old, v.numpy())


def test_end_task_keeps_the_best_locks_it_and_collects_the_rest():
    population = systems.make_population(num_layers=1)
    root = systems.root_path(population)
    population.start_task("a")
    a1 = systems.make_child(population, "a", root, 3, score=0.5)
    a2 = systems.make_child(population, "a", a1, 3, score=0.7)
    a3 = systems.make_child(population, "a", a2, 3, score=0.7)  # Tie: newest.
    a4 = systems.make_child(population, "a", a3, 3, score=0.9, accept=False)
    assert population.best_path("a") is a3
    dropped = weakref.ref(a2.component("head").layer)
    dropped_ids = [a1.id, a2.id, a4.id]
    a1 = a2 = a4 = None
    best = population.end_task("a")
    gc.collect()
    assert best is a3 and population.paths["a"] == [a3]
    assert population.active_task is None
    assert all(c.locks >= {"a"} for c in a3.components)
    assert a3.parent is root  # a2 and a1 were pruned (spec §2.9).
    assert a3.origin_parent_id == dropped_ids[1]
    assert dropped() is None  # Their clones are gone...
    paths, components = population.history()
    assert [p["id"] for p in paths] == [0, 1, 2, 3, 4]  # ...not their history.
    assert {p["id"]: p["metrics"]["score"] for p in paths[1:]} == {
        1: 0.5,
        2: 0.7,
        3: 0.7,
        4: 0.9,
    }
    assert paths[2]["task"] == "a" and paths[2]["parent_id"] == 1
    assert len(components) == population.next_component_id
    live = set(population.components())
    assert live == {c.id for c in root.components + a3.components}

    # Revisiting "a" unlocks its own components (spec §1.4); b's path from
    # a3 keeps a3's shared ones frozen.
    population.start_task("b")
    b1 = systems.make_child(population, "b", a3, 2)
    population.end_task("b")
    assert b1.parent is a3
    population.start_task("a")
    assert a3.component("head").trainable
    assert not a3.component("embedding").trainable  # Root and b locks.
    assert a3.component("embedding").locks == {ROOT_TASK, "b"}
    a5 = systems.make_child(population, "a", a3, 3, score=0.95)
    population.end_task("a")
    assert population.paths["a"] == [a5]
    assert a5.parent is root and b1.parent is root  # a3 was pruned.
    assert a5.component("head").locks == {"a"}


def test_end_task_requires_the_active_task_and_scores():
    population = systems.make_population(num_layers=1)
    with pytest.raises(ValueError, match="the active task is None"):
        population.end_task("a")
    population.start_task("a")
    with pytest.raises(ValueError, match="'a' is active"):
        population.start_task("b")
    child = systems.make_child(
        population, "a", systems.root_path(population), 2
    )
    child.metrics.pop("score")
    with pytest.raises(ValueError, match="no numeric 'score' metric"):
        population.end_task("a")
    child.metrics["score"] = 0.1
    rejected = systems.make_child(
        population, "a", systems.root_path(population), 2, accept=False
    )
    population.garbage_collect()  # Drops the child outside the pool.
    with pytest.raises(ValueError, match="may have been garbage-collected"):
        population.add_path(rejected)
    assert population.paths["a"] == [child]
    other = systems.make_child(
        population, "a", systems.root_path(population), 2, accept=False
    )
    other.task = "b"
    with pytest.raises(ValueError, match="not of the active task 'a'"):
        population.add_path(other)


def test_private_tasks_are_never_seeds_and_names_are_parsed():
    assert parse_task_name("private:cmaterdb/telugu") == (
        "cmaterdb/telugu",
        True,
    )
    assert parse_task_name("cmaterdb/bangla") == ("cmaterdb/bangla", False)
    for bad in ("", "private:", ROOT_TASK, 3):
        with pytest.raises(ValueError):
            parse_task_name(bad)
    population = systems.make_population(num_layers=1)
    root = systems.root_path(population)
    assert population.start_task("private:t") == "t"
    t = systems.make_child(population, "t", root, 2)
    population.end_task("private:t")
    population.start_task("u")
    u = systems.make_child(population, "u", root, 2)
    assert population.seed_paths("u") == [root]
    population.end_task("u")
    assert population.private_tasks == {"t"} and population.is_private("t")
    assert population.seed_paths("v") == [root, u]
    assert population.seed_paths("t") == [root, u]
    population.start_task("t")  # Stays private without the prefix.
    population.end_task("t")
    assert population.is_private("t") and population.paths["t"] == [t]
    paths, _ = population.history()
    assert [p["private"] for p in paths] == [False, True, False]


def test_predict_runs_only_the_tasks_path(system, monkeypatch):
    population, a, b = system

    def fail(*args, **kwargs):
        raise AssertionError("another task's component ran")

    for component in b.components:
        if component not in a.components:
            monkeypatch.setattr(component.layer, "call", fail)
    x = systems.images(size=8)
    np.testing.assert_array_equal(population.predict("a", x), a(x))
    # Grey images and other sizes are brought to the path's input.
    grey = x[..., :1]
    np.testing.assert_array_equal(
        population.predict("a", grey), a(np.tile(grey, [1, 1, 1, 3]))
    )
    assert population.predict("a", systems.images(size=20)).shape == (4, 3)
    with pytest.raises(AssertionError, match="another task's component"):
        population.predict("cmaterdb/b", x)
    with pytest.raises(ValueError, match="has no retained path"):
        population.predict("c", x)
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3 \\(RGB\\)"):
        population.predict("a", x[..., :2])
    with pytest.raises(ValueError, match="got shape \\(8, 8, 3\\)"):
        population.predict("a", x[0])
    with pytest.raises(ValueError, match="got dtype uint8"):
        population.predict("a", x.astype(np.uint8))


def test_ids_and_the_root():
    population = systems.make_population(num_layers=1)
    root = systems.root_path(population)
    assert population.tasks == [] and population.paths[ROOT_TASK] == [root]
    assert root.hparams == {
        "num_layers": 1,
        "ds_image_size": 8,
        VARIANT_KEY: architecture.get_variant("testing")._asdict(),
    }
    assert [c.id for c in root.components] == list(range(6))
    assert all(c.locks == {ROOT_TASK} for c in root.components)
    population.start_task("a")
    child = systems.make_child(population, "a", root, 2)
    assert child.id == 1 and population.next_path_id == 2
    assert [c.id for c in child.components][-2:] == [6, 7]
    stranger = Population.from_root(systems.roots.make_root("testing", 1, 8))
    with pytest.raises(ValueError, match="not a live component"):
        population.new_path("a", systems.root_path(stranger).components)
