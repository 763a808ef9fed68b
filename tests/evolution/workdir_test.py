"""A controller's workdir: one run, one writer, a SavedModel that matches."""

import json
import os
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf

from launch import predict
from mu2keras import progress as progress_lib
from mu2keras.evolution import controller as controller_lib
from mu2keras.storage import lease as lease_lib
from mu2keras.storage import state as state_lib
from mu2keras.storage import workdir as workdir_lib
from mu2keras.storage import workdir_export
from tests.evolution.controller_test import TASKS
from tests.evolution.controller_test import tiny_config


def config():
    return tiny_config(tasks=("a", "b"), num_task_iters=1)


class LeaseWatcher(progress_lib.Progress):
    """Reads the workdir's lease at every save."""

    def __init__(self):
        self.seen = []

    def state_saved(self, controller, seconds, intermediate):
        self.seen.append(lease_lib.read(controller.workdir))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run (2 tasks), and the leases seen while it ran."""
    workdir = str(tmp_path_factory.mktemp("run"))
    watcher = LeaseWatcher()
    controller_lib.Controller.create(
        config(), workdir, tasks=TASKS, progress=watcher
    ).run()
    return workdir, watcher.seen


@pytest.fixture
def copy(finished, tmp_path):
    """A copy of the finished run's workdir, to change."""
    workdir = str(tmp_path / "run")
    shutil.copytree(finished[0], workdir)
    return workdir


def listing(workdir):
    return sorted(os.listdir(workdir)), state_lib.latest_state(workdir)


def resume(workdir):
    return controller_lib.Controller.resume(config(), workdir, tasks=TASKS)


def test_run_holds_the_lease_and_releases_it(finished):
    workdir, seen = finished
    assert len(seen) == 4  # 2 tasks × 2 generations.
    assert {r["token"] for r in seen} == {seen[0]["token"]}
    assert seen[0]["owner"].startswith("Controller.run (")
    assert seen[0]["pid"] == os.getpid()
    assert lease_lib.FILENAME not in os.listdir(workdir)


def test_create_refuses_a_workdir_that_holds_a_run(finished):
    workdir, _ = finished
    before = listing(workdir)
    with pytest.raises(ValueError) as refused:
        controller_lib.Controller.create(config(), workdir, tasks=TASKS)
    message = str(refused.value)
    assert "\n" not in message
    assert f"{workdir} already holds a run" in message
    assert "Controller.resume" in message and "--auto_continue" in message
    assert listing(workdir) == before


def test_a_second_writer_is_refused_and_changes_nothing(copy):
    now = time.time()
    other = {
        "format": lease_lib.FORMAT,
        "owner": "another run",
        "token": "x",
        "host": "another-host",
        "pid": 7,
        "since": now,
        "heartbeat": now,
    }
    with open(os.path.join(copy, lease_lib.FILENAME), "w") as f:
        f.write(json.dumps(other))
    shutil.rmtree(os.path.join(copy, workdir_export.SAVED_MODEL))
    before = listing(copy)
    with pytest.raises(lease_lib.LeaseHeld, match="leased by another run"):
        resume(copy).run()
    assert listing(copy) == before  # Not even the SavedModel repaired.


def test_a_controller_refuses_a_workdir_that_moved_on(copy):
    controller = resume(copy)
    loaded = state_lib.load_state(copy)
    state_lib.save_state(loaded.population, copy, 3, config=loaded.config)
    with pytest.raises(workdir_lib.WorkdirError, match="LAST names .*3_0"):
        controller.run()
    assert lease_lib.FILENAME not in os.listdir(copy)  # Released.


def test_resume_repairs_an_export_killed_during_the_last_refresh(copy):
    # What a kill during the final refresh left: the new export complete
    # as a temporary, `saved_model/` without its saved_model.pb.
    saved_model = os.path.join(copy, workdir_export.SAVED_MODEL)
    shutil.copytree(saved_model, os.path.join(copy, "tmp-9.saved_model"))
    os.remove(os.path.join(saved_model, "saved_model.pb"))
    population = resume(copy).run()  # Nothing left to train.
    assert workdir_export.exported_from(saved_model) == "state_2_0"
    tasks, logits = predict.load_model(saved_model)
    assert tasks == population.tasks == ["a", "b"]
    assert logits("a", np.zeros((2, 8, 8, 1), "float32")).shape == (2, 3)
    assert not [n for n in os.listdir(copy) if n.startswith("tmp-")]


def test_only_the_chief_worker_holds_the_lease(monkeypatch):
    strategy = tf.distribute.get_strategy()
    assert workdir_lib.is_chief(strategy)
    monkeypatch.setenv("TPU_WORKER_ID", "2")  # Host 2 of a TPU pod slice.
    assert not workdir_lib.is_chief(strategy)
    monkeypatch.setenv("TPU_WORKER_ID", "0")
    assert workdir_lib.is_chief(strategy)


def test_a_worker_that_is_not_the_chief_writes_nothing(tmp_path, monkeypatch):
    # Host 1 of a pod slice runs the same loop as host 0, which writes.
    monkeypatch.setenv("TPU_WORKER_ID", "1")
    workdir = str(tmp_path / "run")
    population = controller_lib.Controller.create(
        config(), workdir, tasks=TASKS
    ).run()
    assert population.tasks == ["a", "b"]
    assert not os.path.exists(workdir) or os.listdir(workdir) == []
