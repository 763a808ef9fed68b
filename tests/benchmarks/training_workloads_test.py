"""The controller-run timer of benchmarks/training_speed.py (part demo_run)."""

import types

from benchmarks import training_workloads
from mu2keras.training import TIMINGS


def result(timings, reused):
    return types.SimpleNamespace(timings=timings, reused=reused)


def test_generation_row_counts_a_fused_group_once_and_saves_apart():
    timer = training_workloads.GenerationTimer()
    timer.run_started(controller=None)
    fused = dict.fromkeys(TIMINGS, 1.0)  # One group of two candidates.
    alone = dict.fromkeys(TIMINGS, 0.5)  # One candidate, reused.
    results = [result(fused, False), result(fused, False)]
    timer.generation_done(
        None, "a", [None] * 3, results + [result(alone, True)]
    )
    timer.state_saved(None, 0.25, intermediate=True)
    timer.state_saved(None, 0.75, intermediate=False)  # A task's end.
    (row,) = timer.rows
    assert {k: row[k] for k in TIMINGS} == dict.fromkeys(TIMINGS, 1.5)
    assert (row["task"], row["candidates"], row["traced"]) == ("a", 3, 1)
    assert row["wall"] >= 0
    assert timer.saves == [0.25]
