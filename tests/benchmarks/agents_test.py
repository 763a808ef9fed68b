"""The agents benchmark's smoke run: two agent processes, one task each,
against one controller on both tasks (its numbers mean nothing)."""

import json
import os

import pytest

from benchmarks import agents as bench
from mu2keras.agents import layout
from tests.benchmarks.conftest import smoke_argv


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("agents")
    out = tmp_path_factory.mktemp("agents_out")
    assert bench.main(smoke_argv(workdir, out)) == 0
    figures = json.loads((out / "agents_smoke.json").read_text())
    return workdir, out, figures


def test_both_sides_grow_every_task(smoke):
    workdir, _, figures = smoke
    tasks = ["embedded/digits", "embedded/textures"]
    assert figures["tasks"] == tasks
    assert figures["split"] == [[tasks[0]], [tasks[1]]]
    assert (figures["candidates_per_visit"], figures["cycles"]) == (2, 2)
    for side in ("sequential", "agents"):
        assert list(figures[side]["tasks"]) == tasks
        assert figures[side]["seconds"] > 0
        for task in figures[side]["tasks"].values():
            assert 0.0 <= task["test_accuracy"] <= 1.0
            assert task["accounted_params"] > 0
    # Each agent process owns one task's folder of the shared system.
    system = os.path.join(workdir, "agents_smoke", "system")
    assert sorted(layout.agents(system)) == [
        "embedded_digits",
        "embedded_textures",
    ]
    # What a path takes from another agent, by the components' keys.
    other = {
        "embedded/digits": ["embedded_textures"],
        "embedded/textures": ["embedded_digits"],
    }
    for name, task in figures["agents"]["tasks"].items():
        assert set(task["other_agents"]) <= set(other[name])
        assert task["reuses_other_agent"] == bool(task["other_agents"])


def test_table_has_a_row_per_task_and_the_wall_times(smoke):
    _, out, figures = smoke
    text = (out / "agents_smoke.md").read_text()
    seq, ag = figures["sequential"], figures["agents"]
    for task in figures["tasks"]:
        row = [
            line for line in text.splitlines() if line.startswith(f"| {task} ")
        ]
        accuracy = seq["tasks"][task]["test_accuracy"]
        assert len(row) == 1 and f"| {accuracy:.3f} |" in row[0]
    assert (
        f"sequential {seq['seconds']:.0f} s, agents {ag['seconds']:.0f} s"
        in text
    )
    reusing = sum(bool(t["reused_from"]) for t in seq["tasks"].values())
    assert seq["reusing_tasks"] == reusing
    other = sum(t["reuses_other_agent"] for t in ag["tasks"].values())
    assert f"another agent trained: agents {other} of 2." in text
