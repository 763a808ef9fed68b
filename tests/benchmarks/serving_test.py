"""benchmarks/serving.py: its smoke run's output, and its identity check."""

import json

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import serving
from tests.benchmarks.conftest import smoke_argv


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, study_workdir):
    workdir = study_workdir
    out = tmp_path_factory.mktemp("serving_out")
    figures = serving.main(smoke_argv(workdir, out))
    return figures, workdir, out


def _check_rates(by_key, keys):
    assert set(by_key) == {str(k) for k in keys}
    for figures in by_key.values():
        assert figures["images_per_s"] > 0


def test_smoke_output_schema(smoke):
    figures, _, out = smoke
    for suffix in ("json", "md", "png"):
        assert (out / f"serving.{suffix}").stat().st_size > 0
    saved = json.loads((out / "serving.json").read_text())
    assert {"machine", "command", "description", "saved_model"} <= set(saved)
    assert saved["identical"] is True
    assert len(saved["tasks"]) == 2
    assert set(saved["single_task"]) == set(saved["tasks"])
    for by_batch in saved["single_task"].values():
        _check_rates(by_batch, serving.BATCHES)
    _check_rates(saved["routed"], serving.BATCHES)
    assert set(saved["threads"]) == {"task_1", "routed"}
    for by_threads in saved["threads"].values():
        _check_rates(by_threads, serving.THREADS)
        for result in by_threads.values():
            assert result["identical"] is True
            assert result["mismatched_calls"] == 0
    assert (
        "identical to the single-threaded" in (out / "serving.md").read_text()
    )


def test_differing_outputs_fail_the_script(smoke, tmp_path, monkeypatch):
    # A given SavedModel is measured without growing; outputs made to differ.
    figures, workdir, _ = smoke
    monkeypatch.setattr(serving.np, "array_equal", lambda a, b: False)
    args = ["--smoke", "--saved_model", figures["saved_model"]]
    args += ["--workdir", str(workdir), "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as raised:
        serving.main(args)
    assert raised.value.code not in (0, None)
    saved = json.loads((tmp_path / "serving.json").read_text())
    assert saved["identical"] is False and saved["grow_seconds"] is None
    assert "not identical" in (tmp_path / "serving.md").read_text()


class _Noisy:
    """Like a loaded signature (keyword inputs), but never the same twice."""

    structured_input_signature = ((), {"images": None})

    def __call__(self, images):
        return {"logits": images + tf.random.uniform(tf.shape(images))}


def test_concurrent_compares_every_call():
    def inputs(seed):
        images = np.random.default_rng(seed).uniform(size=(2, 3))
        return {"images": tf.constant(images, tf.float32)}

    result = serving.concurrent(_Noisy(), inputs, threads=2, calls=3)
    assert result["identical"] is False
    assert result["mismatched_calls"] == 6
