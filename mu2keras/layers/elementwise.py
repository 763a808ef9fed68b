"""GELU and LayerNorm for the component layers, compiled for the engine.

The layers call `gelu` and `layer_norm` here. Ordinarily these are Keras'
own ops. While the engine traces its layer kernels (`training.kernels`:
steps that XLA does not compile whole, as on CPU), they are instead one
XLA-compiled function forward and one backward each, with the gradient
written out. TensorFlow runs each of them as a dozen or more elementwise ops
each way, every op a pass over the tensor: on CPU, GELU and LayerNorm were
about a fifth of a ViT-Ti/16 training step in bfloat16, and compiled they
take less than half of that (figures in docs/benchmarks.md). Graphs traced
anywhere else (predictions, the exported SavedModel, steps that XLA compiles
whole) keep Keras' ops: a serving binary need not have XLA's JIT.

Compiled, both compute in float32 whatever the input's dtype (Keras'
LayerNorm does too; its GELU computes in the input's dtype) and return the
input's dtype (LayerNorm: the layer's compute dtype, as Keras').
"""

import contextlib
import math
import threading

import keras
import tensorflow as tf
from keras import ops

_STATE = threading.local()

# The tanh approximation's constants (Flax's and TensorFlow's).
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_CUBIC = 0.044715
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@contextlib.contextmanager
def compiled():
    """Within it (on this thread), `gelu` and `layer_norm` trace compiled."""
    before = is_compiled()
    _STATE.compiled = True
    try:
        yield
    finally:
        _STATE.compiled = before


def is_compiled():
    """Whether `gelu` and `layer_norm` trace compiled here."""
    return getattr(_STATE, "compiled", False)


def gelu(x, approximate):
    """GELU: tanh-approximate (AugReg, Flax's default) or exact (erf)."""
    if not _compiles(x):
        return ops.gelu(x, approximate=approximate)
    return _gelu_tanh(x) if approximate else _gelu_erf(x)


def layer_norm(layer, x):
    """`layer(x)` for a built Keras `LayerNormalization` layer."""
    axis = layer.axis if isinstance(layer.axis, int) else tuple(layer.axis)
    last = axis in (-1, len(x.shape) - 1, (-1,), (len(x.shape) - 1,))
    plain = layer.rms_scaling or not (layer.center and layer.scale)
    if not _compiles(x) or not last or plain:
        return layer(x)
    x = ops.cast(x, layer.compute_dtype)
    gamma = ops.cast(layer.gamma, "float32")
    beta = ops.cast(layer.beta, "float32")
    return _layer_norm(x, gamma, beta, float(layer.epsilon))


def _compiles(x):
    return (
        is_compiled()
        and keras.backend.backend() == "tensorflow"
        and ops.dtype(x) in ("float32", "bfloat16", "float16")
    )


# === GELU ===


def _xla(function):
    return tf.function(function, jit_compile=True, autograph=False)


@_xla
def _gelu_tanh_forward(x):
    f = tf.cast(x, tf.float32)
    t = tf.tanh(_SQRT_2_OVER_PI * (f + _CUBIC * (f * f * f)))
    return tf.cast(f * (0.5 * (1.0 + t)), x.dtype)


@_xla
def _gelu_tanh_backward(x, dy):
    f = tf.cast(x, tf.float32)
    t = tf.tanh(_SQRT_2_OVER_PI * (f + _CUBIC * (f * f * f)))
    du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _CUBIC * f * f)
    d = 0.5 * (1.0 + t) + 0.5 * f * (1.0 - t * t) * du
    return tf.cast(tf.cast(dy, tf.float32) * d, x.dtype)


@_xla
def _gelu_erf_forward(x):
    f = tf.cast(x, tf.float32)
    return tf.cast(0.5 * f * (1.0 + tf.math.erf(f * _INV_SQRT_2)), x.dtype)


@_xla
def _gelu_erf_backward(x, dy):
    f = tf.cast(x, tf.float32)
    d = 0.5 * (1.0 + tf.math.erf(f * _INV_SQRT_2))
    d += f * _INV_SQRT_2PI * tf.exp(-0.5 * f * f)
    return tf.cast(tf.cast(dy, tf.float32) * d, x.dtype)


@tf.custom_gradient
def _gelu_tanh(x):
    return _gelu_tanh_forward(x), lambda dy: _gelu_tanh_backward(x, dy)


@tf.custom_gradient
def _gelu_erf(x):
    return _gelu_erf_forward(x), lambda dy: _gelu_erf_backward(x, dy)


# === LayerNorm over the last axis ===


@_xla
def _layer_norm_forward(x, gamma, beta, epsilon):
    f = tf.cast(x, tf.float32)
    # Flax's LayerNorm, as the AugReg ViT and the notebook compute it: the
    # variance as E[x²] - E[x]², clipped at 0.
    mean = tf.reduce_mean(f, axis=-1, keepdims=True)
    mean_of_squares = tf.reduce_mean(f * f, axis=-1, keepdims=True)
    variance = tf.maximum(mean_of_squares - mean * mean, 0.0)
    inverse = tf.math.rsqrt(variance + epsilon)
    y = (f - mean) * (inverse * gamma) + beta
    return tf.cast(y, x.dtype), mean, inverse


@_xla
def _layer_norm_backward(x, mean, inverse, gamma, dy):
    normalized = (tf.cast(x, tf.float32) - mean) * inverse
    dy = tf.cast(dy, tf.float32)
    batch_axes = list(range(len(x.shape) - 1))
    d_gamma = tf.reduce_sum(dy * normalized, axis=batch_axes)
    d_beta = tf.reduce_sum(dy, axis=batch_axes)
    g = dy * gamma
    dx = inverse * (
        g
        - tf.reduce_mean(g, axis=-1, keepdims=True)
        - normalized * tf.reduce_mean(g * normalized, axis=-1, keepdims=True)
    )
    return tf.cast(dx, x.dtype), d_gamma, d_beta


def _layer_norm(x, gamma, beta, epsilon):
    @tf.custom_gradient
    def normalize(x, gamma, beta):
        y, mean, inverse = _layer_norm_forward(x, gamma, beta, epsilon)

        def backward(dy):
            return _layer_norm_backward(x, mean, inverse, gamma, dy)

        return y, backward

    return normalize(x, gamma, beta)
