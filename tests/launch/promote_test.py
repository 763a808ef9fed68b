"""evolve --promote_from/--promote_task, end to end in subprocesses.

A one-task run on a tiny root, then a new run rooted on its best path, as
docs/launchers.md's two-stage command; its resume; and the wrong mixes of
flags, which must fail before any work.
"""

import json
import os
import re

import numpy as np
import pytest

from mu2keras import architecture
from mu2keras.architecture import VARIANT_KEY
from mu2keras.storage import state as state_lib
from mu2keras.system.component import ROOT_TASK
from tests.launch.launchers_test import launch
from tests.launch.launchers_test import launch_all

# The demo's runlocal, one task (the config argument) and two candidates.
TINY_CONFIG = """
from configs import demo


def get_config(arg=None):
    config = demo.get_config("runlocal")
    config.tasks = [arg or "embedded/digits"]
    config.num_task_iters = 1
    config.num_samples_per_task = 2
    config.export_saved_model = False
    return config
"""
FIRST, SECOND = "embedded/digits", "embedded/textures"


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """(config file, first workdir, second workdir, second run's result).

    The second run grows embedded/textures from the first run's
    embedded/digits path.
    """
    tmp = tmp_path_factory.mktemp("promote")
    config = tmp / "tiny.py"
    config.write_text(TINY_CONFIG)
    first, second = tmp / "first", tmp / "second"
    launch("evolve", f"--config={config}", f"--workdir={first}")
    listing = snapshot(first)
    result = launch(
        "evolve",
        f"--config={config}:{SECOND}",
        f"--workdir={second}",
        f"--promote_from={first}",
        f"--promote_task={FIRST}",
    )
    assert snapshot(first) == listing  # Read, never modified.
    return config, first, second, result


def snapshot(directory):
    """Every file under `directory` with its bytes."""
    result = {}
    for parent, _, names in os.walk(directory):
        for name in names:
            with open(os.path.join(parent, name), "rb") as f:
                result[os.path.relpath(os.path.join(parent, name))] = f.read()
    return result


def test_the_new_root_is_the_first_runs_best_path(stages):
    _, first, second, _ = stages
    first_state = state_lib.load_state(str(first))
    loaded = state_lib.load_state(str(second))
    best = first_state.population.best_path(FIRST)
    root = loaded.population.paths[ROOT_TASK][0]
    assert loaded.population.tasks == [SECOND]
    assert [c.name for c in root.components] == [
        c.name for c in best.components
    ]
    for mine, theirs in zip(root.components, best.components, strict=True):
        if mine.name == architecture.HEAD:
            assert mine.layer.num_classes == 1
            assert not any(np.any(w) for w in mine.layer.get_weights())
            continue
        for a, b in zip(
            mine.layer.get_weights(), theirs.layer.get_weights(), strict=True
        ):
            assert np.array_equal(a, b), mine.name
    assert root.hparams[VARIANT_KEY]["name"] == "testing"
    assert root.hparams["num_layers"] == best.num_layers
    assert root.hparams["adapter_layers"] == best.hparams["adapter_layers"]
    assert root.image_size == best.image_size
    saved = loaded.config["experiment"]["root"]
    assert saved["promote_from"] == str(first)
    assert saved["promote_task"] == FIRST


def test_resume_with_the_same_flags_passes_the_config_check(stages):
    config, first, second, _ = stages
    before = state_lib.latest_state(str(second))
    flags = [f"--config={config}:{SECOND}", f"--workdir={second}"]
    promote = [f"--promote_from={first}", f"--promote_task={FIRST}"]
    resumed = launch("evolve", *flags, *promote, "--auto_continue")
    assert f"Resuming {second} from {before}" in resumed.stderr
    assert state_lib.latest_state(str(second)) == before
    changed = launch("evolve", *flags, "--auto_continue", check=False)
    assert changed.returncode != 0
    assert (
        "differs from the one the run started with in root.promote_from, "
        "root.promote_task" in changed.stderr
    )


def bad_invocations(config, first, fresh, tmp_path):
    base = ["evolve", f"--config={config}:{SECOND}", f"--workdir={fresh}"]
    source, task = f"--promote_from={first}", f"--promote_task={FIRST}"
    return {
        "only promote_from": (
            [*base, source],
            "evolve: --promote_from and --promote_task go together",
        ),
        "only promote_task": (
            [*base, task],
            r"go together .*got --promote_from=None, --promote_task='embedded",
        ),
        "with continue_from": (
            [*base, source, task, f"--continue_from={first}"],
            r"--continue_from=.* adds tasks .* Give one of them",
        ),
        "missing source": (
            [*base, f"--promote_from={tmp_path}/nothing", task],
            r"--promote_from=.*/nothing is neither a run's workdir",
        ),
        "unknown task": (
            [*base, source, "--promote_task=embedded/nosuch"],
            r"--promote_from=.*'embedded/nosuch'.*tasks: \['embedded/digits'",
        ),
    }


def test_wrong_promotions_fail_before_any_work(stages, tmp_path):
    config, first, _, _ = stages
    fresh = tmp_path / "fresh"
    cases = bad_invocations(config, first, fresh, tmp_path)
    listing = sorted(os.listdir(first))
    results = launch_all(cases)
    for name, (_, pattern) in cases.items():
        result = results[name]
        assert result.returncode != 0, name
        assert re.search(pattern, result.stderr, re.DOTALL), (
            name,
            result.stderr[-2000:],
        )
        assert "Traceback" not in result.stderr, name
    assert not os.path.exists(fresh)
    assert sorted(os.listdir(first)) == listing


def test_a_run_started_before_the_promote_fields_resumes(tmp_path):
    """A state saved without `root.promote_*` had their defaults ("")."""
    from launch import evolve
    from mu2keras import experiment

    config = experiment.default_config()
    saved = config.to_dict()
    del saved["root"]["promote_from"], saved["root"]["promote_task"]
    (tmp_path / state_lib.CONFIG).write_text(json.dumps({"experiment": saved}))
    evolve.check_same_config(config, str(tmp_path))  # Passes.
    config.root.promote_task = "a"
    with pytest.raises(SystemExit, match=r"started with in root.promote_task"):
        evolve.check_same_config(config, str(tmp_path))


def test_a_run_resumes_with_other_engine_settings(tmp_path):
    """fused and jit_compile change how, not what: a TPU run (fused, XLA)
    resumes on CPUs under the defaults ("auto")."""
    from launch import evolve
    from mu2keras import experiment

    saved = experiment.default_config().to_dict()
    saved.update(fused=True, jit_compile=True)  # As older states hold.
    (tmp_path / state_lib.CONFIG).write_text(json.dumps({"experiment": saved}))
    evolve.check_same_config(experiment.default_config(), str(tmp_path))
