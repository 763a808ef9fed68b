"""User tasks through the launchers: `config.user_tasks = "module:function"`
(issue 21, item 16).

A hook module and a config written in a tmp dir: a run killed mid-task,
resumed with --auto_continue (the hook called again), exported, reported
and predicted on with --examples; and every way a hook can be wrong, one
line naming it.
"""

import concurrent.futures
import importlib.util
import json
import os
import re
import signal
import subprocess

import numpy as np
import pytest

from configs import user_data
from mu2keras import experiment
from mu2keras import tasks as tasks_lib
from mu2keras.storage import state as state_lib
from mu2keras.tasks import task_hook
from tests.launch import launchers_test
from tests.launch.launchers_test import command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TASK = "hooked/blobs"
MODULE = "hooked_tasks"
HOOK = f"{MODULE}:make_tasks"

# Two classes of 8×8 grey images, told apart by brightness; each call of the
# hook appends a line to calls.txt beside the module.
HOOK_MODULE = f"""
import os

import numpy as np

from mu2keras import tasks


def make_tasks():
    with open(os.path.join(os.path.dirname(__file__), "calls.txt"), "a") as f:
        f.write("call\\n")
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 2
    noise = rng.uniform(0, 60, (96, 8, 8, 1))
    images = (noise + labels[:, None, None, None] * 120).astype("uint8")
    return [
        tasks.from_arrays(
            "{TASK}", images, labels, class_names=["dark", "light"]
        )
    ]


def not_a_list():
    return {{"{TASK}": make_tasks()[0]}}


def with_a_string():
    return [make_tasks()[0], "{TASK}"]


def nothing():
    return []


def twice():
    return make_tasks() + make_tasks()


def registry_name():
    images, labels = np.zeros((8, 8, 8), "uint8"), np.arange(8) % 2
    pair = (images, labels)
    return [
        tasks.from_arrays(
            "embedded/digits", *pair, validation=pair, test=pair
        )
    ]


def broken():
    raise OSError("no such file: /data/mine.npz\\n(second line)")


NUMBER = 3
"""
BROKEN_MODULE = "raise ImportError('needs the shapes package')\n"

# The demo's runlocal on the hooked task alone: 3 generations of 1.
CONFIG = f"""
from configs import demo


def get_config(arg=None):
    config = demo.get_config("runlocal")
    config.user_tasks = arg or "{HOOK}"
    config.tasks = ["{TASK}"]
    config.num_task_iters = 1
    config.num_samples_per_task = 3
    return config
"""
GENERATION_2 = re.compile(rf"\[{TASK}\] gen 2/3 cand 1/1")


def environment(folder):
    return dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(folder), ROOT]),
    )


def launch(folder, launcher, *args, check=True):
    env = environment(folder)
    return launchers_test.launch(launcher, *args, check=check, env=env)


