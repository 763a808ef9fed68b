"""Lineage figures of µ2Net runs: by hand on made-up records, and read
from the state of the quality benchmark's smoke run."""

import json

import pytest

from benchmarks import lineages
from benchmarks import quality
from tests.benchmarks.conftest import smoke_argv


def record(path_id, task, parent_id, *qualities):
    evals = [{"quality": q, "score": q} for q in qualities]
    return {
        "id": path_id,
        "task": task,
        "parent_id": parent_id,
        "origin_parent_id": parent_id,
        "metrics": {"evals": evals} if evals else {},
    }


def test_children_are_measured_against_their_parents_best():
    paths = {
        0: record(0, "root", -1),  # The root: never trained.
        1: record(1, "a", 0, 0.5, 0.8),
        2: record(2, "a", 1, 0.6, 0.85),  # Reaches 0.8: accepted.
        3: record(3, "a", 1, 0.2, 0.7),
        4: record(4, "a", 2, 0.9, 0.9),
        5: record(5, "b", 4, 0.1, 0.3),  # A cross-task child: not counted.
        6: record(6, "b", 5, 0.2, 0.3),
    }
    figures = lineages.task_lineages(paths, {"a": 4, "b": 6})
    a = figures["a"]
    assert a["children"] == 3
    assert a["first_gap"] == pytest.approx(100 * (-0.2 - 0.6 + 0.05) / 3)
    assert a["best_gap"] == pytest.approx(100 * (0.05 - 0.1 + 0.05) / 3)
    assert a["reached"] == pytest.approx(2 / 3)
    assert a["lineage"] == 3  # 4, 2, 1.
    b = figures["b"]
    assert (b["children"], b["lineage"]) == (1, 2)
    assert b["reached"] == 1.0
    assert lineages.task_lineages(paths, {"a": 1})["a"]["lineage"] == 1
    # A retained path's parent_id is re-pointed when its parent is
    # dropped; the lineage follows the parent it was made from.
    paths[4]["parent_id"] = 0
    assert lineages.task_lineages(paths, {"a": 4})["a"]["lineage"] == 3


def test_a_task_without_same_task_children_has_no_gaps():
    paths = {1: record(1, "a", 0, 0.5)}
    figures = lineages.task_lineages(paths, {"a": 1})["a"]
    assert figures == {
        "children": 0,
        "first_gap": None,
        "best_gap": None,
        "reached": None,
        "lineage": 1,
    }


def test_main_reads_every_generated_path_of_a_kept_run(study_workdir, tmp_path):
    out = tmp_path / "quality"
    argv = smoke_argv(study_workdir, out, "--methods=mu2net")
    assert quality.main(argv) == 0
    run = f"quality_smoke/mu2net_lr0.1_b{quality.SMOKE_BUDGET}_s0"
    figures = lineages.main(
        ["--workdir", study_workdir, "--runs", run, "--out", str(tmp_path)]
    )
    paths, retained = lineages.read_run(f"{study_workdir}/{run}")
    tasks = json.loads((out / "quality_smoke.json").read_text())["tasks"]
    assert sorted(retained) == sorted(tasks)
    # Every candidate the smoke budget made, the retained ones included.
    trained = [p for p in paths.values() if p["metrics"].get("evals")]
    assert len(trained) == quality.SMOKE_BUDGET * len(tasks)
    for f in figures["runs"][run].values():
        assert 1 <= f["lineage"] <= quality.SMOKE_BUDGET
        assert f["children"] <= quality.SMOKE_BUDGET - 1
    written = json.loads((tmp_path / "lineages.json").read_text())
    assert written["runs"] == figures["runs"]


def test_settings_pool_children_over_tasks_and_seeds():
    def task(children, first, best, reached, lineage):
        return {
            "children": children,
            "first_gap": first,
            "best_gap": best,
            "reached": reached,
            "lineage": lineage,
        }

    runs = {
        "quality/x_b8_s0": {"a": task(1, -10.0, 0.0, 1.0, 2)},
        "quality/x_b8_s1": {
            "a": task(3, -20.0, -4.0, 1 / 3, 1),
            "b": task(0, None, None, None, 1),
        },
        "quality/y_b8_s0": {"a": task(0, None, None, None, 1)},
    }
    summary = lineages.by_setting(runs)
    assert summary["x_b8"] == {
        "rows": 3,
        "children": 4,
        "first_gap": pytest.approx(-17.5),
        "best_gap": pytest.approx(-3.0),
        "reached": pytest.approx(0.5),
        "lineage": pytest.approx(4 / 3),
    }
    assert summary["y_b8"]["first_gap"] is None
