"""The forgetting benchmark: its smoke run's outputs and its exit status.

The smoke run trains tiny models (its numbers mean nothing), so these
tests check what is written and that mu2keras' predictions stay
bit-identical, not the accuracies. The smoke root is random (the DINOv2
study has no root stage to share with quality_test.py).
"""

import json

import pytest

from benchmarks import forgetting
from configs import study as study_config
from tests.benchmarks.conftest import smoke_argv

TASKS = list(study_config.tasks(smoke=True))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, study_workdir):
    out = tmp_path_factory.mktemp("forgetting_out")
    status = forgetting.main(smoke_argv(study_workdir, out))
    return status, out, json.loads((out / "forgetting_smoke.json").read_text())


def test_smoke_writes_table_and_figure(smoke):
    status, out, figures = smoke
    assert status == 0
    for suffix in ("json", "md", "png"):
        assert (out / f"forgetting_smoke.{suffix}").stat().st_size > 0
    assert figures["smoke"] is True
    assert figures["seeds"] == [0]
    assert figures["tasks"] == TASKS
    assert (figures["root"], figures["root_dir"]) == ("dinov2", "")
    assert figures["budget"] == study_config.DEFAULT_BUDGET
    assert {"machine", "command"} <= set(figures)
    table = (out / "forgetting_smoke.md").read_text()
    assert "Sequential fine-tuning" in table and "mu2keras" in table
    assert "**met**" in table


def test_one_accuracy_per_task_and_later_task(smoke):
    figures = smoke[2]
    (run,) = figures["runs"]
    for method in forgetting.METHODS:
        assert run[method]["seconds"] > 0
        tests = run[method]["tests"]
        summary = figures["summary"][method]
        assert set(tests) == set(TASKS)
        for i, task in enumerate(TASKS):
            # Tested after its own task and after each later one.
            assert len(tests[task]) == len(TASKS) - i
            assert len(summary[task]["after"]) == len(TASKS) - i
            for test in tests[task]:
                assert 0.0 <= test["accuracy"] <= 1.0
                assert len(test["digest"]) == 64
            assert set(summary[task]["drop"]) == {"mean", "std"}


def test_mu2keras_predictions_are_bit_identical(smoke):
    figures = smoke[2]
    assert figures["bit_identical"] == dict.fromkeys(TASKS, True)
    (run,) = figures["runs"]
    for task in TASKS:
        accuracies = {t["accuracy"] for t in run["mu2keras"]["tests"][task]}
        assert len(accuracies) == 1
        assert figures["summary"]["mu2keras"][task]["drop"]["mean"] == 0.0


def test_sequential_budget_is_the_baselines(smoke):
    (run,) = smoke[2]["runs"]
    steps = run["sequential"]["steps"]
    assert set(steps) == set(TASKS) and all(s > 0 for s in steps.values())


def _fake_run(digests):
    return {
        "tests": {
            "a": [{"accuracy": 0.5, "digest": d} for d in digests],
            "b": [{"accuracy": 0.25, "digest": "x"}],
        },
        "seconds": 1.0,
    }


def test_a_changed_prediction_fails_the_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(forgetting.study_config, "TASKS", ("a", "b"))
    monkeypatch.setattr(
        forgetting.study, "root_system", lambda workdir, smoke, root: "root"
    )
    monkeypatch.setattr(
        forgetting, "sequential", lambda *args, **kwargs: _fake_run(["1", "2"])
    )
    monkeypatch.setattr(
        forgetting, "mu2keras", lambda *args, **kwargs: _fake_run(["1", "2"])
    )
    argv = [f"--workdir={tmp_path}", f"--out={tmp_path}", "--seeds=0,1"]
    assert forgetting.main(argv) == 1
    assert "FAILED" in capsys.readouterr().err
    figures = json.loads((tmp_path / "forgetting.json").read_text())
    assert figures["bit_identical"] == {"a": False, "b": True}
    assert "**missed**" in (tmp_path / "forgetting.md").read_text()
    monkeypatch.setattr(
        forgetting, "mu2keras", lambda *args, **kwargs: _fake_run(["1", "1"])
    )
    assert forgetting.main(argv) == 0
