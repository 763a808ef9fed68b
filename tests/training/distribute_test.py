"""Training under MirroredStrategy and MultiWorkerMirroredStrategy.

Each strategy runs in fresh processes: logical devices and collective
communication must be configured before TensorFlow initialises.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.training import distributed_worker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TIMEOUT = 240


def run_worker(mode, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.training.distributed_worker", mode],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def output_of(process):
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def assert_same_training(got, want):
    for key in ("losses", "qualities", "head", "block", "head_momentum"):
        np.testing.assert_allclose(
            np.array(got[key]), np.array(want[key]), rtol=1e-5, atol=1e-5
        )


@pytest.fixture(scope="module")
def single_device():
    return distributed_worker.run_candidate(tf.distribute.get_strategy())


def test_mirrored_over_two_logical_cpus_matches_default(single_device):
    results = output_of(run_worker("mirrored"))
    assert results["default"]["replicas"] == 1
    assert results["mirrored"]["replicas"] == 2
    # Same global batch: same per-step losses, within 1e-5.
    np.testing.assert_allclose(
        results["mirrored"]["losses"],
        results["default"]["losses"],
        rtol=1e-5,
        atol=1e-5,
    )
    assert_same_training(results["mirrored"], results["default"])
    assert_same_training(results["mirrored_xla"], results["default"])
    # The subprocess's default run is this process's too.
    assert_same_training(results["default"], single_device)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_on_localhost_matches_default(single_device):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = [
        run_worker(
            "worker",
            {
                "TF_CONFIG": json.dumps(
                    {
                        "cluster": {"worker": workers},
                        "task": {"type": "worker", "index": index},
                    }
                )
            },
        )
        for index in range(2)
    ]
    outputs = [output_of(p)["worker"] for p in processes]
    for output in outputs:
        assert output["replicas"] == 2
        assert_same_training(output, single_device)
