"""Workloads for benchmarks/training_speed.py: data, candidates, counters.

Everything is synthetic and in memory (no input pipeline is measured): the
engine's speed, not the data's, is the question.
"""

import datetime
import functools
import gc
import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context as tf_context

from mu2keras import architecture
from mu2keras import progress
from mu2keras import roots
from mu2keras import training
from mu2keras.evolution import controller as controller_lib
from mu2keras.system.component import copy_layer
from mu2keras.training import structure

NUM_CLASSES = 10
HPARAMS = dict(
    opt_lr=0.01,
    opt_lr_schedule="cosine",
    opt_lr_warmup_ratio=0.1,
    opt_momentum=0.9,
    opt_nesterov=False,
)


def machine():
    """The machine, date and versions the figures were measured with."""
    model = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def rss_mb():
    """Resident memory of this process, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def retained_by_tensorflow(count, jit, size=256):
    """RSS growth (MB) over `count` tf.functions traced, run and dropped.

    Each is a chain of matmuls of its own depth, so a distinct graph and,
    with `jit`, a distinct XLA program. After each call the function is
    deleted, garbage collected and the eager kernel cache cleared: what
    grows is what TensorFlow keeps of functions nobody holds.
    """
    x = tf.random.normal([size, size])
    weight = tf.Variable(tf.random.normal([size, size]) / size**0.5)

    def chain(a, depth):
        for _ in range(depth):
            a = tf.tanh(tf.matmul(a, weight))
        return tf.reduce_sum(a)

    start = None
    for depth in range(1, count + 2):
        function = tf.function(
            functools.partial(chain, depth=depth), jit_compile=jit
        )
        function(x).numpy()
        del function
        gc.collect()
        tf_context.context().clear_kernel_cache()
        if start is None:  # The first one sets up XLA itself.
            start = rss_mb()
    return rss_mb() - start


def datasets(image_size, batch_size, val_batches, val_batch, seed=0):
    """In-memory synthetic (train, validation) datasets, static shapes."""
    rng = np.random.default_rng(seed)
    n = 8 * batch_size
    images = rng.uniform(-1, 1, (n, image_size, image_size, 3))
    labels = rng.integers(0, NUM_CLASSES, n)
    train = tf.data.Dataset.from_tensor_slices(
        (images.astype("float32"), labels.astype("int64"))
    )
    train = train.batch(batch_size, drop_remainder=True).cache().repeat()
    m = val_batches * val_batch
    val = tf.data.Dataset.from_tensor_slices(
        (images[:m].astype("float32"), labels[:m].astype("int64"))
    )
    val = val.batch(val_batch, drop_remainder=True).cache()
    return train.prefetch(2), val


class PathFactory:
    """Candidates on one root, as µ2Net's mutations make them (spec §2.5).

    Args:
        variant: str. ViT variant.
        root_layers: int. Blocks of the (frozen) root.
        image_size: int.
    """

    def __init__(self, variant, root_layers, image_size, seed=0):
        self.variant = variant
        self.image_size = image_size
        self.root = roots.make_root(variant, root_layers, image_size, seed)
        self._new = {}

    def _new_component(self, name):
        # New components (blocks beyond the root, heads) come from one
        # cached init, as the reference's PRNG key 0 (spec §10).
        if name not in self._new:
            self._new[name] = architecture.new_component(
                name, self.variant, self.image_size, num_classes=NUM_CLASSES
            )
        return copy_layer(self._new[name])

    def candidate(self, num_layers, cloned, **hparams):
        """A candidate with `num_layers` blocks, `cloned` root parts cloned.

        encoder_norm and the head are always trainable (spec §1.5); blocks
        the root lacks are new and trainable.
        """
        layers, trainable = [], []
        for name in architecture.component_names(num_layers):
            if name == architecture.HEAD:
                layers.append(self._new_component(name))
                trainable.append(True)
            elif name not in self.root.components:
                layers.append(self._new_component(name))
                trainable.append(True)
            elif name in cloned or name == architecture.ENCODER_NORM:
                layers.append(copy_layer(self.root.components[name]))
                trainable.append(True)
            else:
                layers.append(self.root.components[name])
                trainable.append(False)
        return training.Candidate(layers, trainable, dict(HPARAMS, **hparams))

    def mutated(self, rng, mu=0.2, max_layers=3):
        """A ti0-like random candidate: layers drift, parts cloned with p=µ."""
        num_layers = int(rng.choice([0, 0, 0, 1, 1, 2, 3][: max_layers + 4]))
        names = architecture.component_names(num_layers)[:-2]
        cloned = {n for n in names if rng.uniform() < mu}
        lr = float(rng.choice([0.005, 0.01, 0.02]))
        momentum = float(rng.choice([0.8, 0.9, 0.95]))
        return self.candidate(
            num_layers, cloned, opt_lr=lr, opt_momentum=momentum
        )


def keras_model(cand, image_size):
    """A plain Keras functional model of the candidate's layers."""
    for layer, trainable in zip(cand.layers, cand.trainable, strict=True):
        layer.trainable = trainable
    inputs = keras.Input((image_size, image_size, 3))
    x = inputs
    for layer in cand.layers:
        x = layer(x)
    return keras.Model(inputs, x)


