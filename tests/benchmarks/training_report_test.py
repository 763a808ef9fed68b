"""The training-speed report's arithmetic and verdicts."""

import pytest

from benchmarks import training_report

MACHINE = {
    "date": "2026-11-22",
    "cores": 2,
    "cpu": "test cpu",
    "tensorflow": "2.21.0",
    "keras": "3.15.1",
    "python": "3.11.7",
}


def demo_row(wall, train, compile_seconds=0.0):
    return {
        "prep": 0.1,
        "compile": compile_seconds,
        "train": train,
        "eval": 0.2,
        "copy": 0.1,
        "wall": wall,
        "reused": compile_seconds == 0.0,
    }


def report(**parts):
    """The report of figures holding `parts` (part name -> its output)."""
    figures = dict(machine=MACHINE, command="test", **parts)
    return training_report.markdown(figures, 512, 15.0)


def row_of(markdown, start):
    rows = [line for line in markdown.splitlines() if line.startswith(start)]
    assert len(rows) == 1, markdown
    return rows[0]


def test_overhead_counts_time_outside_the_engine_timers():
    # Timed: 0.4 s overhead (prep, copy) + 8.6 s training and evaluation of
    # 10 s of wall time, so 1 s (10%) is outside the timers: 14% in all.
    markdown = report(
        demo={"rows": [demo_row(10.0, 8.4, 0.2)], "structures": 1}
    )
    row = row_of(markdown, "| Overhead")
    assert "4% over 1 candidates (1 structures traced)" in row
    assert "10.0% outside the engine's timers" in row
    assert row.endswith("**missed** |")


@pytest.mark.parametrize(
    "fused, alone, verdict", [(6.0, 10.0, "met"), (6.1, 10.0, "**missed**")]
)
def test_fused_verdict_is_the_issue_ratio(fused, alone, verdict):
    markdown = report(
        fused={
            "ti0_fused": [fused, fused],
            "ti0_one_by_one": [alone, alone],
            "ti3_fused": [fused, fused],
            "ti3_one_by_one": [alone, alone],
        }
    )
    row = row_of(
        markdown, "| Fused K = 8 ≤ 0.6 × one by one (ti0-like candidates, warm)"
    )
    assert f"= {fused / alone:.2f}×" in row
    assert row.endswith(f"{verdict} |")


def test_fused_rows_carry_the_flops_ratio_of_their_setting():
    markdown = report(
        fused={
            "ti12_fused": [8.0, 4.0],
            "ti12_one_by_one": [10.0, 5.0],
            "ti12_flops_ratio": 0.934,
        }
    )
    row = row_of(
        markdown,
        "| Fused K = 8 ≤ 0.6 × one by one (ti12-like candidates, warm)",
    )
    assert "= 0.80×; matmul FLOPs fused / one by one 0.93 |" in row
    assert "ti0-like" not in markdown


def test_memory_growth_is_last_minus_first_sample():
    rss = [(10, 1500.0), (100, 1900.0), (200, 1790.0)]
    markdown = report(memory={"rss": rss, "structures": 7})
    row = row_of(markdown, "| Resident memory growth")
    assert "+290 MB from candidate 10 to 200" in row
    assert row.endswith("met |")


def test_generations_row_compares_whole_runs():
    def run(seconds, traced):
        return {"seconds": seconds, "traced": traced, "generations": 6}

    markdown = report(
        generations={
            "ti0_fused": run(82.0, 6),
            "ti0_one_by_one": run(80.0, 22),
            "ti3_fused": run(30.0, 6),
            "ti3_one_by_one": run(60.0, 12),
        }
    )
    ti0 = row_of(markdown, "| Fused K = 8 ≤ 0.6 × one by one (ti0-like, 6")
    assert "82.0 s (6 groups traced) vs 80.0 s (22 traced) = 1.02×" in ti0
    assert ti0.endswith("**missed** |")
    ti3 = row_of(markdown, "| Fused K = 8 ≤ 0.6 × one by one (ti3-like, 6")
    assert ti3.endswith("= 0.50× | met |")


def test_controller_run_splits_wall_time_and_leaves_saves_out():
    # Two generations of 5 s: 0.5 s engine overhead (prep, compile, copy),
    # 8.2 s training and evaluation, 0.5 s saving states; the other 0.8 s
    # is the controller's. Saves are not counted against the target.
    rows = [
        dict(demo_row(5.0, 4.0, 0.1), candidates=1, traced=1, task="a"),
        dict(demo_row(5.0, 3.8, 0.0), candidates=1, traced=0, task="a"),
    ]
    markdown = report(
        demo_run={"rows": rows, "saves": [0.2, 0.3], "seconds": 11.0}
    )
    row = row_of(markdown, "| Overhead ≤ 10% of a candidate's wall time (the")
    assert "engine 5% over 2 candidates (1 structures traced)" in row
    assert "controller 8%" in row
    assert "state saves 5%" in row
    assert "5.00 s per candidate" in row
    assert row.endswith("**missed** |")  # 5% + 8% > 10%.


def test_spec_run_reports_the_whole_run_and_its_first_24():
    # 24 first sights of task a (0.4 s overhead, 1 s untimed of 10 s),
    # then 26 reused candidates of task b (0.2 s overhead of 5 s): 14.8 s
    # of overhead and 24 s untimed in 370 s.
    rows = [dict(demo_row(10.0, 8.4, 0.2), task="a") for _ in range(24)]
    rows += [dict(demo_row(5.0, 4.6), task="b") for _ in range(26)]
    markdown = report(demo_spec={"rows": rows, "structures": 24})
    row = row_of(markdown, "| Overhead ≤ 10% of a candidate's wall time (spec")
    assert "4% over 50 candidates (24 structures traced; the first 24: 4%)" in (
        row
    )
    assert "4% on reused structures" in row
    assert "6.5% outside the engine's timers" in row
    assert "7.40 s per candidate (a 10.00 s, b 5.00 s)" in row
    assert row.endswith("**missed** |")  # 4.0% + 6.5% > 10%.


def test_retention_line_reports_both_modes():
    markdown = report(
        retention={"functions": 100, "xla_off_mb": 4.7, "xla_on_mb": 312.3}
    )
    assert "after 100 distinct small tf.functions" in markdown
    assert "+5 MB with XLA off, +312 MB with XLA on" in markdown
