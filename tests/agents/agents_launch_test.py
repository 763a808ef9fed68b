"""Three agent processes grow one shared system at once (issue 22).

Each `python -m launch.agent` runs its own embedded task on the runlocal
config, on one local temp directory; one is killed (SIGKILL) mid-cycle
and restarted. Then the system is exported and reported as a whole.
"""

import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mu2keras import agents
from mu2keras.agents import layout
from mu2keras.storage import state as state_lib
from mu2keras.system import immutability

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
CONFIG = "--config=configs/agent.py:runlocal"
TASKS = ("embedded/digits", "embedded/textures", "embedded/mnist")
CLASSES = {"embedded/digits": 10, "embedded/textures": 3, "embedded/mnist": 10}
KILLED = "embedded/textures"
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
CANDIDATE = re.compile(r"\] gen \d/2 cand 1/1: path \d+ from path \d+ ")
REUSE = re.compile(r"path \d+ from path \d+ \((embedded/\w+)\)")


def command(launcher, *args):
    return [sys.executable, "-m", f"launch.{launcher}", *map(str, args)]


def start(system, task):
    return subprocess.Popen(
        command("agent", CONFIG, f"--system={system}", f"--task={task}"),
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def launch(launcher, *args):
    result = subprocess.run(
        command(launcher, *args),
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Three agents at once; the textures one killed in its second cycle
    (after its second cycle's first candidate) and started again."""
    system = tmp_path_factory.mktemp("system")
    processes = {task: start(system, task) for task in TASKS}
    killed = processes.pop(KILLED)
    seen, lines = 0, []
    for line in killed.stderr:
        lines.append(line)
        seen += bool(CANDIDATE.search(line))
        if seen == 3:  # Cycle 1 is 2 candidates: mid-cycle 2.
            killed.send_signal(signal.SIGKILL)
            break
    killed.stderr.close()
    assert killed.wait(timeout=60) == -signal.SIGKILL, "".join(lines[-20:])
    name = agents.agent_name(KILLED)
    before = state_lib.verify_state(layout.agent_dir(str(system), name))
    restarted = start(system, KILLED)
    logs = {KILLED: restarted.communicate(timeout=300)[1]}
    for task, process in processes.items():
        logs[task] = process.communicate(timeout=300)[1]
        assert process.returncode == 0, logs[task][-3000:]
    assert restarted.returncode == 0, logs[KILLED][-3000:]
    return system, logs, before


def test_every_agent_published_two_cycles_in_its_folder(system):
    directory, logs, _ = system
    for task in TASKS:
        folder = layout.agent_dir(str(directory), agents.agent_name(task))
        last = state_lib.verify_state(folder)
        assert (last.loop, last.generation) == (2, 0)
        assert last.config["experiment"]["tasks"] == [task]
        # Each holds only its own task's path; the others are references.
        assert re.search(r"immutability check passed", logs[task])
    assert sorted(layout.agents(str(directory))) == sorted(
        agents.agent_name(t) for t in TASKS
    )


def test_killed_agent_resumed_from_its_own_last_state(system):
    _, logs, before = system
    # Killed in cycle 2, whose first generation may be saved or not yet.
    assert before.loop == 1 and before.generation in (0, 1)
    resumed = f"at cycle 1, generation {before.generation}; holds tasks"
    assert resumed in logs[KILLED]
    # Only the rest of cycle 2 ran again.
    assert len(CANDIDATE.findall(logs[KILLED])) == 2 - before.generation


def test_system_export_serves_every_task(system, tmp_path):
    directory, _, _ = system
    output = tmp_path / "export"
    result = launch("export", f"--state={directory}", f"--output={output}")
    loaded = agents.load_system(str(directory))  # Verifies fingerprints.
    assert sorted(loaded.population.tasks) == sorted(TASKS)
    model = tf.saved_model.load(str(output))
    names = model.signatures["task_names"]()["task_names"].numpy()
    assert sorted(n.decode() for n in names) == sorted(TASKS)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3))
    images = tf.constant(images.astype("float32"))
    for task in TASKS:
        assert f"signature task_{task.replace('/', '_')}" in result.stdout
        signature = model.signatures["task_" + task.replace("/", "_")]
        logits = signature(images=images)["logits"].numpy()
        assert logits.shape == (2, CLASSES[task])
        np.testing.assert_allclose(
            logits,
            loaded.population.predict(task, images),
            rtol=1e-5,
            atol=1e-5,
        )


def test_paths_are_bit_identical_to_what_each_agent_published(system):
    directory, _, _ = system
    loaded = agents.load_system(str(directory), verify=False)
    keys = loaded.config["path_keys"]
    published = {}
    for task in TASKS:
        folder = layout.agent_dir(str(directory), agents.agent_name(task))
        saved = state_lib.verify_state(folder).config["agent"]
        published.update(saved["fingerprints"])
    checked = 0
    for path in loaded.population.retained_paths():
        key = keys[str(path.id)]
        if not layout.is_root_key(key):
            assert immutability.fingerprint(path) == published[key], key
            checked += 1
    assert checked == len(TASKS)


def test_agents_reuse_each_others_paths_and_report_the_system(system):
    directory, logs, _ = system
    parents = {m for task in TASKS for m in REUSE.findall(logs[task])}
    assert len(parents) > 1  # Some child grew from another agent's path.
    result = launch("report", f"--state={directory}")
    assert f"{directory}/report/leaderboard.csv" in result.stdout
    with open(f"{directory}/report/leaderboard.csv") as f:
        rows = f.read().splitlines()[1:]
    assert sorted(row.split(",")[0] for row in rows) == sorted(TASKS)


def test_a_lone_agent_state_is_refused_by_the_plain_loaders(system):
    directory, _, _ = system
    folder = layout.agent_dir(str(directory), agents.agent_name(KILLED))
    with pytest.raises(state_lib.StateError, match="part of a shared system"):
        state_lib.load_state(folder)
