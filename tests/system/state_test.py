import json
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf

from mu2keras.storage import files as storage
from mu2keras.storage import state
from mu2keras.system.component import ROOT_TASK
from tests.system import systems

CONFIG = {"benchmark": "testing", "num_samples_per_task": 2}


def outputs(population):
    """Every retained path's logits on fixed images."""
    return {
        p.id: p(systems.images(size=p.image_size)).numpy()
        for p in population.retained_paths()
    }


def summary(population):
    """Everything a reload must preserve, except outputs and `reloads`."""
    paths, components = population.history()
    for record in paths:
        record.pop("reloads")
    return {
        "tasks": {t: [p.id for p in ps] for t, ps in population.paths.items()},
        "parents": {
            p.id: None if p.parent is None else p.parent.id
            for p in population.retained_paths()
        },
        "components": {
            p.id: [c.id for c in p.components]
            for p in population.retained_paths()
        },
        "locks": {i: c.locks for i, c in population.components().items()},
        "trainable": {
            i: (c.trainable, c.layer.trainable)
            for i, c in population.components().items()
        },
        "metrics": {p.id: p.metrics for p in population.retained_paths()},
        "hparams": {p.id: p.hparams for p in population.retained_paths()},
        "private": population.private_tasks,
        "active": population.active_task,
        "counters": (population.next_path_id, population.next_component_id),
        "history": (paths, components),
    }


def assert_same(loaded, population):
    assert summary(loaded) == summary(population)
    expected = outputs(population)
    for path_id, logits in outputs(loaded).items():
        assert np.array_equal(logits, expected[path_id]), path_id


def mid_task_system():
    """Two ended tasks, then "private:c" active with two accepted children."""
    population, a, b = systems.two_task_system()
    population.start_task("private:c")
    c1 = systems.make_child(population, "c", b, 4, score=0.25)
    systems.make_child(population, "c", c1, 4, score=0.5)
    systems.make_child(population, "c", c1, 4, score=0.1, accept=False)
    c1.metrics.update(
        evals=[0.1, np.float32(0.25)], offsprings_per_task={"c": 2}
    )
    # The momentum trace is kept in bfloat16 (spec §2.7).
    bfloat16 = tf.bfloat16.as_numpy_dtype
    block = c1.component("encoderblock_1")
    block.set_momentum(
        {
            key: np.full(v.shape, 0.125, bfloat16)
            for key, v in block.variables().items()
        }
    )
    return population


@pytest.mark.parametrize("root", ["local", "ram"])
def test_save_load_round_trip(root, tmp_path):
    workdir = (
        str(tmp_path / "run")
        if root == "local"
        else f"ram://state_test_{uuid.uuid4().hex}"
    )
    population = mid_task_system()
    directory = state.save_state(population, workdir, 2, 1, config=CONFIG)
    assert directory == f"{workdir}/state_2_1"
    assert state.latest_state(workdir) == directory
    loaded_state = state.load_state(workdir)
    assert (loaded_state.loop, loaded_state.generation) == (2, 1)
    assert loaded_state.config == CONFIG
    loaded = loaded_state.population
    assert_same(loaded, population)
    assert loaded.active_task == "c" and loaded.private_tasks == {"c"}
    assert loaded.is_private("c") and not loaded.seed_paths("d")[-1].task == "c"
    assert all(p.reloads == 1 for p in loaded.retained_paths())
    # Sharing survives: one layer object for a component in many paths.
    a, b = loaded.paths["a"][0], loaded.paths["cmaterdb/b"][0]
    assert a.component("encoderblock_0").layer is (
        b.component("encoderblock_0").layer
    )
    c1 = loaded.paths["c"][0]
    bfloat16 = tf.bfloat16.as_numpy_dtype
    momentum = c1.component("encoderblock_1").momentum
    assert sorted(momentum) == sorted(
        c1.component("encoderblock_1").variables()
    )
    assert all(np.all(m == 0.125) for m in momentum.values())
    assert {m.dtype for m in momentum.values()} == {np.dtype(bfloat16)}
    assert c1.component("head").momentum is None
    # Ids continue after the largest ever used (spec §4, "Counters").
    next_path, next_component = (
        population.next_path_id,
        population.next_component_id,
    )
    child = systems.make_child(loaded, "c", c1, 4)
    assert child.id == next_path
    assert [c.id for c in child.components][-2:] == [
        next_component,
        next_component + 1,
    ]
    loaded.end_task("c")
    assert loaded.is_private("c")


def test_each_component_is_stored_once(tmp_path):
    population, a, b = systems.two_task_system()
    directory = state.save_state(population, str(tmp_path), 1)
    names = tf.compat.v1.train.NewCheckpointReader(
        f"{directory}/weights"
    ).get_variable_to_shape_map()
    stored = {}
    for name, shape in names.items():
        component_id = int(name.split("/")[1])
        stored[component_id] = stored.get(component_id, 0) + int(np.prod(shape))
    components = population.components()
    assert stored == {i: c.num_params for i, c in components.items()}
    assert sum(stored.values()) == population.num_unique_params()


