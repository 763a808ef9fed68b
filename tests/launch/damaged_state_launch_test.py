"""The launchers on a damaged or missing state: one line, nothing written.

`evolve` (--auto_continue, --continue_from), `export`, `report` and
`predict` each print exactly one line on stderr, `LAUNCHER: ...`, naming
the state file and its damage (checked before anything is parsed) and any
earlier complete state, which is offered, never used; no traceback, and
no file is created, changed or deleted.
"""

import concurrent.futures
import json
import os
import re
import shutil

import pytest

from mu2keras.storage import state as state_lib
from tests.launch.launchers_test import DEMO
from tests.launch.launchers_test import launch
from tests.system import systems

# No C++ start-up notices: stderr holds only what the launcher prints.
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
WEIGHTS = "weights.data-00000-of-00001"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A workdir with states 1_0, 1_1 (mid-task), 2_0 (LAST), saved with
    the demo's runlocal config, as `launch.evolve` would save it."""
    from configs import demo

    workdir = tmp_path_factory.mktemp("saved") / "run"
    config = {"experiment": demo.get_config("runlocal").to_dict()}
    population, _, _ = systems.two_task_system()
    for loop, generation in ((1, 0), (1, 1), (2, 0)):
        state_lib.save_state(population, str(workdir), loop, generation, config)
    return workdir


def flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def change_config_value(path):
    """The saved num_samples_per_task plus one: a valid, changed config."""
    data = path.read_bytes()
    field = json.loads(data)["experiment"]["num_samples_per_task"]
    old = f'"num_samples_per_task": {field}'.encode()
    assert len(str(field)) == 1 and data.count(old) == 1
    new = f'"num_samples_per_task": {(field + 1) % 10}'.encode()
    path.write_bytes(data.replace(old, new))


def break_json(path):
    path.write_bytes(b"[" + path.read_bytes()[1:])


def cases(w):
    """name -> (damage, launcher args, the one line expected)."""
    last = f"{w}/state_2_0"
    earlier = (
        f"An earlier complete state exists: {w}/state_1_1; to resume from "
        f"it, write state_1_1 into {w}/LAST."
    )
    resume = ["evolve", DEMO, f"--workdir={w}", "--auto_continue"]
    missing = f"{w}/LAST names state_2_0, but there is no {last} (deleted)."
    offer = f"An earlier complete state exists: {w}/state_1_1; pass"
    manifest = json.loads((w / "state_2_0" / "MANIFEST.json").read_text())
    index_bytes = manifest["files"]["weights.index"]["bytes"]
    return {
        "auto_continue, weights": (
            lambda: flip(w / "state_2_0" / WEIGHTS),
            resume,
            f"evolve: --auto_continue: State file {last}/{WEIGHTS} fails its "
            f"sha256 checksum (corrupt). {earlier}",
        ),
        "auto_continue, config value": (
            lambda: change_config_value(w / "state_2_0" / "config.json"),
            resume,
            f"evolve: --auto_continue: State file {last}/config.json fails "
            f"its sha256 checksum (corrupt). {earlier}",
        ),
        "auto_continue, config not JSON": (
            lambda: break_json(w / "state_2_0" / "config.json"),
            resume,
            f"evolve: --auto_continue: State file {last}/config.json fails "
            f"its sha256 checksum (corrupt). {earlier}",
        ),
        "auto_continue, LAST names a missing state": (
            lambda: shutil.rmtree(w / "state_2_0"),
            resume,
            f"evolve: --auto_continue: {missing} {earlier}",
        ),
        "continue_from, population": (
            lambda: flip(w / "state_2_0" / "population.json"),
            ["evolve", DEMO, f"--workdir={w}_new", f"--continue_from={w}"],
            # A finished state: --continue_from takes no mid-task one.
            f"evolve: --continue_from={w}: State file {last}/population.json"
            f" fails its sha256 checksum (corrupt). An earlier complete state "
            f"exists: {w}/state_1_0; pass --continue_from={w}/state_1_0 to "
            "use it.",
        ),
        "export, LAST names a missing state": (
            lambda: shutil.rmtree(w / "state_2_0"),
            ["export", f"--state={w}", f"--output={w}_export"],
            f"export: --state: {missing} {offer} --state={w}/state_1_1 to "
            "use it.",
        ),
        "report, truncated index": (
            lambda: (w / "state_2_0" / "weights.index").write_bytes(b"x"),
            ["report", f"--state={w}"],
            f"report: --state: State file {last}/weights.index has 1 bytes; "
            f"the manifest says {index_bytes} (truncated or overwritten). "
            f"{offer} --state={w}/state_1_1 to use it.",
        ),
        "predict, no manifest": (
            lambda: os.remove(w / "state_2_0" / "MANIFEST.json"),
            ["predict", f"--model={w}", "--examples=1"],
            f"predict: --model={w} is no SavedModel, and no state: {last}, "
            f"named by {w}/LAST, is incomplete: missing "
            f"{last}/MANIFEST.json. {offer} --model={w}/state_1_1 to use it.",
        ),
    }


NAMES = (
    "auto_continue, weights",
    "auto_continue, config value",
    "auto_continue, config not JSON",
    "auto_continue, LAST names a missing state",
    "continue_from, population",
    "export, LAST names a missing state",
    "report, truncated index",
    "predict, no manifest",
)


def listing(folder):
    """Every file and directory under `folder`: size and mtime."""
    result = {}
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(parent, name)
            info = os.stat(path)
            result[os.path.relpath(path, folder)] = (
                info.st_size,
                info.st_mtime_ns,
            )
    return result


def run(args):
    return launch(*args, check=False, env=ENV)


@pytest.fixture(scope="module")
def results(saved, tmp_path_factory):
    """name -> (expected line, result, listing before, listing after)."""
    prepared = {}
    for index, name in enumerate(NAMES):
        folder = tmp_path_factory.mktemp(f"case{index}")
        workdir = folder / "run"
        shutil.copytree(saved, workdir)
        damage, args, expected = cases(workdir)[name]
        damage()
        prepared[name] = (folder, args, expected, listing(folder))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = {
            name: pool.submit(run, args)
            for name, (_, args, _, _) in prepared.items()
        }
        done = {name: future.result() for name, future in futures.items()}
    return {
        name: (expected, done[name], before, listing(folder))
        for name, (folder, _, expected, before) in prepared.items()
    }


@pytest.mark.parametrize("name", NAMES)
def test_one_line_names_the_damage_and_nothing_changes(results, name):
    expected, result, before, after = results[name]
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.splitlines() == [expected], result.stderr[-3000:]
    assert not re.search(r"Traceback|Error:", result.stderr)
    assert result.stdout == ""
    assert after == before
