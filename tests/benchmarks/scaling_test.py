"""benchmarks/scaling.py: its relabelled tasks, and its smoke run's output."""

import json
import math

import numpy as np
import pytest

from benchmarks import scaling
from configs import study as study_config
from tests.benchmarks.conftest import smoke_argv


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, study_workdir):
    out = tmp_path_factory.mktemp("scaling_out")
    figures = scaling.main(smoke_argv(study_workdir, out))
    return figures, out


def test_relabelled_copies_keep_images_and_splits():
    sources = study_config.tasks(smoke=True)[:2]
    tasks = scaling.task_sequence(5, sources)
    mnist, digits = sources
    assert list(tasks) == [
        mnist,
        digits,
        f"{mnist}~perm1",
        f"{digits}~perm1",
        f"{mnist}~perm2",
    ]
    source, perms = tasks[mnist], []
    for copy in (1, 2):
        task = tasks[f"{mnist}~perm{copy}"]
        assert task.num_classes == source.num_classes
        images, labels = source.arrays("train")
        perm = np.zeros(source.num_classes, np.int64)
        perm[labels] = task.arrays("train")[1]  # Old label -> new label.
        for split in ("train", "validation", "test"):
            old, new = source.arrays(split), task.arrays(split)
            np.testing.assert_array_equal(old[0], new[0])
            np.testing.assert_array_equal(perm[old[1]], new[1])
        assert sorted(perm) == list(range(source.num_classes))
        assert list(perm) != list(range(source.num_classes))
        perms.append(tuple(perm))
    assert perms[0] != perms[1]


def test_permutations_are_fixed_and_distinct_while_possible():
    used = set()
    perms = [tuple(scaling.permutation(3, c, used)) for c in range(1, 6)]
    assert len(set(perms)) == 5 and (0, 1, 2) not in perms
    again = set()
    assert tuple(scaling.permutation(3, 1, again)) == perms[0]
    # All 6 permutations of 3 labels used: a repeat rather than a hang.
    assert len(scaling.permutation(3, 6, used)) == 3


def test_full_budget_is_reduced_from_the_studys():
    config = scaling.grow_config(0, False, "", ["embedded/mnist"])
    study = study_config.get_config()
    assert config.root.checkpoint == study.root.checkpoint
    assert config.num_samples_per_task == scaling.SAMPLES
    assert config.num_samples_per_task < study.num_samples_per_task
    assert config.num_validations <= study.num_validations
    assert list(config.tasks) == ["embedded/mnist"]


def test_smoke_output_schema(smoke):
    figures, out = smoke
    for suffix in ("json", "md", "png"):
        assert (out / f"scaling.{suffix}").stat().st_size > 0
    saved = json.loads((out / "scaling.json").read_text())
    assert saved["rows"] == figures["rows"]
    assert {"machine", "command", "tasks", "budget", "goals"} <= set(saved)
    assert saved["root"] == "dinov2"
    rows = saved["rows"]
    assert [r["tasks"] for r in rows] == [1, 2, 3]
    assert [r["task"] for r in rows] == saved["tasks"]
    assert saved["tasks"][2].endswith("~perm1")
    unique = [r["unique_params"] for r in rows]
    assert unique == sorted(unique) and unique[-1] > unique[0]
    for r in rows:
        assert math.isclose(
            r["params_per_task"], r["unique_params"] / r["tasks"]
        )
        assert 0 < r["exported_params"] <= r["unique_params"]
        assert r["state_bytes"] > 0
        # --smoke exports and times every size.
        assert 0 < r["variables_bytes"] < r["saved_model_bytes"]
        assert set(r["latency_ms"]) == {"1", "64"}
        assert all(ms > 0 for ms in r["latency_ms"].values())
    added = [r["added_params"] for r in rows]
    assert sum(added[1:]) == unique[-1] - unique[0]
    goals = saved["goals"]
    assert set(goals["latency"]) == {"1", "64"}
    for goal in (*goals["latency"].values(), goals["saved_model_bytes"]):
        assert isinstance(goal["met"], bool)
    assert isinstance(goals["params_per_task"]["met"], bool)
    markdown = (out / "scaling.md").read_text()
    assert markdown.count("\n| ") == 1 + len(rows)  # Header and rows.
    assert "~perm" in markdown and "Goals:" in markdown
