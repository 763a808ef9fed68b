"""Tiny candidates, datasets and a reference (eager, per-step) trainer."""

import numpy as np
import tensorflow as tf

from mu2keras import architecture
from mu2keras import roots
from mu2keras import training
from mu2keras.pretrained import weights as weights_lib
from mu2keras.system.component import copy_layer

# A trainable copy of a layer (what a component clone holds).
clone = copy_layer

IMAGE_SIZE = 8
NUM_CLASSES = 3
HPARAMS = dict(
    opt_lr=0.5,
    opt_lr_schedule="cosine",
    opt_lr_warmup_ratio=0.25,
    opt_momentum=0.9,
    opt_nesterov=False,
)


def make_root(num_layers=1, seed=0):
    """A "testing" root (patch 4, width 16) at 8 px: 5 tokens."""
    return roots.make_root("testing", num_layers, IMAGE_SIZE, seed=seed)


def make_candidate(root, trainable_names, seed=1, name=None, **hparams):
    """A candidate on `root`: the named components cloned, a new head.

    Args:
        root: a `Root`.
        trainable_names: names of the root components to clone (trainable);
            the others are shared (frozen). The head is always new.
        seed: int. Seed of the new head.
    """
    layers, trainable = [], []
    for layer_name, layer in root.components.items():
        if layer_name == architecture.HEAD:
            layer = architecture.new_component(
                layer_name,
                "testing",
                IMAGE_SIZE,
                num_classes=NUM_CLASSES,
                seed=seed,
            )
            # A non-zero head, so that gradients reach the layers below.
            layer.set_weights(
                [
                    np.random.default_rng(seed)
                    .normal(0, 0.5, w.shape)
                    .astype("float32")
                    for w in layer.get_weights()
                ]
            )
            layers.append(layer)
            trainable.append(True)
        elif layer_name in trainable_names:
            layers.append(clone(layer))
            trainable.append(True)
        else:
            layers.append(layer)
            trainable.append(False)
    return training.Candidate(
        layers, trainable, dict(HPARAMS, **hparams), name=name
    )


def arrays(num_examples=64, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (num_examples, IMAGE_SIZE, IMAGE_SIZE, 3))
    labels = rng.integers(0, NUM_CLASSES, num_examples)
    return images.astype("float32"), labels.astype("int64")


def train_dataset(batch_size=16, seed=0):
    images, labels = arrays(seed=seed)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    return dataset.batch(batch_size, drop_remainder=True).repeat()


def validation_dataset(batch_size=32, seed=1):
    images, labels = arrays(seed=seed)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    return dataset.batch(batch_size, drop_remainder=True)


def layer_weights(layers):
    return [[np.array(w) for w in layer.get_weights()] for layer in layers]


def reference_training(
    cand, dataset, num_steps, steps_between, num_validations
):
    """Trains a copy of `cand` the plain way: eager TF and numpy, per step.

    Spec §2.7 written out: gradients of the mean cross-entropy, global-norm
    clipping at 1, t ← g + μ·t, w ← w − lr·t (Nesterov: g + μ·t), with the
    schedule's learning rate at each step.

    Returns:
        (layers, traces, norms): the trained copies of the candidate's
        layers, the final traces {(layer index, path): array} and the
        gradient's global norm at each step.
    """
    layers = [
        clone(x) if t else x
        for x, t in zip(cand.layers, cand.trainable, strict=True)
    ]
    variables = []
    for index in cand.trainable_indices():
        for path, v in weights_lib.relative_variables(layers[index]).items():
            variables.append(((index, path), v))
    traces = {}
    for key, v in variables:
        start = (cand.momentum[key[0]] or {}).get(key[1])
        traces[key] = np.zeros(v.shape, "float32") if start is None else start
    hp = cand.hparams
    numbers = training.schedule_numbers(
        hp["opt_lr_schedule"],
        hp["opt_lr"],
        hp["opt_lr_warmup_ratio"],
        steps_between,
        num_validations,
    )
    mu = hp["opt_momentum"] or 0.0
    norms = []
    iterator = iter(dataset)
    for step in range(num_steps):
        images, labels = next(iterator)
        with tf.GradientTape() as tape:
            logits = architecture.forward(layers, images, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            )
        grads = tape.gradient(loss, [v.value for _, v in variables])
        grads = [np.array(g, dtype="float64") for g in grads]
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        norms.append(norm)
        scale = min(1.0, 1.0 / norm)
        lr = learning_rate(numbers, step)
        for (key, v), g in zip(variables, grads, strict=True):
            g = g * scale
            trace = g + mu * traces[key]
            update = g + mu * trace if hp["opt_nesterov"] else trace
            traces[key] = trace.astype("float32")
            v.assign(np.array(v.numpy(), "float64") - lr * update)
    return layers, traces, norms


def learning_rate(numbers, step):
    """The spec's schedule in plain Python (spec §2.7)."""
    cycle = min(step // numbers["cycle_steps"], numbers["num_cycles"] - 1)
    step = step - cycle * numbers["cycle_steps"]
    warmup = numbers["warmup_steps"]
    if step < warmup:
        delta = numbers["peak"] - numbers["initial"]
        return numbers["initial"] + delta * step / warmup
    fraction = (
        min(step - warmup, numbers["decay_steps"]) / numbers["decay_steps"]
    )
    cosine = 0.5 * (1 + np.cos(np.pi * fraction))
    alpha = numbers["alpha"]
    return numbers["peak"] * ((1 - alpha) * cosine + alpha)


def xla_compiled_functions(library):
    """Sorted names of the XLA-compiled functions in a `FunctionDefLibrary`
    (a graph's `as_graph_def().library`, a SavedModel's)."""
    return sorted(
        f.signature.name
        for f in library.function
        if f.attr["_XlaMustCompile"].b
    )


def assert_close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)
