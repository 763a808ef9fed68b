"""GELU and LayerNorm compiled for the engine: Keras' values and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from mu2keras.layers import elementwise
from tests.training import helpers


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    # A mean and scale per token, as LayerNorm's inputs have.
    x = rng.normal(0.5, 2.0, shape) + rng.normal(0, 3.0, shape[:-1] + (1,))
    return tf.constant(x, dtype)


def _value_and_gradients(function, x, others=(), dy=None):
    if dy is None:
        dy = tf.cast(_inputs(x.shape, tf.float32, seed=1), x.dtype)
    with tf.GradientTape() as tape:
        tape.watch([x, *others])
        y = function(x)
    return y, tape.gradient(y, [x, *others], output_gradients=dy)


def _float64(t):
    return tf.cast(t, tf.float64).numpy()


def _assert_close(actual, expected, rtol):
    # Absolute slack at 1e-5 of the values' scale: where GELU's tanh
    # saturates, 1 ± tanh cancels and the kernels' float32 tanh (XLA's,
    # Eigen's) differ in their last bits (at x = -4.5: -5.10e-6 and -4.96e-6
    # for the exact -5.15e-6; the gradients differ by up to 2.7e-6 of their
    # scale here).
    expected = _float64(expected)
    atol = 1e-5 * np.abs(expected).max()
    np.testing.assert_allclose(_float64(actual), expected, rtol, atol)


@pytest.mark.parametrize("approximate", [True, False])
def test_compiled_gelu_is_keras_gelu_with_its_gradient(approximate):
    x = _inputs((64, 5, 96), tf.float32)
    y, (dx,) = _value_and_gradients(lambda t: ops.gelu(t, approximate), x)
    with elementwise.compiled():
        y2, (dx2,) = _value_and_gradients(
            lambda t: elementwise.gelu(t, approximate), x
        )
    _assert_close(y2, y, rtol=1e-5)
    _assert_close(dx2, dx, rtol=1e-5)


@pytest.mark.parametrize("approximate", [True, False])
def test_compiled_gelu_in_bfloat16_rounds_once(approximate):
    # Computed in float32 and rounded once: within half a bfloat16 ulp (at
    # most 2^-8 relative) of the float32 result on the same inputs.
    x = _inputs((64, 5, 96), tf.bfloat16)
    dy = tf.cast(_inputs(x.shape, tf.float32, seed=1), tf.bfloat16)
    exact, (dx_exact,) = _value_and_gradients(
        lambda t: ops.gelu(t, approximate),
        tf.cast(x, tf.float32),
        dy=tf.cast(dy, tf.float32),
    )
    with elementwise.compiled():
        y, (dx,) = _value_and_gradients(
            lambda t: elementwise.gelu(t, approximate), x, dy=dy
        )
    assert y.dtype == dx.dtype == tf.bfloat16
    _assert_close(y, exact, rtol=2.0**-8)
    _assert_close(dx, dx_exact, rtol=2.0**-8)


def _layer_norm(dtype_policy):
    layer = keras.layers.LayerNormalization(epsilon=1e-6, dtype=dtype_policy)
    layer.build((None, 5, 96))
    rng = np.random.default_rng(2)
    layer.gamma.assign(rng.normal(1.0, 0.3, 96))
    layer.beta.assign(rng.normal(0.0, 0.3, 96))
    return layer


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_compiled_layer_norm_is_keras_layer_norm_with_its_gradients(policy):
    layer = _layer_norm(policy)
    x = _inputs((64, 5, 96), layer.compute_dtype)
    weights = [layer.gamma.value, layer.beta.value]
    y, grads = _value_and_gradients(layer, x, weights)
    with elementwise.compiled():
        y2, grads2 = _value_and_gradients(
            lambda t: elementwise.layer_norm(layer, t), x, weights
        )
    assert y2.dtype == y.dtype == layer.compute_dtype
    assert [g.dtype for g in grads2] == [g.dtype for g in grads]
    if policy == "float32":
        np.testing.assert_allclose(y2, y, rtol=1e-5, atol=1e-5)
        for g2, g in zip(grads2, grads, strict=True):
            np.testing.assert_allclose(g2, g, rtol=1e-4, atol=1e-4)
    else:
        # Both compute in float32 and round the output to bfloat16: at most
        # one bfloat16 ulp apart. The gradients: Keras' backward runs in
        # bfloat16 from the output on, the compiled one rounds once.
        y64, y2_64 = _float64(y), _float64(y2)
        np.testing.assert_allclose(y2_64, y64, rtol=2.0**-7, atol=1e-2)
        for g2, g in zip(grads2, grads, strict=True):
            scale = np.abs(_float64(g)).max()
            assert np.abs(_float64(g2) - _float64(g)).max() < 0.02 * scale


def test_outside_the_context_they_are_keras_ops():
    layer = _layer_norm("float32")
    spec = tf.TensorSpec((8, 5, 96), tf.float32)

    def compiled_functions(function):
        graph = tf.function(function).get_concrete_function(spec).graph
        return helpers.xla_compiled_functions(graph.as_graph_def().library)

    def both(t):
        return elementwise.gelu(elementwise.layer_norm(layer, t), True)

    assert compiled_functions(both) == []
    assert not elementwise.is_compiled()
    with elementwise.compiled():
        with elementwise.compiled():
            assert elementwise.is_compiled()
        assert elementwise.is_compiled()  # Nested: restored, not reset.
        names = compiled_functions(both)
    assert not elementwise.is_compiled()
    assert any("layer_norm_forward" in n for n in names), names
    assert any("gelu_tanh_forward" in n for n in names), names


def test_layer_norm_over_other_axes_stays_keras():
    layer = keras.layers.LayerNormalization(axis=1, epsilon=1e-6)
    layer.build((None, 5, 96))
    x = _inputs((4, 5, 96), tf.float32)
    with elementwise.compiled():
        np.testing.assert_allclose(
            elementwise.layer_norm(layer, x), layer(x), rtol=1e-6, atol=1e-6
        )
