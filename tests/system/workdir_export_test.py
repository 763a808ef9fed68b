"""The workdir's SavedModel: stamped with its state, swapped, repaired."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from launch import predict
from mu2keras.storage import files as storage
from mu2keras.storage import state
from mu2keras.storage import workdir_export
from tests.system import systems


@pytest.fixture
def run(tmp_path):
    """A workdir whose last state, state_1_0, has a refreshed SavedModel."""
    population, _, _ = systems.two_task_system()
    workdir = str(tmp_path / "run")
    state.save_state(population, workdir, 1)
    workdir_export.refresh(population, workdir)
    return workdir, population


def saved_model(workdir):
    return os.path.join(workdir, workdir_export.SAVED_MODEL)


def assert_serves(workdir, population):
    """The SavedModel loads, through `launch.predict` too, and predicts."""
    tasks, logits = predict.load_model(saved_model(workdir))
    assert tasks == population.tasks
    images = systems.images(size=8)
    for task in tasks:
        expected = population.predict(task, images).numpy()
        np.testing.assert_allclose(logits(task, images), expected, atol=1e-5)


def temporaries(workdir):
    return sorted(n for n in os.listdir(workdir) if n.startswith("tmp-"))


def interrupt_refresh(workdir):
    """The issue's kill: the new export complete as `tmp-*.saved_model`, the
    old `saved_model/` half deleted (no saved_model.pb)."""
    tmp = os.path.join(workdir, "tmp-0123.saved_model")
    shutil.copytree(saved_model(workdir), tmp)
    os.remove(os.path.join(saved_model(workdir), "saved_model.pb"))
    return tmp


def test_refresh_stamps_the_state_it_exports(run):
    workdir, population = run
    assert workdir_export.exported_from(saved_model(workdir)) == "state_1_0"
    assert_serves(workdir, population)
    assert temporaries(workdir) == []


def test_an_interrupted_refresh_is_repaired_by_moving_the_temporary(run):
    workdir, population = run
    interrupt_refresh(workdir)
    assert workdir_export.exported_from(saved_model(workdir)) is None
    with pytest.raises((OSError, tf.errors.OpError, SystemExit)):
        predict.load_model(saved_model(workdir))
    assert workdir_export.repair(workdir, population, 1, 0) == "moved"
    assert temporaries(workdir) == []
    assert workdir_export.exported_from(saved_model(workdir)) == "state_1_0"
    assert_serves(workdir, population)


def test_without_a_complete_temporary_it_exports_again(run):
    workdir, population = run
    tmp = interrupt_refresh(workdir)
    os.remove(os.path.join(tmp, workdir_export.STAMP))  # Incomplete.
    os.makedirs(os.path.join(workdir, "tmp-4567.saved_model"))
    assert workdir_export.repair(workdir, population, 1, 0) == "exported"
    assert temporaries(workdir) == []
    assert_serves(workdir, population)
    # Current: nothing to do.
    assert workdir_export.repair(workdir, population, 1, 0) == "current"


def test_an_export_of_an_older_state_is_replaced(run):
    workdir, population = run
    state.save_state(population, workdir, 2)
    assert workdir_export.repair(workdir, population, 2, 0) == "exported"
    assert workdir_export.exported_from(saved_model(workdir)) == "state_2_0"


def test_killed_between_the_two_renames_the_new_one_is_moved_in(run):
    workdir, population = run
    state.save_state(population, workdir, 2)
    old = os.path.join(workdir, "tmp-0.saved_model")
    shutil.copytree(saved_model(workdir), old)  # state_1_0's, renamed aside.
    workdir_export.refresh(population, workdir)
    os.rename(saved_model(workdir), os.path.join(workdir, "tmp-1.saved_model"))
    assert workdir_export.repair(workdir, population, 2, 0) == "moved"
    assert workdir_export.exported_from(saved_model(workdir)) == "state_2_0"
    assert temporaries(workdir) == []


def test_an_error_between_the_two_renames_puts_the_old_one_back(
    run, monkeypatch
):
    workdir, population = run
    state.save_state(population, workdir, 2)
    move_dir, moves = storage.move_dir, []

    def fail_second(src, dst):
        moves.append(dst)
        if len(moves) == 2:
            raise OSError("disk full")
        move_dir(src, dst)

    monkeypatch.setattr(storage, "move_dir", fail_second)
    with pytest.raises(OSError, match="disk full"):
        workdir_export.refresh(population, workdir)
    monkeypatch.undo()
    assert workdir_export.exported_from(saved_model(workdir)) == "state_1_0"
    assert temporaries(workdir) == []


def test_mid_task_it_exports_the_last_task_end_state_if_kept(run):
    workdir, population = run
    shutil.rmtree(saved_model(workdir))
    state.save_state(population, workdir, 1, 2)  # LAST: mid-task.
    assert workdir_export.repair(workdir, population, 1, 2) == "exported"
    assert workdir_export.exported_from(saved_model(workdir)) == "state_1_0"
    shutil.rmtree(saved_model(workdir))
    shutil.rmtree(os.path.join(workdir, "state_1_0"))  # keep_states.
    assert workdir_export.repair(workdir, population, 1, 2) == "unavailable"
    assert not os.path.exists(saved_model(workdir))


def test_refresh_needs_a_state(tmp_path):
    population, _, _ = systems.two_task_system()
    with pytest.raises(ValueError, match="has no state .*no LAST"):
        workdir_export.refresh(population, str(tmp_path))
    assert not os.listdir(tmp_path)
