"""Building the tf.distribute strategy the engine trains under.

One factory covers the reference's hardware (spec §6.1) and more: a TPU
(`TPUStrategy`), several GPUs or explicit devices (`MirroredStrategy`),
several machines (`MultiWorkerMirroredStrategy`, configured by `TF_CONFIG`),
or one device (the default strategy). The engine's step is a custom loop,
`strategy.run` inside a `tf.function`, because Keras 3 `model.fit` under
`TPUStrategy` is known to fail (keras-team/keras#19448).

Real TPU runs need a TensorFlow with TPU support (`tensorflow-tpu` 2.19 or
2.20; Keras names 2.19.1 as the last TensorFlow it supports on TPU); the
tensorflow-cpu wheels cannot drive TPUs.
"""

import json
import os

import tensorflow as tf


def make_strategy(tpu=None, devices=None, multi_worker=None):
    """Returns the strategy for the flags given.

    Checked in this order:

    1. `tpu`: a TPU name or address, or "local" on a TPU VM: resolves it with
       `TPUClusterResolver`, connects, initialises the TPU system and returns
       a `TPUStrategy`. Call it once, before creating any variable.
    2. `multi_worker`, or (when None) a `TF_CONFIG` environment variable
       describing more than one task: `MultiWorkerMirroredStrategy`. Each
       worker process runs the same program.
    3. `devices`: a list of device names (e.g. ["/gpu:0", "/gpu:1"] or
       logical CPUs): `MirroredStrategy` over them.
    4. Two or more GPUs: `MirroredStrategy` over all of them.
    5. Otherwise the default (single-device) strategy.

    Args:
        tpu: str or None.
        devices: list of str or None.
        multi_worker: bool or None.

    Returns:
        A `tf.distribute.Strategy`.
    """
    if tpu is not None:
        return _tpu_strategy(tpu)
    if multi_worker is None:
        multi_worker = _tf_config_tasks() > 1
    if multi_worker:
        if devices is not None:
            raise ValueError(
                "`devices` cannot be combined with a multi-worker strategy "
                f"(each worker uses its own devices); got devices={devices!r}."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices is not None:
        if isinstance(devices, str) or not devices:
            raise ValueError(
                f"`devices` must be a non-empty list of names; got {devices!r}."
            )
        return tf.distribute.MirroredStrategy(list(devices))
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


class TpuUnreachable(ValueError):
    """A `--tpu` that cannot be resolved or reached; one line."""


def launcher_strategy(tpu=None):
    """`make_strategy(tpu=tpu)` for a launcher: a `tpu` that cannot be
    reached raises `TpuUnreachable` with the resolver's error on one line,
    before any work."""
    try:
        return make_strategy(tpu=tpu)
    except (OSError, RuntimeError, ValueError, tf.errors.OpError) as error:
        if tpu is None:
            raise
        text = " ".join(str(error).split())
        raise TpuUnreachable(
            f"cannot reach this TPU ({type(error).__name__}: {text})."
        ) from error


def _tpu_strategy(tpu):
    if not isinstance(tpu, str) or not tpu:
        raise ValueError(
            f"`tpu` must be a TPU name, address or 'local'; got {tpu!r}."
        )
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _tf_config_tasks():
    """Number of tasks in the `TF_CONFIG` cluster (0 when unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError) as error:
        raise ValueError(f"TF_CONFIG is not a JSON object: {raw!r}.") from error
    return sum(len(tasks) for tasks in cluster.values())


def is_tpu_strategy(strategy):
    return isinstance(
        strategy,
        (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy),
    )


def resolve_jit_compile(jit_compile, strategy):
    """Turns `jit_compile="auto"` into a bool.

    "auto" compiles with XLA unless every device of the strategy is a CPU
    (Keras' own trainer makes the same choice). On CPU, XLA's compile time
    for each new structure (1-7 s for Ti/16 paths here) and its executables,
    which TensorFlow never frees (+1.5 GB over 200 candidates with 80
    distinct structures), outweigh its step-time gain (about 20%); see
    docs/benchmarks.md. On a TPU, strategy computations are always
    XLA-compiled.

    Args:
        jit_compile: bool or "auto".
        strategy: `tf.distribute.Strategy`.
    """
    return _resolve_auto("jit_compile", jit_compile, strategy)


def resolve_fused(fused, strategy):
    """Turns `fused="auto"` into a bool.

    "auto" fuses a generation's candidates into one graph unless every
    device of the strategy is a CPU. On 2 CPU cores, one candidate's ops
    already keep the cores busy, so fusing gains only the shared frozen
    prefix, and a fused group's structure rarely recurs across generations
    while single candidates' structures do: over 6 generations of new
    candidates, fused took 0.8-1.3 × the time of one by one (see
    docs/benchmarks.md). On an accelerator, fusing K candidates gives each
    step K times the work.

    Args:
        fused: bool or "auto".
        strategy: `tf.distribute.Strategy`.
    """
    return _resolve_auto("fused", fused, strategy)


def parse_switch(name, value):
    """An engine switch (`fused`, `jit_compile`): a bool or "auto".

    Also accepts "true" and "false" in any case: a config flag's override
    of the "auto" string field.

    Raises:
        ValueError: naming `name` and the bad value.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value != "auto":
        raise ValueError(
            f"{name} must be True, False or 'auto'; got {value!r}."
        )
    return value


def _resolve_auto(name, value, strategy):
    value = parse_switch(name, value)
    if isinstance(value, bool):
        return value
    if is_tpu_strategy(strategy):
        return True
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:
        # The default strategy has none: it uses TensorFlow's default device,
        # an accelerator when there is one.
        devices = [d.name for d in tf.config.list_logical_devices()]
    return any(":CPU:" not in device.upper() for device in devices)
