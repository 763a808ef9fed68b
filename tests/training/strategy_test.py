"""The strategy factory and the XLA choice."""

import json

import pytest
import tensorflow as tf

from mu2keras import training
from mu2keras.training import strategy as strategy_lib


def test_default_strategy_without_flags(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = training.make_strategy()
    assert strategy is tf.distribute.get_strategy()
    # CPU only here: "auto" leaves XLA off; explicit values win.
    assert training.resolve_jit_compile("auto", strategy) is False
    assert training.resolve_jit_compile(True, strategy) is True
    # Likewise one by one rather than fused.
    assert training.resolve_fused("auto", strategy) is False
    assert training.resolve_fused(True, strategy) is True
    assert training.Trainer(strategy=strategy).fused is False


def test_explicit_devices_give_a_mirrored_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = training.make_strategy(devices=["/cpu:0"])
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 1
    assert training.resolve_jit_compile("auto", strategy) is False
    with pytest.raises(ValueError, match="non-empty list"):
        training.make_strategy(devices="/cpu:0")


def test_tf_config_selects_multi_worker(monkeypatch):
    made = []
    monkeypatch.setattr(
        tf.distribute,
        "MultiWorkerMirroredStrategy",
        lambda: made.append("mwms") or "mwms",
    )
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": 0}}
        ),
    )
    assert training.make_strategy() == "mwms" and made == ["mwms"]
    with pytest.raises(ValueError, match="cannot be combined"):
        training.make_strategy(devices=["/cpu:0"])
    monkeypatch.setenv("TF_CONFIG", "not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        training.make_strategy()


def test_tpu_flag_resolves_connects_and_initialises(monkeypatch):
    calls = []

    class FakeResolver:
        def __init__(self, tpu):
            calls.append(("resolve", tpu))

    monkeypatch.setattr(
        tf.distribute.cluster_resolver, "TPUClusterResolver", FakeResolver
    )
    monkeypatch.setattr(
        tf.config,
        "experimental_connect_to_cluster",
        lambda r: calls.append(("connect", type(r).__name__)),
    )
    monkeypatch.setattr(
        tf.tpu.experimental,
        "initialize_tpu_system",
        lambda r: calls.append(("initialize", type(r).__name__)),
    )
    monkeypatch.setattr(
        tf.distribute,
        "TPUStrategy",
        lambda r: calls.append(("strategy", type(r).__name__)) or "tpu",
    )
    assert training.make_strategy(tpu="local") == "tpu"
    assert calls == [
        ("resolve", "local"),
        ("connect", "FakeResolver"),
        ("initialize", "FakeResolver"),
        ("strategy", "FakeResolver"),
    ]
    with pytest.raises(ValueError, match="TPU name"):
        training.make_strategy(tpu="")


def test_tf_config_task_count(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert strategy_lib._tf_config_tasks() == 0
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps({"cluster": {"worker": ["a:1"], "chief": ["b:2"]}}),
    )
    assert strategy_lib._tf_config_tasks() == 2


class _Extended:
    def __init__(self, devices):
        self.worker_devices = devices


class _FakeStrategy:
    def __init__(self, devices):
        self.extended = _Extended(devices)


@pytest.mark.parametrize(
    "devices, accelerated",
    [
        (("/job:worker/replica:0/task:0/device:CPU:0",), False),
        (("/job:localhost/replica:0/task:0/device:GPU:0",), True),
        (("/device:CPU:0", "/device:GPU:0"), True),
    ],
)
def test_auto_fuses_and_compiles_on_accelerators(devices, accelerated):
    strategy = _FakeStrategy(devices)
    assert training.resolve_fused("auto", strategy) is accelerated
    assert training.resolve_jit_compile("auto", strategy) is accelerated
    assert training.resolve_fused(False, strategy) is False
    # --config.fused=false overrides the string field with a string.
    assert training.resolve_fused("False", strategy) is False
    assert training.resolve_jit_compile("true", strategy) is True
    with pytest.raises(ValueError, match="fused must be .*got 1"):
        training.resolve_fused(1, strategy)
