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

TASKS = list(study_config.tasks(smoke=True))
# A subset of the smoke's methods and the single-task µ2Net systems of
# forward transfer, to keep the test near a minute.
METHODS = ["mu2net", "finetune_all", "scratch", quality.ALONE]
BUDGET = str(quality.SMOKE_BUDGET)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, study_workdir):
    workdir = study_workdir
    out = tmp_path_factory.mktemp("quality_out")
    argv = smoke_argv(workdir, out, "--methods=" + ",".join(METHODS))
    assert quality.main(argv) == 0
    return workdir, out, json.loads((out / "quality_smoke.json").read_text())


def test_smoke_writes_table_figure_and_runs(smoke):
    _, out, figures = smoke
    for suffix in ("json", "md", "png"):
        assert (out / f"quality_smoke.{suffix}").stat().st_size > 0
    assert figures["smoke"] is True
    assert figures["root"] == "dinov2"
    assert figures["root_dir"] == ""  # No root stage: the checkpoint.
    assert figures["seeds"] == [0]
    assert figures["budgets"] == [quality.SMOKE_BUDGET]
    assert figures["methods"] == METHODS
    assert figures["tasks"] == TASKS
    assert figures["not_run"] == []
    assert {"machine", "command", "budget_config"} <= set(figures)
    assert sorted((r["method"], r["seed"]) for r in figures["runs"]) == sorted(
        (m, 0) for m in METHODS
    )
    # Each method's own learning rate (configs/study.py's METHOD_LR).
    assert {r["method"]: r["lr"] for r in figures["runs"]} == {
        "mu2net": study_config.METHOD_LR["mu2net"],
        "finetune_all": study_config.METHOD_LR["finetune_all"],
        "scratch": study_config.METHOD_LR["scratch"],
        quality.ALONE: study_config.METHOD_LR["mu2net"],
    }
    for run in figures["runs"]:
        assert set(run["tasks"]) == set(TASKS)
        assert run["budget"] == quality.SMOKE_BUDGET
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
    for method in METHODS:
        assert f"| {method} | {study_config.method_lr(method):g} |" in table
    assert "Goal:" in table and "Forward transfer" in table
    assert "accuracy matrix" in table


def test_smoke_summary_has_every_method_and_task(smoke):
    figures = smoke[2]
    assert set(figures["summary"]) == {BUDGET}
    assert set(figures["summary"][BUDGET]) == set(METHODS)
    for row in figures["summary"][BUDGET].values():
        assert set(row["task_accuracy"]) == set(TASKS)
        assert row["mean_accuracy"]["n"] == 1
        assert row["seconds"]["mean"] > 0
    goal = figures["goal"][BUDGET]
    assert set(goal) >= {"delta_points", "params_ratio", "met"}


def test_equal_training_steps_per_task(smoke):
    runs = smoke[2]["runs"]
    for task in TASKS:
        assert len({r["tasks"][task]["train_steps"] for r in runs}) == 1
    by_method = {r["method"]: r for r in runs}
    # A baseline trains one candidate for µ2Net's whole budget.
    assert by_method["finetune_all"]["tasks"][TASKS[0]]["candidates"] == 1
    assert by_method["mu2net"]["tasks"][TASKS[0]]["candidates"] > 1


def test_mu2net_matrix_is_measured_and_shows_no_forgetting(smoke):
    figures = smoke[2]
    (run,) = [r for r in figures["runs"] if r["method"] == "mu2net"]
    matrix = run["accuracy_matrix"]
    assert [row["task"] for row in matrix] == TASKS
    # (The JSON's keys are sorted: the order is in the rows' tasks.)
    assert set(matrix[-1]["accuracy"]) == set(TASKS)
    for task in TASKS:
        assert matrix[-1]["accuracy"][task] == pytest.approx(
            run["tasks"][task]["test_accuracy"]
        )
    row = figures["summary"][BUDGET]["mu2net"]
    assert row["max_forgetting"]["mean"] == 0.0
    assert figures["summary"][BUDGET][quality.ALONE]["max_forgetting"] is None


def test_forward_transfer_is_system_minus_alone(smoke):
    figures = smoke[2]
    by_method = {r["method"]: r for r in figures["runs"]}
    forward = figures["forward_transfer"][BUDGET]
    assert forward["seeds"] == ["0"]
    for task in TASKS:
        expected = 100 * (
            by_method["mu2net"]["tasks"][task]["test_accuracy"]
            - by_method[quality.ALONE]["tasks"][task]["test_accuracy"]
        )
        assert forward["per_task"][task]["mean"] == pytest.approx(expected)
    # The first task learns alone in both: the same run, the same path.
    assert forward["per_task"][TASKS[0]]["mean"] == pytest.approx(0.0)


def test_second_run_reuses_the_kept_runs(smoke, tmp_path, capsys):
    workdir, _, figures = smoke
    capsys.readouterr()
    argv = ["--smoke", f"--workdir={workdir}", f"--out={tmp_path}"]
    assert quality.main(argv + ["--methods=mu2net,scratch"]) == 0
    assert capsys.readouterr().out.count(": kept") == 2
    again = json.loads((tmp_path / "quality_smoke.json").read_text())
    first = {r["method"]: r for r in figures["runs"]}
    for run in again["runs"]:
        assert run == first[run["method"]]
    assert again["goal"] == {BUDGET: None}


