"""Workloads of benchmarks/training_speed.py: the controller-run timer (part
demo_run) and the FLOP counts of the throughput and fused parts."""

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


def test_group_flops_count_a_shared_frozen_prefix_once():
    factory = training_workloads.PathFactory("Ti/16", 2, 32)
    d, m, n = 192, 768, 5  # Ti/16 at 32 px: 4 patches and the class token.
    weights = 2 * n * d * (4 * d + 2 * m)  # A block's dense products.
    activations = 2 * 2 * n * n * d  # Its attention products.
    frozen = factory.candidate(2, set())
    late = factory.candidate(2, {"encoderblock_1"})
    flops = [
        training_workloads.matmul_flops(c, 32, "Ti/16") for c in (frozen, late)
    ]
    # Cloning the last block adds its weight gradient and the backward
    # through its attention products (nothing before it needs a gradient).
    assert flops[1] - flops[0] == weights + activations
    group = training_workloads.group_matmul_flops([frozen, late], 32, "Ti/16")
    # The stem and block 0 are the same frozen objects in both: once.
    stem = 2 * 4 * 16 * 16 * 3 * d
    assert group == sum(flops) - stem - (weights + activations)
