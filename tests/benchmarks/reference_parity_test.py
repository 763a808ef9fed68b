"""The reference-parity benchmark: its smoke run's outputs and the
reference's files.

The smoke run grows tiny systems (its numbers mean nothing), so these tests
check what is written and that its figures agree with each other.
"""

import json

import numpy as np
import pytest

from benchmarks import reference_parity as rp
from benchmarks import study
from tests.benchmarks.conftest import smoke_argv

TASKS = ["mnist", "digits", "fashion6k"]
SEEDS = [0, 1]
# The smoke budget: 2 candidates per task, 1 iteration.
CANDIDATES = 2


def reference_file(seed=0, **changes):
    tasks = {
        name: {
            "test_accuracy": accuracy,
            "retained_depth": 2,
            "candidates_before_first_block": 3,
            "candidates": 64,
            "accounted_params": 100_000,
        }
        for name, accuracy in zip(
            ["embedded/mnist", "embedded/digits", "private:fashion6k"],
            [0.95, 0.97, 0.85],
            strict=True,
        )
    }
    data = {
        "seed": seed,
        "source": "fake notebook",
        "tasks": tasks,
        "wall_per_candidate_s": 20.0,
        "complete": True,
    }
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("parity_work")
    out = tmp_path_factory.mktemp("parity_out")
    seeds = "--seeds=" + ",".join(map(str, SEEDS))
    figures = rp.main(smoke_argv(workdir, out, seeds))
    return workdir, out, figures


def test_smoke_writes_consistent_figures(smoke):
    _, out, figures = smoke
    written = json.loads((out / "reference_parity_smoke.json").read_text())
    assert written["seeds"] == SEEDS
    assert {"machine", "command", "definitions"} <= set(written)
    assert [r["seed"] for r in written["runs"]] == SEEDS
    for run in written["runs"]:
        assert sorted(run["tasks"]) == sorted(TASKS)
        for f in run["tasks"].values():
            assert 0.0 <= f["test_accuracy"] <= 1.0
            assert f["candidates"] == CANDIDATES
            assert len(f["depths_made"]) == CANDIDATES
            assert 0 <= f["retained_depth"] <= 3
            assert all(0 <= d <= 3 for d in f["depths_made"])
            assert f["without_block"] == (f["retained_depth"] == 0)
            assert 0 < f["accounted_params"]
            assert f["wall_per_candidate_s"] > 0
            first = f["candidates_before_first_block"]
            if first is None:
                assert f["retained_depth"] == 0
            else:
                assert f["depths_made"][first] >= 1
            made = f["candidates_before_first_block_made"]
            assert made == next(
                (i for i, d in enumerate(f["depths_made"]) if d >= 1), None
            )
    ours = written["summary"]["mu2keras"]
    for task in TASKS:
        accuracies = [
            r["tasks"][task]["test_accuracy"] for r in figures["runs"]
        ]
        assert ours[task]["test_accuracy"]["mean"] == pytest.approx(
            np.mean(accuracies)
        )
        assert ours[task]["test_accuracy"]["std"] == pytest.approx(
            np.std(accuracies, ddof=1)
        )
    means = [
        np.mean([r["tasks"][t]["test_accuracy"] for t in TASKS])
        for r in figures["runs"]
    ]
    assert ours["mean"]["mean"] == pytest.approx(np.mean(means))


def test_without_reference_files_the_recorded_figure_is_labelled(smoke):
    _, out, figures = smoke
    table = (out / "reference_parity_smoke.md").read_text()
    assert "issue 20's recorded figure: official notebook on this CPU" in table
    assert "| 0.931 ± 0.000 | 0.961 ± 0.000 | 0.845 ± 0.000 |" in table
    assert figures["reference_files"] == {}
    goal = figures["summary"]["goal"]
    assert len(goal) == 5  # The mean, one line per task, the wall time.
    assert goal[-1]["met"] is None
    assert "- not measured: wall per candidate" in table


