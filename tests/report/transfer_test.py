"""Forgetting, backward and forward transfer, and their report section."""

import json

import pytest

from mu2keras import report
from mu2keras.evolution import accuracy_record
from mu2keras.report import transfer
from mu2keras.storage import state as state_lib
from tests.system import systems


def row(loop, task, **accuracy):
    return {"loop": loop, "task": task, "accuracy": accuracy}


# Two iterations over a, b, c; a loses accuracy after its last visit, c
# improves on its revisit (not transfer), b never changes.
MATRIX = [
    row(0, "a", a=0.8),
    row(1, "b", a=0.8, b=0.6),
    row(2, "c", a=0.8, b=0.6, c=0.5),
    row(3, "a", a=0.9, b=0.6, c=0.5),
    row(4, "b", a=0.7, b=0.6, c=0.5),
    row(5, "c", a=0.7, b=0.6, c=0.75),
]


def test_forgetting_and_backward_transfer_of_a_hand_made_matrix():
    f = transfer.forgetting(MATRIX)
    assert f["per_task"] == pytest.approx({"a": 0.2, "b": 0.0, "c": -0.25})
    assert f["mean"] == pytest.approx(-0.05 / 3)
    b = transfer.backward_transfer(MATRIX)
    # a: after its last visit (row 3) 0.9, last 0.7; c: learned last.
    assert b["per_task"] == pytest.approx({"a": -0.2, "b": 0.0, "c": None})
    assert b["mean"] == pytest.approx(-0.1)


def test_locked_paths_give_zero_and_edge_cases():
    locked = [row(0, "a", a=0.8), row(1, "b", a=0.8, b=0.6)]
    assert transfer.forgetting(locked) == {
        "per_task": {"a": 0.0, "b": None},
        "mean": 0.0,
    }
    assert transfer.backward_transfer(locked)["mean"] == 0.0
    for metric in (transfer.forgetting, transfer.backward_transfer):
        assert metric([]) == {"per_task": {}, "mean": None}
        assert metric(locked[:1]) == {"per_task": {"a": None}, "mean": None}
    # A task learned before the record starts (continue_from): measured
    # from its first row.
    continued = [row(0, "d", a=0.8, d=0.5), row(1, "e", a=0.75, d=0.5, e=1)]
    b = transfer.backward_transfer(continued)["per_task"]
    assert b == pytest.approx({"a": -0.05, "d": 0.0, "e": None})


def test_forward_transfer():
    result = transfer.forward_transfer(
        {"a": 0.9, "b": 0.5, "c": 0.7}, {"a": 0.8, "b": 0.6}
    )
    assert result["per_task"] == pytest.approx({"a": 0.1, "b": -0.1})
    assert result["mean"] == pytest.approx(0.0)
    assert report.forward_transfer({}, {}) == {"per_task": {}, "mean": None}


def test_matrix_markdown_leaves_unlearned_tasks_blank():
    lines = transfer.matrix_markdown(MATRIX[:2]).splitlines()
    assert lines[0] == "| loop id | trained | a | b |"
    assert lines[2] == "| 0 | a | 0.8000 |  |"
    assert lines[3] == "| 1 | b | 0.8000 | 0.6000 |"


def saved_system(workdir, controller):
    population, _, _ = systems.two_task_system()
    config = {"experiment": {}, "controller": controller}
    state_lib.save_state(population, str(workdir), 2, config=config)
    return population


def test_report_renders_the_matrix_and_transfer(tmp_path):
    matrix = [
        row(0, "a", a=0.5),
        {
            "loop": 1,
            "task": "cmaterdb/b",
            "accuracy": {"a": 0.5, "cmaterdb/b": 1.0},
        },
    ]
    saved_system(tmp_path, {accuracy_record.KEY: matrix})
    files = report.write_report(str(tmp_path))
    with open(files["report.md"]) as f:
        markdown = f.read()
    assert "## Accuracy matrix" in markdown and "**measured**" in markdown
    assert "| loop id | trained | a | cmaterdb/b |" in markdown
    assert "| 1 | cmaterdb/b | 0.5000 | 1.0000 |" in markdown
    assert "| a | 0.0000 | 0.0000 |" in markdown
    assert markdown.index("## Leaderboard") < markdown.index("## Accuracy")
    with open(files["stats.json"]) as f:
        figures = json.load(f)["transfer"]
    assert figures["measured"] is True
    assert figures["accuracy_matrix"] == matrix
    assert figures["forgetting"] == {
        "per_task": {"a": 0.0, "cmaterdb/b": None},
        "mean": 0.0,
    }
    assert figures["backward_transfer"]["mean"] == 0.0


def test_a_state_without_the_matrix_loads_and_reports(tmp_path):
    saved_system(tmp_path, {"rng_state": None})  # As before the record.
    loaded = state_lib.load_state(str(tmp_path))
    assert accuracy_record.from_config(loaded.config) == []
    assert accuracy_record.from_config({}) == []
    files = report.write_report(str(tmp_path))
    with open(files["report.md"]) as f:
        assert "None recorded" in f.read()
    with open(files["stats.json"]) as f:
        figures = json.load(f)["transfer"]
    assert figures["measured"] is False
    assert figures["accuracy_matrix"] == []
    assert figures["forgetting"]["mean"] is None


def test_a_malformed_matrix_is_a_state_error(tmp_path):
    saved_system(tmp_path, {accuracy_record.KEY: [{"loop": 0}]})
    with pytest.raises(state_lib.StateError, match="accuracy_matrix"):
        report.write_report(str(tmp_path))


def test_carried_values_are_starred_and_the_matrix_not_called_measured(
    tmp_path,
):
    matrix = [
        row(0, "a", a=0.5),
        {
            "loop": 1,
            "task": "cmaterdb/b",
            "accuracy": {"a": 0.5, "cmaterdb/b": 1.0},
            "carried": ["a"],
        },
    ]
    saved_system(tmp_path, {accuracy_record.KEY: matrix})
    files = report.write_report(str(tmp_path))
    with open(files["report.md"]) as f:
        markdown = f.read()
    assert "| 1 | cmaterdb/b | 0.5000* | 1.0000 |" in markdown
    assert "1 value(s) marked * **carried**" in markdown
    assert "**measured**:" not in markdown
    with open(files["stats.json"]) as f:
        figures = json.load(f)["transfer"]
    assert figures["measured"] is False and figures["carried_values"] == 1


def test_a_carried_task_outside_its_row_is_a_state_error(tmp_path):
    bad = dict(row(0, "a", a=0.5), carried=["b"])
    saved_system(tmp_path, {accuracy_record.KEY: [bad]})
    with pytest.raises(state_lib.StateError, match="accuracy_matrix"):
        report.write_report(str(tmp_path))
