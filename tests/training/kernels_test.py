"""Layer kernels: shared traced functions that run any layer's weights."""

import gc
import weakref

import numpy as np
import tensorflow as tf

from mu2keras import architecture
from mu2keras import layers
from mu2keras import training
from mu2keras.training import kernels as kernels_lib
from tests.training import helpers


def _inputs_and_layers(root):
    """(input, layer) for each of the root's components, in path order."""
    images, _ = helpers.arrays(num_examples=4)
    x, pairs = tf.constant(images), []
    for layer in root.components.values():
        pairs.append((x, layer))
        x = layer(x)
    return pairs


def _perturbed(layer, seed, trainable=True):
    copy = helpers.clone(layer)
    copy.trainable = trainable
    rng = np.random.default_rng(seed)
    copy.set_weights(
        [w + rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in copy.weights]
    )
    return copy


def test_a_kernel_runs_each_layer_with_that_layers_weights():
    pairs = _inputs_and_layers(helpers.make_root(num_layers=2))
    kernels = kernels_lib.LayerKernels()
    for x, layer in pairs:
        first, second = _perturbed(layer, 1), _perturbed(layer, 2)
        helpers.assert_close(
            kernels(first, x, False), architecture.forward([first], x)
        )
        count = len(kernels)
        helpers.assert_close(
            kernels(second, x, False), architecture.forward([second], x)
        )
        assert len(kernels) == count  # Traced once, run with new weights.
    # Stem, class token, position embedding, one block kernel for both
    # blocks, encoder norm and head.
    assert len(kernels) == 6


def test_frozen_kernel_gives_no_weight_gradients():
    x, block = _inputs_and_layers(helpers.make_root(num_layers=1))[3]
    kernels = kernels_lib.LayerKernels()
    for trainable in (True, False):
        layer = _perturbed(block, 1, trainable=trainable)
        variables = [v.value for v in layer.weights]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            tape.watch(variables)
            y = tf.reduce_sum(kernels(layer, x, True) ** 2)
            expected = tf.reduce_sum(architecture.forward([layer], x) ** 2)
        weight_grads = tape.gradient(y, variables)
        # The input's gradient is the layer's own in both cases.
        helpers.assert_close(
            tape.gradient(y, x),
            tape.gradient(expected, x),
            rtol=1e-4,
            atol=1e-4,  # Gradients of order 100: float32 round-off.
        )
        if trainable:
            for got, want in zip(
                weight_grads, tape.gradient(expected, variables), strict=True
            ):
                helpers.assert_close(got, want, rtol=1e-4, atol=1e-4)
        else:
            assert all(g is None for g in weight_grads)


def test_layer_with_dropout_in_training_is_called_directly():
    x = tf.random.stateless_normal((4, 5, 16), seed=(1, 2))
    blocks = [
        layers.EncoderBlock(2, 16, 32, dropout_rate=0.5, seed=7)
        for _ in range(2)
    ]
    for block in blocks:
        block.build(x.shape)
    blocks[1].set_weights(blocks[0].get_weights())
    kernels = kernels_lib.LayerKernels()
    # Same seed, same state: the same dropout masks, twice in a row.
    for _ in range(2):
        np.testing.assert_array_equal(
            kernels(blocks[0], x, True), blocks[1](x, training=True)
        )
    stateful = [k.stateful for k in kernels._kernels.values()]
    assert stateful == [True]
    # Without training, dropout is off and the kernel serves.
    helpers.assert_close(kernels(blocks[0], x, False), blocks[1](x))
    assert [k.stateful for k in kernels._kernels.values()] == [True, False]


def test_trainer_traces_only_the_layers_it_has_not_seen():
    root = helpers.make_root(num_layers=1)
    train, val = helpers.train_dataset(), helpers.validation_dataset()
    trainer = training.Trainer(jit_compile=False, fused=False)
    trainer.train([helpers.make_candidate(root, ())], train, val, 2, 1)
    before = len(trainer.kernels)
    # A new structure: the encoder norm is trainable now. Its training
    # kernel is the only new one; the structure evaluates as the first one
    # (trainable flags do not change the forward pass), with its layers.
    cand = helpers.make_candidate(root, ("encoder_norm",), seed=2)
    trainer.train([cand], train, val, 2, 1)
    assert trainer.cache.misses == 2
    assert len(trainer.kernels) == before + 1
    assert (trainer.evaluations.misses, trainer.evaluations.hits) == (1, 1)
    assert len(trainer.layer_pool) == len(root.components)


def test_xla_workspaces_trace_layers_inline():
    root = helpers.make_root(num_layers=1)
    trainer = training.Trainer(jit_compile=True, fused=False)
    trainer.train(
        [helpers.make_candidate(root, ())],
        helpers.train_dataset(),
        helpers.validation_dataset(),
        2,
        1,
    )
    assert trainer.kernels is None


def test_a_kernel_does_not_keep_its_template_layer_alive():
    # The template is a workspace's layer copy: kept alive, an evicted
    # workspace's weights would stay in memory with its kernels.
    x, block = _inputs_and_layers(helpers.make_root(num_layers=1))[3]
    kernels = kernels_lib.LayerKernels()
    layer = helpers.clone(block)
    template = weakref.ref(layer)
    kernels(layer, x, True)
    del layer
    gc.collect()
    assert template() is None
    assert len(kernels) == 1


def test_kernels_compile_gelu_and_layer_norm_and_only_kernels_do():
    x, block = _inputs_and_layers(helpers.make_root(num_layers=1))[3]
    kernels = kernels_lib.LayerKernels()
    helpers.assert_close(
        kernels(block, x, True), block(x), rtol=1e-5, atol=1e-5
    )
    (kernel,) = kernels._kernels.values()
    names = helpers.xla_compiled_functions(
        kernel._function.graph.as_graph_def().library
    )
    assert len(names) == 2, names  # One LayerNorm function, one GELU.
    assert "gelu_tanh_forward" in names[0], names
    assert "layer_norm_forward" in names[1], names
    # Traced anywhere else (a prediction, an export), the block keeps
    # Keras' ops.
    spec = tf.TensorSpec(x.shape, x.dtype)
    plain = tf.function(lambda t: block(t)).get_concrete_function(spec)
    assert (
        helpers.xla_compiled_functions(plain.graph.as_graph_def().library) == []
    )