def test_reference_files_are_read_into_the_table(smoke, tmp_path):
    workdir, _, _ = smoke
    (tmp_path / "seed0.json").write_text(json.dumps(reference_file()))
    out = tmp_path / "out"
    seeds = "--seeds=" + ",".join(map(str, SEEDS))
    figures = rp.main(
        smoke_argv(workdir, out, seeds, f"--reference={tmp_path}")
    )
    table = (out / "reference_parity_smoke.md").read_text()
    assert (
        "| reference | 0 | mnist | 0.950 | 100,000 | 2 | 3 | 64 | 20.00 |"
        in (table)
    )
    assert list(figures["reference_files"]) == ["0"]  # No seed1.json.
    theirs = figures["summary"]["reference"]
    assert theirs["source"] == "reference files, seeds [0]"
    assert theirs["mnist"]["test_accuracy"]["mean"] == pytest.approx(0.95)
    assert theirs["mean"]["mean"] == pytest.approx(np.mean([0.95, 0.97, 0.85]))
    wall = figures["summary"]["goal"][-1]
    # Whole runs' walls are shown, never judged: not timed side by side.
    assert wall["met"] is None
    assert "20.00 s" in wall["text"] and "`--loops` measures it" in wall["text"]


def test_a_malformed_reference_file_is_refused_before_running(tmp_path):
    bad = reference_file()
    bad["tasks"]["embedded/digits"]["retained_depth"] = "two"
    (tmp_path / "seed0.json").write_text(json.dumps(bad))
    out = tmp_path / "out"
    with pytest.raises(ValueError) as error:
        rp.main(smoke_argv(tmp_path / "w", out, f"--reference={tmp_path}"))
    assert str(error.value) == (
        f"Reference file {tmp_path}/seed0.json: "
        "tasks['embedded/digits'].retained_depth is 'two'."
    )
    assert not out.exists()


def test_first_block_counts_candidates_before_the_first_accepted_block():
    records = [
        {"num_layers": 0, "accepted": True},
        {"num_layers": 2, "accepted": False},
        {"num_layers": 0, "accepted": False},
        {"num_layers": 1, "accepted": True},
    ]
    assert rp.first_block(records) == (3, 1)
    assert rp.first_block(records[:3]) == (None, 1)
    assert rp.first_block(records[:1]) == (None, None)


def test_summary_counts_tasks_without_a_block():
    def run(seed, first, depth):
        figures = {
            "test_accuracy": 0.5,
            "retained_depth": depth,
            "candidates_before_first_block": first,
            "candidates": 64,
            "accounted_params": 10,
            "wall_per_candidate_s": 1.0,
        }
        return {"seed": seed, "tasks": {t: figures for t in TASKS}}

    # 2 iterations of 32: a first block at 36 came in the second one.
    runs = [run(0, 36, 1), run(1, 5, 2), run(2, None, 0)]
    summary = rp.report.summarize(runs, {}, TASKS, 2)["mu2keras"]
    assert summary["seeds"] == [0, 1, 2]
    assert summary["mnist"]["without_block"] == 1
    assert summary["mnist"]["first_iteration_without_block"] == 2
    assert summary["mnist"]["candidates_before_first_block"] == [36, 5, None]
    assert summary["mnist"]["retained_depth"]["mean"] == pytest.approx(1.0)