def test_reload_then_save_again_is_stable(tmp_path):
    population, _, _ = systems.two_task_system()
    state.save_state(population, str(tmp_path / "one"), 1, config=CONFIG)
    loaded = state.load_state(str(tmp_path / "one")).population
    state.save_state(loaded, str(tmp_path / "two"), 1, config=CONFIG)
    again = state.load_state(str(tmp_path / "two")).population
    assert_same(again, population)
    assert all(p.reloads == 2 for p in again.retained_paths())


class Crash(Exception):
    pass


def test_crash_at_any_write_step_keeps_the_previous_state(
    tmp_path, monkeypatch
):
    population, _, _ = systems.two_task_system()
    bigger = mid_task_system()
    steps = []

    def spy(module, name, crash_at=None):
        original = getattr(module, name)

        def step(*args, **kwargs):
            steps.append((name, args[0]))
            if len(steps) - 1 == crash_at:
                raise Crash(f"crash in {name}")
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, step)

    def patch(crash_at=None):
        steps.clear()
        for name in ("makedirs", "write", "rename", "rmtree"):
            spy(storage, name, crash_at)
        spy(state, "_save_weights", crash_at)

    # A reference save, to count its write steps.
    state.save_state(population, str(tmp_path / "count"), 1, keep=1)
    patch()
    state.save_state(bigger, str(tmp_path / "count"), 2, keep=1)
    num_steps = len(steps)
    names = [name for name, _ in steps]
    assert names[:6] == ["makedirs"] + ["write"] * 3 + ["_save_weights"] + [
        "write"
    ]
    assert "rmtree" in names  # Deleting state_1_0 (keep=1).
    last_rename = max(
        i for i, (name, arg) in enumerate(steps) if name == "rename"
    )
    monkeypatch.undo()

    for crash_at in range(num_steps):
        workdir = str(tmp_path / f"crash_{crash_at}")
        state.save_state(population, workdir, 1, config=CONFIG, keep=1)
        patch(crash_at)
        with pytest.raises(Crash):
            state.save_state(bigger, workdir, 2, config=CONFIG, keep=1)
        monkeypatch.undo()
        loaded = state.load_state(workdir)
        if crash_at <= last_rename:  # LAST not moved yet: the old state.
            assert (loaded.loop, loaded.generation) == (1, 0)
            assert_same(loaded.population, population)
        else:  # Crash while deleting old states: the new one is complete.
            assert (loaded.loop, loaded.generation) == (2, 0)
            assert_same(loaded.population, bigger)
        # The next save goes through and clears the leftovers.
        state.save_state(bigger, workdir, 3, config=CONFIG, keep=1)
        assert storage.names(workdir) == {"LAST", "state_3_0"}
        assert_same(state.load_state(workdir).population, bigger)


def test_keep_last_n_and_listing(tmp_path):
    population, _, _ = systems.two_task_system()
    workdir = str(tmp_path)
    assert state.list_states(workdir) == [] and not state.latest_state(workdir)
    for loop, generation in [(1, 0), (1, 1), (1, 2), (2, 0)]:
        state.save_state(population, workdir, loop, generation, keep=2)
    assert state.list_states(workdir) == [
        (1, 2, "state_1_2"),
        (2, 0, "state_2_0"),
    ]
    assert state.latest_state(workdir) == f"{workdir}/state_2_0"
    # A state directory can also be loaded directly; each has the config.
    old = state.load_state(f"{workdir}/state_1_2")
    assert (old.loop, old.generation) == (1, 2)
    for name in ("state_1_2", "state_2_0"):
        assert storage.exists(f"{workdir}/{name}/config.json")
    with pytest.raises(ValueError, match="cannot be overwritten"):
        state.save_state(population, workdir, 2, 0)
    with pytest.raises(ValueError, match="`keep` must be an int >= 1"):
        state.save_state(population, workdir, 3, keep=0)


def saved(tmp_path):
    population, _, _ = systems.two_task_system()
    return state.save_state(population, str(tmp_path), 1), population


def rewrite_manifest(directory, filename, data):
    """Replaces a file and updates the manifest to match (valid sums)."""
    storage.write(f"{directory}/{filename}", data)
    manifest = json.loads(storage.read(f"{directory}/MANIFEST.json"))
    manifest["files"] = state._checksums(directory)
    del manifest["files"]["MANIFEST.json"]
    storage.write(f"{directory}/MANIFEST.json", json.dumps(manifest).encode())


