"""A controller's user tasks are checked when it is made, before anything is
built, trained or written (issue 21, item 8)."""

import numpy as np
import pytest

from mu2keras import experiment
from mu2keras import tasks as tasks_lib
from mu2keras.evolution import controller as controller_lib
from mu2keras.system import population as population_lib


def user_task(name, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(48) % 2
    images = rng.integers(0, 255, (48, 8, 8, 1)).astype("uint8")
    return tasks_lib.from_arrays(name, images, labels)


def tiny_config(tasks):
    c = experiment.default_config()
    c.tasks = list(tasks)
    c.root.variant = "testing"
    c.hparams.ds_image_size = 8
    c.num_samples_per_task = 2
    c.num_candidates = 1
    c.batch_size = 16
    c.max_train_examples_between_validations = 32
    c.num_validations = 2
    c.max_validation_examples = 16
    return c


CASES = {
    "key is not the task's name": (
        ["mine"],
        {"mine": user_task("other")},
        "tasks: the key 'mine' holds the task named 'other'; key each task "
        "by its own name ({task.name: task}).",
    ),
    "key with the private prefix": (
        ["private:mine"],
        {"private:mine": user_task("private:mine")},
        "tasks: the key 'private:mine' holds the task named 'mine'; key each "
        "task by its own name ({task.name: task}).",
    ),
    "value is not a task": (
        ["mine"],
        {"mine": "mine.npz"},
        "tasks['mine'] is 'mine.npz' (str), not a task (make tasks with "
        "mu2keras.tasks.from_arrays or from_datasets).",
    ),
    "task neither given nor known": (
        ["mine", "mien"],
        {"mine": user_task("mine")},
        "Unknown task 'mien'. `mu2keras.tasks.task_names()` lists every "
        "known name; use `from_arrays` or `from_datasets` for your own data.",
    ),
    "private task named as public": (
        ["mine"],
        {"mine": user_task("private:mine")},
        "config.tasks names 'mine', but that task was made private (its "
        "maker was given 'private:mine'); write 'private:mine' in "
        "config.tasks.",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_create_refuses_wrong_tasks_before_any_work(name, tmp_path):
    names, tasks, message = CASES[name]
    workdir = tmp_path / "run"
    with pytest.raises(ValueError) as raised:
        controller_lib.Controller.create(
            tiny_config(names), str(workdir), tasks=tasks
        )
    assert str(raised.value) == message
    assert not workdir.exists()  # Nothing trained, nothing written.


def test_resume_checks_them_too(tmp_path):
    """`Controller.resume` makes its controller with the same check."""
    config = tiny_config(["mine"])
    defaults, _ = experiment.check_config(config)
    root, hparams = experiment.build_root(config, defaults)
    population = population_lib.Population.from_root(root, hparams)
    with pytest.raises(ValueError, match="the key 'mine' holds the task"):
        controller_lib.Controller(
            config, str(tmp_path), population, tasks={"mine": user_task("x")}
        )


def test_tasks_keyed_by_their_names_make_a_controller(tmp_path):
    tasks = {"mine": user_task("mine"), "spare": user_task("spare")}
    config = tiny_config(["mine", "embedded/digits"])
    controller = controller_lib.Controller.create(
        config, str(tmp_path / "run"), tasks=tasks
    )
    assert controller.task("mine") is tasks["mine"]