def test_loops_time_the_first_visits_beside_the_reference(smoke, tmp_path):
    """`--loops 1` grows MNIST's first visit alone; its seconds per
    candidate are compared with the reference script's depth by depth."""
    workdir, _, _ = smoke
    out = tmp_path / "out"
    argv = smoke_argv(workdir, out, "--seeds=0", "--loops=1")
    (run,) = rp.main(argv)["runs"]
    assert sorted(run["tasks"]) == ["mnist"]  # Digits never grew.
    ours = run["tasks"]["mnist"]
    assert ours["candidates"] == CANDIDATES == len(ours["seconds_made"])
    # The reference script's --loops 1 file: the same depths, each
    # generation 10 and 30 s.
    data = reference_file(complete=False)
    data["tasks"] = {"embedded/mnist": data["tasks"]["embedded/mnist"]}
    data["tasks"]["embedded/mnist"].update(
        generation_seconds=[10.0, 30.0], depths_made=ours["depths_made"]
    )
    (tmp_path / "seed0.json").write_text(json.dumps(data))
    figures = rp.main(argv + [f"--reference={tmp_path}"])
    (kept,) = figures["runs"]  # Kept, not grown again.
    assert kept["tasks"]["mnist"]["seconds_made"] == ours["seconds_made"]
    rows = figures["summary"]["rows"]
    assert [r["depth"] for r in rows] == sorted(set(ours["depths_made"]))
    mine, theirs = [], []
    for r in rows:
        picked = [
            (s, t)
            for s, t, d in zip(
                ours["seconds_made"],
                [10.0, 30.0],
                ours["depths_made"],
                strict=True,
            )
            if d == r["depth"]
        ]
        assert r["mu2keras_s"] == pytest.approx(np.mean([s for s, _ in picked]))
        assert r["reference_s"] == pytest.approx(
            np.mean([t for _, t in picked])
        )
        assert r["candidates"] == [len(picked)] * 2
        mine.append(len(picked) * r["mu2keras_s"])
        theirs.append(len(picked) * r["reference_s"])
    ratio = sum(mine) / sum(theirs)
    goal = figures["summary"]["goal"]
    assert f"{ratio:.3f}×" in goal["text"] and goal["met"] == (ratio <= 0.2)
    table = (out / "reference_parity_wall_smoke.md").read_text()
    assert f"{ratio:.3f}×" in table
    # Kept apart from the whole run's record of the same seed.
    assert (workdir / "runs" / "seed0_loops1.json").exists()
    assert (workdir / "runs" / "seed0.json").exists()


def test_loops_out_of_range_and_bad_reference_timings_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        rp.main(smoke_argv(tmp_path / "w", tmp_path / "o", "--loops=4"))
    bad = reference_file()
    bad["tasks"]["embedded/mnist"]["generation_seconds"] = [1.0, "x"]
    bad["tasks"]["embedded/mnist"]["depths_made"] = [0, 1]
    (tmp_path / "seed0.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError) as error:
        rp.main(
            smoke_argv(
                tmp_path / "w", tmp_path / "o", f"--reference={tmp_path}"
            )
        )
    assert str(error.value) == (
        f"Reference file {tmp_path}/seed0.json: "
        "tasks['embedded/mnist'].generation_seconds is [1.0, 'x']."
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "w").exists()
    bad["tasks"]["embedded/mnist"]["generation_seconds"] = [1.0, 2.0]
    bad["tasks"]["embedded/mnist"]["depths_made"] = [0, "1"]
    (tmp_path / "seed0.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"depths_made is \[0, '1'\], not"):
        rp.main(
            smoke_argv(
                tmp_path / "w", tmp_path / "o", f"--reference={tmp_path}"
            )
        )


def test_bfloat16_runs_are_kept_and_written_apart(smoke, tmp_path):
    """`--compute_dtype bfloat16` grows its own runs and outputs, in
    bfloat16; the float32 runs stay as they were."""
    workdir, _, _ = smoke
    kept = (workdir / "runs" / "seed0.json").read_text()
    out = tmp_path / "out"
    argv = smoke_argv(workdir, out, "--seeds=0", "--compute_dtype=bfloat16")
    figures = rp.main(argv)
    assert figures["compute_dtype"] == "bfloat16"
    (run,) = figures["runs"]
    assert (workdir / "runs" / "seed0_bfloat16.json").exists()
    assert (workdir / "runs" / "seed0.json").read_text() == kept
    assert run["fingerprint"] != json.loads(kept)["fingerprint"]
    table = (out / "reference_parity_bfloat16_smoke.md").read_text()
    assert "mu2keras computes in bfloat16" in table
    assert not (out / "reference_parity_smoke.md").exists()


def test_fingerprints_leave_out_new_fields_at_their_neutral_value():
    """Runs kept before `compute_dtype` existed keep their fingerprint."""
    c = rp.config(0)
    assert c.compute_dtype == "float32"
    text = study.config_text(c)
    assert "compute_dtype" not in text
    without = c.to_dict()
    del without["compute_dtype"]
    assert text == json.dumps(without, sort_keys=True, default=str)
    assert "compute_dtype" in study.config_text(
        rp.config(0, compute_dtype="bfloat16")
    )