def test_corrupt_state_is_refused_naming_the_file(tmp_path):
    directory, _ = saved(tmp_path)
    path = f"{directory}/weights.data-00000-of-00001"
    data = bytearray(storage.read(path))
    data[len(data) // 2] ^= 0xFF
    storage.write(path, bytes(data))
    with pytest.raises(state.StateError, match=f"{path} fails its sha256"):
        state.load_state(str(tmp_path))


def test_truncated_weights_are_refused_naming_the_file(tmp_path):
    directory, _ = saved(tmp_path)
    path = f"{directory}/weights.data-00000-of-00001"
    data = storage.read(path)
    storage.write(path, data[: len(data) - 100])
    with pytest.raises(
        state.StateError,
        match=f"{path} has {len(data) - 100} bytes; the manifest says "
        f"{len(data)} \\(truncated",
    ):
        state.load_state(str(tmp_path))


def test_unknown_version_is_refused_naming_the_file(tmp_path):
    directory, _ = saved(tmp_path)
    path = f"{directory}/MANIFEST.json"
    manifest = json.loads(storage.read(path))
    manifest["version"] = 99
    storage.write(path, json.dumps(manifest).encode())
    with pytest.raises(
        state.StateError,
        match=f"{path} has state format version 99; this mu2keras reads "
        "version 1",
    ):
        state.load_state(directory)


def test_missing_and_unreadable_files_are_named(tmp_path):
    directory, _ = saved(tmp_path)
    tf.io.gfile.remove(f"{directory}/weights.index")
    with pytest.raises(
        state.StateError, match=f"Missing state file {directory}/weights.index"
    ):
        state.load_state(directory)
    storage.write(f"{directory}/MANIFEST.json", b'{"format": ')
    with pytest.raises(
        state.StateError, match=f"{directory}/MANIFEST.json is not valid JSON"
    ):
        state.load_state(directory)
    with pytest.raises(state.StateError, match="No state at .*MANIFEST.json"):
        state.load_state(str(tmp_path / "nothing"))
    storage.write(f"{tmp_path}/LAST", b"../elsewhere")
    with pytest.raises(state.StateError, match="LAST names '../elsewhere'"):
        state.load_state(str(tmp_path))


def test_only_component_layer_classes_are_rebuilt(tmp_path):
    directory, _ = saved(tmp_path)
    structure = json.loads(storage.read(f"{directory}/population.json"))
    structure["components"][0]["class_name"] = "Lambda"
    rewrite_manifest(
        directory, "population.json", json.dumps(structure).encode()
    )
    with pytest.raises(
        state.StateError, match="component 0 has class 'Lambda'; known:"
    ):
        state.load_state(directory)


def test_inconsistent_structure_is_refused(tmp_path):
    directory, _ = saved(tmp_path)
    structure = json.loads(storage.read(f"{directory}/population.json"))
    structure["paths"][1]["components"].append(12345)
    rewrite_manifest(
        directory, "population.json", json.dumps(structure).encode()
    )
    with pytest.raises(
        state.StateError, match="population.json: inconsistent state: .*12345"
    ):
        state.load_state(directory)


def test_unstorable_metric_is_named(tmp_path):
    population, a, _ = systems.two_task_system()
    a.metrics["bad"] = object()
    with pytest.raises(TypeError, match="population.json: cannot store object"):
        state.save_state(population, str(tmp_path), 1)
    assert state.latest_state(str(tmp_path)) is None
    assert ROOT_TASK in population.paths


def test_local_saves_are_synced_before_the_commit(tmp_path, monkeypatch):
    population, _, _ = systems.two_task_system()
    workdir = os.path.realpath(tmp_path / "run")
    synced, at_commit, fsync, rename = [], [], os.fsync, storage.rename

    def spy_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    def spy_rename(src, dst, overwrite=False):
        if dst.endswith("/LAST"):
            at_commit.extend(synced)
        rename(src, dst, overwrite)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(storage, "rename", spy_rename)
    final = state.save_state(population, workdir, 1, config=CONFIG)
    # Before LAST moves: every file of the state and its directory (at their
    # temporary names), the workdir after the state's rename, the pointer.
    tmp = [p for p in at_commit if p.endswith(".state_1_0")]
    assert len(tmp) == 1
    files = {os.path.basename(p) for p in at_commit if p.startswith(tmp[0])}
    assert files == set(os.listdir(final)) | {os.path.basename(tmp[0])}
    assert at_commit.index(workdir) > at_commit.index(tmp[0])
    assert at_commit[-1].endswith(".LAST")
    assert synced[len(at_commit) :] == [workdir]  # The commit itself.
    synced.clear()
    state.save_state(population, f"ram://sync_{uuid.uuid4().hex}", 1)
    assert not synced  # Nothing to sync off local disks.


@pytest.mark.parametrize(
    "path, expected",
    [
        ("state_3_0", (3, 0)),
        ("gs://bucket/run/state_12_7", (12, 7)),
        ("/tmp/run/state_0_1/", (0, 1)),
        ("LAST", None),
        ("state_3", None),
        ("state_a_1", None),
        ("tmp-1f2e.state_3_0", None),  # A write in progress.
    ],
)
def test_state_names_parse_to_loop_and_generation(path, expected):
    assert state.parse_state_name(path) == expected
    if expected is not None:
        assert state.state_name(*expected) == path.rstrip("/").split("/")[-1]