def test_kept_only_grows_nothing_and_lists_what_is_missing(smoke, tmp_path):
    workdir = smoke[0]
    argv = ["--smoke", f"--workdir={workdir}", f"--out={tmp_path}"]
    argv += ["--kept_only", "--methods=mu2net,adapters:8"]
    assert quality.main(argv) == 0
    figures = json.loads((tmp_path / "quality_smoke.json").read_text())
    assert [r["method"] for r in figures["runs"]] == ["mu2net"]
    assert figures["not_run"] == [
        {"method": "adapters:8", "budget": quality.SMOKE_BUDGET, "seed": 0}
    ]
    assert set(figures["summary"][BUDGET]) == {"mu2net"}
    table = (tmp_path / "quality_smoke.md").read_text()
    assert "**Not run**" in table and "adapters:8 budget 2 seed 0" in table


def test_val_runs_are_kept_apart_and_written_apart(smoke, tmp_path, capsys):
    workdir = smoke[0]
    argv = ["--smoke", f"--workdir={workdir}", f"--out={tmp_path}"]
    capsys.readouterr()
    argv += ["--kept_only", "--methods=mu2net", "--val=48"]
    assert quality.main(argv) == 0
    assert "mu2net_lr0.1_val48 budget 2 seed 0: not run" in (
        capsys.readouterr().out
    )
    figures = json.loads((tmp_path / "quality_smoke_val48.json").read_text())
    assert figures["runs"] == []
    assert figures["budget_config"]["max_validation_examples"] == 48
    assert not (tmp_path / "quality_smoke.json").exists()


def test_unknown_method_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        quality.main(["--smoke", f"--workdir={tmp_path}", "--methods=nope"])


def _run(method, seed, accuracy, params, budget=8):
    task = {"test_accuracy": accuracy, "accounted_params": params}
    task.update(own_params=params, train_steps=8)
    return {
        "method": method,
        "budget": budget,
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


def test_gap_table_has_a_row_per_budget_with_both_methods():
    def rows(mu, ft):
        return {
            "mu2net": quality.summarize(
                [_run("mu2net", s, a, 40) for s, a in enumerate(mu)]
            ),
            "finetune_all": quality.summarize(
                [_run("finetune_all", s, a, 100) for s, a in enumerate(ft)]
            ),
        }

    summary = {
        "4": rows([0.80, 0.84], [0.85, 0.85]),
        "8": rows([0.92, 0.94], [0.90, 0.93]),
        "16": {"mu2net": quality.summarize([_run("mu2net", 0, 0.9, 40)])},
    }
    figures = {
        "budgets": [4, 8, 16],
        "summary": summary,
        "goal": {b: quality.goal_verdict(r) for b, r in summary.items()},
    }
    lines = quality_report.gap_lines(figures)
    assert lines[0] == "## µ2Net − finetune_all against the budget"
    body = [line for line in lines if line.startswith("| 4 ")] + [
        line for line in lines if line.startswith("| 8 ")
    ]
    assert body == [
        "| 4 | 2 | 82.00 ± 2.83 | 85.00 ± 0.00 | -3.00 ± 2.83 | 0.400 "
        "| missed |",
        "| 8 | 2 | 93.00 ± 1.41 | 91.50 ± 2.12 | +1.50 ± 0.71 | 0.400 | met |",
    ]
    assert not [line for line in lines if line.startswith("| 16 ")]
    figures["goal"] = {b: None for b in summary}
    assert quality_report.gap_lines(figures) == []


def test_forward_transfer_pairs_seeds():
    rows = {
        "mu2net": quality.summarize(
            [_run("mu2net", 0, 0.90, 40), _run("mu2net", 1, 0.80, 40)]
        ),
        quality.ALONE: quality.summarize([_run(quality.ALONE, 0, 0.85, 50)]),
    }
    forward = quality.quality_summary.forward_transfer(rows)
    assert forward["seeds"] == ["0"]
    assert forward["mean"]["mean"] == pytest.approx(5.0)
    assert forward["per_task"]["a"]["mean"] == pytest.approx(5.0)
    del rows[quality.ALONE]
    assert quality.quality_summary.forward_transfer(rows) is None


def test_merged_alone_record_counts_the_root_once():
    parts = [_run(quality.ALONE, 0, 0.5, 10), _run(quality.ALONE, 0, 0.7, 10)]
    parts[1]["tasks"] = {"c": parts[1]["tasks"]["a"]}
    for part in parts:
        part["system"]["root_params"] = 100
    merged = quality.merge_alone(parts)
    assert list(merged["tasks"]) == ["a", "b", "c"]
    assert merged["system"]["params"] == 40
    assert merged["system"]["root_params"] == 100
    assert merged["seconds"] == 2.0 and merged["accuracy_matrix"] == []