def _products(layer, variant, image_size):
    """(weight, activation) matmul FLOPs of a layer's forward, per example."""
    v = architecture.get_variant(variant)
    d, m = v.hidden_dim, v.mlp_dim
    patches = (image_size // v.patch_size) ** 2
    n = patches + 1
    name = layer.name
    if name == architecture.EMBEDDING:
        return 2 * patches * v.patch_size**2 * 3 * d, 0.0
    if name.startswith("encoderblock_"):
        return 2 * n * d * (4 * d + 2 * m), 2 * 2 * n * n * d
    if name.startswith("residual_adapter_"):
        return 2 * 2 * n * d * layer.adapter_dim, 0.0
    if name == architecture.HEAD:
        return 2 * d * layer.num_classes, 0.0
    return 0.0, 0.0


def group_matmul_flops(cands, image_size, variant):
    """Matmul FLOPs of one fused training step of `cands`, per example.

    Counted over the group's trie (`training.structure.Structure`), as the
    engine computes it: a frozen prefix shared by several candidates once.
    Forward: every dense/conv/attention product. Backward: the input
    gradient of every layer after the first trainable one, and the weight
    gradient of trainable layers; nothing for a frozen prefix. Norms, GELU
    and softmax are not counted.
    """
    group = structure.Structure(cands)
    total, flows = 0.0, []
    for parent, slot in group.nodes:
        weights, activations = _products(
            group.sources[slot], variant, image_size
        )
        trainable = group.slot_trainable[slot]
        upstream = parent >= 0 and flows[parent]
        flows.append(trainable or upstream)
        total += weights + activations
        if flows[-1]:
            total += activations  # Backward through the products.
        if upstream:
            total += weights  # Input gradient.
        if trainable:
            total += weights  # Weight gradient.
    return total


def matmul_flops(cand, image_size, variant):
    """Matmul FLOPs of one training step of `cand`, per example."""
    return group_matmul_flops([cand], image_size, variant)


def forward_matmul_flops(cand, image_size, variant):
    """Matmul FLOPs of one forward pass of `cand`, per example."""
    return sum(
        sum(_products(layer, variant, image_size)) for layer in cand.layers
    )


def matmul_seconds(a, b, repeats=5, calls=1, jit_compile=None):
    """Best seconds of one `a @ b` (a traced tf.function): the best of
    `repeats` timings, each of `calls` calls in a row."""
    matmul = tf.function(
        lambda a, b: tf.reduce_sum(tf.matmul(a, b)), jit_compile=jit_compile
    )
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = matmul(a, b)
        out.numpy()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def matmul_peak(size=4096, repeats=5, dtype="float32"):
    """Best FLOP/s of a large matmul in `dtype` (TensorFlow's own kernels)."""
    a = tf.cast(tf.random.uniform((size, size)), dtype)
    b = tf.cast(tf.random.uniform((size, size)), dtype)
    return 2 * size**3 / matmul_seconds(a, b, repeats)


class GenerationTimer(progress.Progress):
    """Collects each generation's wall time and engine timings (one row per
    generation) from a controller's progress calls."""

    def __init__(self):
        self.rows = []
        self.saves = []  # Seconds of each state saved between generations.
        self._start = None

    def run_started(self, controller):
        self._start = time.perf_counter()

    def generation_done(self, controller, task, children, results):
        now = time.perf_counter()
        # One timings dict per group: a fused group's candidates share it.
        groups = {id(r.timings): r for r in results}.values()
        timings = {
            k: sum(r.timings[k] for r in groups) for k in training.TIMINGS
        }
        self.rows.append(
            dict(
                timings,
                task=task,
                wall=now - self._start,
                candidates=len(results),
                traced=sum(not r.reused for r in groups),
            )
        )
        self._start = now

    def task_done(self, controller, task, best):
        # Locking, testing and exporting a finished task are not a
        # generation's work.
        self._start = time.perf_counter()

    def state_saved(self, controller, seconds, intermediate):
        if intermediate:  # Not the state at a task's end.
            self.saves.append(seconds)


def controller_run(config, workdir):
    """Runs `config` through the controller.

    Returns:
        (rows, saves): a `GenerationTimer` row per generation, and the
        seconds of each state saved between generations (the config's
        `intermediate_state_secs`: I/O a config chooses, timed apart).
    """
    timer = GenerationTimer()
    controller_lib.Controller.create(config, workdir, progress=timer).run()
    return timer.rows, timer.saves
