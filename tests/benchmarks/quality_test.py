"""The quality benchmark: its smoke run's outputs, resuming, the verdict.

The smoke run grows tiny systems (its numbers mean nothing), so these tests
check what is written, not the accuracies. The study workdir sits in the
session's base temp folder, so forgetting_test.py reuses its smoke root.
"""

import json

import pytest

from benchmarks import quality
from benchmarks import quality_report
from configs import study as study_config
from tests.benchmarks.conftest import smoke_argv

TASKS = list(study_config.TASKS)
# A subset of the smoke's methods, to keep the test near a minute.
METHODS = ["mu2net", "finetune_all", "scratch"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, study_workdir):
    workdir = study_workdir
    out = tmp_path_factory.mktemp("quality_out")
    argv = smoke_argv(workdir, out, "--methods=" + ",".join(METHODS))
    assert quality.main(argv) == 0
    return workdir, out, json.loads((out / "quality_smoke.json").read_text())


def test_smoke_writes_table_figure_and_runs(smoke):
    _, out, figures = smoke
    methods = METHODS
    assert set(methods) <= set(quality.SMOKE_METHODS)
    for suffix in ("json", "md", "png"):
        assert (out / f"quality_smoke.{suffix}").stat().st_size > 0
    assert figures["smoke"] is True
    assert figures["seeds"] == [0]
    assert figures["methods"] == methods
    assert figures["tasks"] == TASKS
    assert {"machine", "command", "root_dir"} <= set(figures)
    assert sorted((r["method"], r["seed"]) for r in figures["runs"]) == sorted(
        (m, 0) for m in methods
    )
    for run in figures["runs"]:
        assert set(run["tasks"]) == set(TASKS)
        for task in run["tasks"].values():
            assert 0.0 <= task["test_accuracy"] <= 1.0
            assert 0 < task["own_params"] <= task["num_params"]
            assert 0 < task["accounted_params"] <= task["num_params"]
            assert task["train_steps"] > 0 and task["candidates"] >= 1
            assert "head" in task["trained_components"]
        system = run["system"]
        assert system["added_params"] <= system["params"]
        assert run["seconds"] > 0
    table = (out / "quality_smoke.md").read_text()
    for method in methods:
        assert f"| {method} |" in table
    assert "Goal:" in table


def test_smoke_summary_has_every_method_and_task(smoke):
    figures = smoke[2]
    assert set(figures["summary"]) == set(METHODS)
    for row in figures["summary"].values():
        assert set(row["task_accuracy"]) == set(TASKS)
        assert row["mean_accuracy"]["n"] == 1
        assert row["seconds"]["mean"] > 0
    goal = figures["goal"]
    assert set(goal) >= {"delta_points", "params_ratio", "met"}


def test_equal_training_steps_per_task(smoke):
    runs = smoke[2]["runs"]
    for task in TASKS:
        assert len({r["tasks"][task]["train_steps"] for r in runs}) == 1
    by_method = {r["method"]: r for r in runs}
    # A baseline trains one candidate for µ2Net's whole budget.
    assert by_method["finetune_all"]["tasks"][TASKS[0]]["candidates"] == 1
    assert by_method["mu2net"]["tasks"][TASKS[0]]["candidates"] > 1


def test_second_run_reuses_the_kept_runs(smoke, tmp_path, capsys):
    workdir, _, figures = smoke
    capsys.readouterr()
    argv = ["--smoke", f"--workdir={workdir}", f"--out={tmp_path}"]
    assert quality.main(argv + ["--methods=mu2net,scratch"]) == 0
    assert capsys.readouterr().out.count("kept from") == 2
    again = json.loads((tmp_path / "quality_smoke.json").read_text())
    first = {r["method"]: r for r in figures["runs"]}
    for run in again["runs"]:
        assert run == first[run["method"]]
    assert again["goal"] is None


def test_unknown_method_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        quality.main(["--smoke", f"--workdir={tmp_path}", "--methods=nope"])


def _run(method, seed, accuracy, params):
    task = {"test_accuracy": accuracy, "accounted_params": params}
    task.update(own_params=params, train_steps=8)
    return {
        "method": method,
        "seed": seed,
        "seconds": 1.0,
        "tasks": {"a": task, "b": dict(task)},
        "system": {"params": 2 * params, "added_params": params},
    }


def test_verdict_pairs_seeds_and_checks_both_conditions():
    rows = {
        "mu2net": quality.summarize(
            [_run("mu2net", 0, 0.92, 40), _run("mu2net", 1, 0.94, 60)]
        ),
        "finetune_all": quality.summarize(
            [
                _run("finetune_all", 0, 0.90, 100),
                _run("finetune_all", 1, 0.93, 100),
            ]
        ),
    }
    assert rows["mu2net"]["mean_accuracy"]["mean"] == pytest.approx(93.0)
    assert rows["mu2net"]["mean_accuracy"]["std"] == pytest.approx(2**0.5)
    verdict = quality.goal_verdict(rows)
    assert verdict["delta_points"]["mean"] == pytest.approx(1.5)
    assert verdict["params_ratio"] == pytest.approx(0.5)
    assert verdict["accuracy_met"] and verdict["params_met"] and verdict["met"]
    rows["mu2net"] = quality.summarize([_run("mu2net", 0, 0.95, 60)])
    verdict = quality.goal_verdict(rows)
    assert verdict["delta_points"]["n"] == 1
    assert verdict["accuracy_met"] and not verdict["params_met"]
    assert not verdict["met"]
    assert "**missed**" in "\n".join(quality_report.verdict_lines(verdict))
