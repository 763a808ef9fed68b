"""The matmul floor of issue 20's wall-time goal: its FLOP counts and
arithmetic (the rates are measured, so they are replaced here)."""

import json

import pytest

from benchmarks import reference_parity_floor as floor
from benchmarks import training_workloads

# Ti/16 at 32 px: 4 patches + the class token, width 192, MLP 768.
STEM = 2 * 4 * 768 * 192  # The patch embedding's product, forward.
BLOCK = 2 * 5 * 192 * (4 * 192 + 2 * 768)  # A block's weight products.
ATTENTION = 2 * 2 * 5 * 5 * 192  # Its two activation products.
HEAD = 2 * 192 * 10


def wall_file(tmp_path):
    rows = [
        {"depth": 0, "candidates": [9, 2], "mu2keras_s": 1.0,
         "reference_s": 4.0, "ratio": 0.25},
        {"depth": 1, "candidates": [9, 3], "mu2keras_s": 3.0,
         "reference_s": 10.0, "ratio": 0.3},
    ]  # fmt: skip
    path = tmp_path / "wall.json"
    path.write_text(
        json.dumps(
            {"summary": {"rows": rows}, "machine": {"date": "2026-12-04"}}
        )
    )
    return str(path)


def test_the_setting_is_the_first_visit_of_mnist():
    assert floor.setting() == {
        "task": "embedded/mnist",
        "batch_size": 512,
        "image_size": 32,
        "steps": 32,  # ceil(4,000 / 512) = 8 between 4 validations.
        "evaluations": 4,
        "validation_images": 500,
    }


def test_a_candidate_is_counted_by_hand():
    s = floor.setting()
    # Depth 1: the frozen stem forward; the block forward, back through
    # its attention products and its weight gradient (nothing below it);
    # the head forward, input and weight gradients.
    train = STEM + 2 * (BLOCK + ATTENTION) + 3 * HEAD
    forward = STEM + BLOCK + ATTENTION + HEAD
    assert floor.candidate_flops(1, s) == 32 * 512 * train + 4 * 500 * forward
    assert floor.candidate_flops(0, s) == (
        32 * 512 * (STEM + 3 * HEAD) + 4 * 500 * (STEM + HEAD)
    )


def test_block_products_are_three_times_a_blocks_forward():
    products = floor.block_products(floor.setting())
    assert len(products) == 12
    flops = sum(2 * m * k * n for m, k, n in products)
    assert flops == 3 * 512 * BLOCK


def test_summary_weights_by_the_notebooks_candidates():
    rows = [
        {"reference_candidates": 1, "gflop": 10.0, "floor_peak_s": 1.0,
         "floor_shapes_s": 2.0, "mu2keras_s": 3.0, "reference_s": 10.0},
        {"reference_candidates": 3, "gflop": 20.0, "floor_peak_s": 2.0,
         "floor_shapes_s": 3.0, "mu2keras_s": 5.0, "reference_s": 20.0},
    ]  # fmt: skip
    summary = floor.summarize(rows)
    assert summary["floor_peak_ratio"] == pytest.approx(7 / 70)
    assert summary["floor_shapes_ratio"] == pytest.approx(11 / 70)
    assert summary["mu2keras_ratio"] == pytest.approx(18 / 70)
    # 70 GFLOP in 0.2 × 70 s.
    assert summary["required_flops_per_s"] == pytest.approx(5e9)
    assert summary["goal_reachable"] is True
    rows[1]["floor_shapes_s"] = 5.0
    assert floor.summarize(rows)["goal_reachable"] is False


def fake_rates(monkeypatch, dtypes):
    """Rates of 2e11 (peak) and 1e11 (shapes); records the dtypes asked."""

    def peak(dtype="float32"):
        dtypes.append(dtype)
        return 2e11

    def shapes(products, dtype="float32"):
        dtypes.append(dtype)
        return 1e11, {False: 1e11, True: 9e10}

    monkeypatch.setattr(training_workloads, "matmul_peak", peak)
    monkeypatch.setattr(floor, "shape_rate", shapes)


def test_main_writes_floors_from_the_measured_rates(tmp_path, monkeypatch):
    dtypes = []
    fake_rates(monkeypatch, dtypes)
    figures = floor.main(
        ["--wall", wall_file(tmp_path), "--out", str(tmp_path)]
    )
    s = floor.setting()
    for row in figures["rows"]:
        flops = floor.candidate_flops(row["depth"], s)
        assert row["floor_peak_s"] == pytest.approx(flops / 2e11)
        assert row["floor_shapes_s"] == pytest.approx(flops / 1e11)
    assert [r["reference_candidates"] for r in figures["rows"]] == [2, 3]
    written = json.loads((tmp_path / "reference_parity_floor.json").read_text())
    assert written["summary"] == pytest.approx(figures["summary"])
    assert (
        "0.2× the notebook's wall needs"
        in (tmp_path / "reference_parity_floor.md").read_text()
    )
    assert dtypes == ["float32", "float32"]


def test_bfloat16_floors_use_bfloat16_rates_and_are_written_apart(
    tmp_path, monkeypatch
):
    dtypes = []
    fake_rates(monkeypatch, dtypes)
    argv = ["--compute_dtype", "bfloat16", "--out", str(tmp_path)]
    figures = floor.main(argv + ["--wall", wall_file(tmp_path)])
    assert dtypes == ["bfloat16", "bfloat16"]
    assert figures["compute_dtype"] == "bfloat16"
    table = (tmp_path / "reference_parity_floor_bfloat16.md").read_text()
    assert "Rates in bfloat16" in table
    assert not (tmp_path / "reference_parity_floor.md").exists()
    # Without --wall: mu2keras' bfloat16 --loops figures.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="reference_parity_wall_bfloat16"):
        floor.main(argv)