def calls(folder):
    path = folder / "calls.txt"
    return path.read_text().count("call") if path.exists() else 0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The tmp dir holding the hook module and the config."""
    folder = tmp_path_factory.mktemp("hook")
    (folder / f"{MODULE}.py").write_text(HOOK_MODULE)
    (folder / "broken_tasks.py").write_text(BROKEN_MODULE)
    (folder / "tiny.py").write_text(CONFIG)
    return folder


@pytest.fixture(scope="module")
def run(folder):
    """A run killed mid-task, then resumed, exported, reported, predicted."""
    workdir = folder / "run"
    config = f"--config={folder / 'tiny.py'}"
    process = subprocess.Popen(
        command("evolve", config, f"--workdir={workdir}"),
        cwd=ROOT,
        env=environment(folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if GENERATION_2.search(line):  # Generation 1's state is saved.
            process.send_signal(signal.SIGKILL)
            break
    process.stderr.close()
    assert process.wait(timeout=60) == -signal.SIGKILL
    killed = state_lib.load_state(str(workdir))
    calls_before = calls(folder)
    results = {
        "resume": launch(
            folder, "evolve", config, f"--workdir={workdir}", "--auto_continue"
        )
    }
    export = workdir / "export"
    results["export"] = launch(
        folder, "export", f"--state={workdir}", f"--output={export}"
    )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        report = pool.submit(
            launch,
            folder,
            "report",
            f"--state={workdir}",
            f"--output={folder / 'report'}",
        )
        results["predict"] = launch(
            folder,
            "predict",
            f"--model={export}",
            "--examples=2",
            f"--user_tasks={HOOK}",
        )
        results["report"] = report.result()
    return workdir, killed, (calls_before, calls(folder)), results


def test_a_killed_run_resumes_and_calls_the_hook_again(run):
    workdir, killed, (calls_before, calls_after), results = run
    assert (killed.loop, killed.generation) == (0, 1)
    assert calls_before == 1  # The killed run called it once.
    assert f"Resuming {workdir} from {killed.directory}" in (
        results["resume"].stderr
    )
    final = state_lib.load_state(str(workdir))
    assert (final.loop, final.generation) == (1, 0)
    assert final.population.tasks == [TASK]
    assert len(final.population.paths[TASK]) == 1
    # The state records the hook string; the hook ran once per launch:
    # the killed run, the resume and predict.
    assert final.config["experiment"]["user_tasks"] == HOOK
    assert calls_after == 3


def test_export_report_and_predict_examples(folder, run):
    workdir, _, _, results = run
    assert (
        "signature task_hooked_blobs (uint8: task_hooked_blobs_uint8): "
        f"{TASK}, 2 classes" in results["export"].stdout
    )
    with open(folder / "report" / "stats.json") as f:
        assert json.load(f)
    assert "leaderboard.csv" in results["report"].stdout
    lines = results["predict"].stdout.splitlines()
    assert lines[0] == f"{TASK}:"
    for index, line in enumerate(lines[1:]):
        # The classes are told apart by brightness: the first guess is true.
        pattern = (
            rf"  {TASK} test\[{index}\] \(true (\d '\w+')\): "
            r"(\d '\w+') [01]\.\d{3}, \d '\w+' [01]\.\d{3}"
        )
        found = re.fullmatch(pattern, line)
        assert found and found[1] == found[2], line
    assert len(lines) == 3


def test_a_resume_with_another_hook_is_refused(folder, run):
    from launch import evolve

    spec = importlib.util.spec_from_file_location("tiny", folder / "tiny.py")
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    last = state_lib.latest_state(str(run[0]))
    evolve.check_same_config(tiny.get_config(), last)  # The same: passes.
    with pytest.raises(SystemExit, match=r"started with in user_tasks\."):
        evolve.check_same_config(tiny.get_config(f"{MODULE}:twice"), last)


# --- Every way a hook can be wrong: one line naming it. ---

WHERE = "config.user_tasks={!r}: "
MAKERS = "mu2keras.tasks.from_arrays or from_datasets"
HOOK_ERRORS = {
    "no_colon": "not 'module:function' (e.g. 'my_tasks:make_tasks').",
    "nosuch_tasks:make_tasks": (
        "cannot import module 'nosuch_tasks' (ModuleNotFoundError: No "
        "module named 'nosuch_tasks'); is its folder on PYTHONPATH?"
    ),
    "broken_tasks:make_tasks": (
        "cannot import module 'broken_tasks' (ImportError: needs the shapes "
        "package); is its folder on PYTHONPATH?"
    ),
    f"{MODULE}:make_task": f"{MODULE} has no attribute 'make_task'.",
    f"{MODULE}:NUMBER": f"{MODULE}.NUMBER is 3 (int), not a function.",
    f"{MODULE}:not_a_list": (
        f"returned {{'{TASK}': <ArrayTask '{TASK}': 2 classes>}} (dict); "
        f"expected a non-empty list of tasks made with {MAKERS}."
    ),
    f"{MODULE}:nothing": (
        f"returned [] (list); expected a non-empty list of tasks made with "
        f"{MAKERS}."
    ),
    f"{MODULE}:with_a_string": (
        f"item 1 of the list it returned is '{TASK}' (str), not a task "
        f"(make tasks with {MAKERS})."
    ),
    f"{MODULE}:twice": f"returned two tasks named '{TASK}'.",
    f"{MODULE}:registry_name": (
        "its task 'embedded/digits' has the name of a registry task "
        "(`mu2keras.tasks.task_names()`); give it another name."
    ),
    f"{MODULE}:broken": (
        "raised OSError: no such file: /data/mine.npz (second line)"
    ),
}


@pytest.mark.parametrize("hook", sorted(HOOK_ERRORS))
def test_a_wrong_hook_fails_in_one_line_naming_it(folder, monkeypatch, hook):
    monkeypatch.syspath_prepend(str(folder))
    with pytest.raises(task_hook.UserTaskHookError) as raised:
        task_hook.load_user_tasks(hook)
    assert str(raised.value) == WHERE.format(hook) + HOOK_ERRORS[hook]


def test_the_launchers_refuse_a_wrong_hook_in_one_line(folder, run):
    workdir = folder / "fresh"
    bad = "nosuch_tasks:make_tasks"
    export = run[0] / "export"
    cases = {
        "evolve": (
            [
                "evolve",
                f"--config={folder / 'tiny.py'}:{bad}",
                f"--workdir={workdir}",
            ],
            f"evolve: --config: {WHERE.format(bad)}{HOOK_ERRORS[bad]}",
        ),
        "predict": (
            [
                "predict",
                f"--model={export}",
                "--examples=1",
                f"--user_tasks={bad}",
            ],
            f"predict: --user_tasks={bad}: {HOOK_ERRORS[bad]}",
        ),
        "predict without the hook": (
            ["predict", f"--model={export}", "--examples=1"],
            f"predict: --examples: cannot read the data of {TASK}: Unknown "
            f"task '{TASK}'. `mu2keras.tasks.task_names()` lists every known "
            "name; use `from_arrays` or `from_datasets` for your own data. "
            "(a user task? pass --user_tasks)",
        ),
    }
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = {
            name: pool.submit(launch, folder, *args, check=False)
            for name, (args, _) in cases.items()
        }
        results = {name: f.result() for name, f in futures.items()}
    for name, (_, line) in cases.items():
        result = results[name]
        assert result.returncode == 1, (name, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, name
        assert result.stderr.strip().splitlines()[-1] == line, name
    assert not workdir.exists()


def test_the_example_config_names_its_hook_tasks():
    config = user_data.get_config("runlocal")
    experiment.check_config(config)
    tasks = task_hook.resolve_tasks(config)
    (task,) = tasks.values()
    assert task.name == "mine/digit_parity"
    assert config.tasks == ["embedded/textures", "mine/digit_parity"]
    assert task.class_names == ["even", "odd"]
    images, labels = task.arrays("test")
    assert images.dtype == np.uint8 and set(labels) == {0, 1}
    assert isinstance(task, tasks_lib.Task)
