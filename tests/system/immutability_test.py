import json

import numpy as np
import pytest

from mu2keras.system import immutability
from tests.system import systems


def test_unchanged_system_verifies_and_fingerprints_are_json(system):
    population, a, b = system
    recorded = immutability.fingerprints(population)
    assert sorted(recorded["paths"]) == sorted(
        str(p.id) for p in population.retained_paths()
    )
    entry = recorded["paths"][str(b.id)]
    assert entry["task"] == "cmaterdb/b"
    assert np.asarray(entry["logits"]).shape == (4, 2)
    # Survives being stored as JSON, e.g. next to a state.
    immutability.verify(population, json.loads(json.dumps(recorded)))


def test_a_one_ulp_change_fails_loudly(system):
    population, a, b = system
    recorded = immutability.fingerprints(population)
    probe = immutability.probe_images(8)
    before = a(probe).numpy()
    # Nudge a's head bias by one ulp of its largest class-0 logit.
    bias = a.component("head").layer.weights[1]
    delta = np.zeros(bias.shape, np.float32)
    delta[0] = np.spacing(np.abs(before[:, 0]).max())
    bias.assign(bias.numpy() + delta)
    after = a(probe).numpy()
    assert not np.array_equal(after, before)
    assert np.abs(after - before).max() <= 2 * delta[0]
    with pytest.raises(immutability.ImmutabilityError) as error:
        immutability.verify(population, recorded)
    message = str(error.value)
    assert f"path {a.id} of task 'a' changed its logits" in message
    assert "cmaterdb/b" not in message


def test_only_changed_tasks_may_replace_their_path(system):
    population, a, b = system
    recorded = immutability.fingerprints(population)
    population.start_task("a")
    new_a = systems.make_child(population, "a", a, 3, score=2.0)
    population.end_task("a")
    immutability.verify(population, recorded, changed_tasks=["a"])
    with pytest.raises(
        immutability.ImmutabilityError,
        match=f"path {a.id} of task 'a' is no longer retained",
    ):
        immutability.verify(population, recorded, changed_tasks=["cmaterdb/b"])
    assert population.paths["a"] == [new_a]


def test_probe_images_are_fixed():
    first = immutability.probe_images(8, num_images=2, seed=3)
    assert first.shape == (2, 8, 8, 3) and first.dtype == np.float32
    assert np.array_equal(first, immutability.probe_images(8, 2, 3))
    assert first.min() >= -1.0 and first.max() <= 1.0
