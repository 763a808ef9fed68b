"""Runs one candidate's training under a strategy and prints the results.

Run as a module from the repository root, in a fresh process (strategies
that configure devices or collectives must come before TensorFlow
initialises them):

    python -m tests.training.distributed_worker mirrored
        Two logical CPU devices; prints JSON {"default": ..., "mirrored": ...}.
    python -m tests.training.distributed_worker worker
        One `MultiWorkerMirroredStrategy` worker (TF_CONFIG set by the
        caller); prints JSON {"worker": ...}.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from mu2keras import training  # noqa: E402
from tests.training import helpers  # noqa: E402


def run_candidate(strategy, jit_compile=False):
    """Trains the test candidate; returns JSON-able results."""
    root = helpers.make_root(num_layers=1)
    cand = helpers.make_candidate(
        root, ("encoderblock_0", "encoder_norm"), opt_nesterov=True
    )
    cand.score_fn = lambda quality: 1.0  # The snapshot is the final state.
    trainer = training.Trainer(strategy=strategy, jit_compile=jit_compile)
    result = trainer.train(
        [cand], helpers.train_dataset(), helpers.validation_dataset(), 3, 2
    )[0]
    head = len(cand.layers) - 1
    return {
        "replicas": strategy.num_replicas_in_sync,
        "losses": result.losses.tolist(),
        "qualities": [e["quality"] for e in result.evaluations],
        "head": cand.layers[head].get_weights()[0].tolist(),
        "block": cand.layers[3].get_weights()[0].tolist(),
        "head_momentum": result.momentum()[head]["dense/kernel"].tolist(),
    }


def main(mode):
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        mirrored = training.make_strategy(devices=["/cpu:0", "/cpu:1"])
        output = {
            "default": run_candidate(tf.distribute.get_strategy()),
            "mirrored": run_candidate(mirrored),
            "mirrored_xla": run_candidate(mirrored, jit_compile=True),
        }
    elif mode == "worker":
        output = {"worker": run_candidate(training.make_strategy())}
    else:
        raise ValueError(f"Unknown mode {mode!r}.")
    print(json.dumps(output))


if __name__ == "__main__":
    main(sys.argv[1])
