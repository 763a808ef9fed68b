import inspect
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from mu2keras import layers

TOKENS = (None, 5, 16)  # A 2x2 patch grid plus the class token, width 16.

# (layer factory, build shape, expected variable count, expected params)
CASES = {
    "PatchEmbedding": (
        lambda: layers.PatchEmbedding(16, 4, seed=1),
        (None, 8, 8, 3),
        2,
        4 * 4 * 3 * 16 + 16,
    ),
    "ClassToken": (lambda: layers.ClassToken(16), (None, 4, 16), 1, 16),
    "PositionEmbedding": (
        lambda: layers.PositionEmbedding(2, 16, seed=1),
        TOKENS,
        1,
        5 * 16,
    ),
    "EncoderBlock": (
        lambda: layers.EncoderBlock(2, 16, 32, seed=1),
        TOKENS,
        16,
        4 * (16 * 16 + 16) + 2 * 32 + (16 * 32 + 32) + (32 * 16 + 16),
    ),
    "ResidualAdapter": (
        lambda: layers.ResidualAdapter(16, 4, seed=1),
        TOKENS,
        6,
        2 * 16 + (16 * 4 + 4) + (4 * 16 + 16),
    ),
    "EncoderNorm": (lambda: layers.EncoderNorm(16), TOKENS, 2, 32),
    "TaskHead": (lambda: layers.TaskHead(3, 16), TOKENS, 2, 17 * 3),
}


def built(name):
    factory, shape, _, _ = CASES[name]
    layer = factory()
    layer.build(shape)
    return layer, shape


def random_input(shape, seed=0):
    shape = (2,) + tuple(shape[1:])
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip_is_exactly_the_constructor_arguments(name):
    layer, _ = built(name)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    base = keras.layers.Layer().get_config()
    own = {k: v for k, v in config.items() if k not in base}
    # Every own config key is a constructor argument, and vice versa.
    params = inspect.signature(type(layer).__init__).parameters
    assert set(own) == set(params) - {"self", "kwargs"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_serialization_round_trip_keeps_class_config_and_function(
    name, tmp_path
):
    layer, shape = built(name)
    serialized = json.loads(
        json.dumps(keras.saving.serialize_keras_object(layer))
    )
    assert serialized["registered_name"] == f"mu2keras>{name}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    # Whole-model save/load through the native .keras format.
    inputs = keras.Input(shape[1:])
    model = keras.Model(inputs, layer(inputs))
    for variable in model.weights:  # Make zero-initialised weights non-zero.
        variable.assign(random_input((None,) + tuple(variable.shape), 3)[0])
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = random_input(shape)
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_weights_count_and_parameter_count(name):
    layer, _ = built(name)
    _, _, num_variables, num_params = CASES[name]
    assert len(layer.weights) == num_variables
    assert len(layer.trainable_weights) == num_variables
    assert layer.count_params() == num_params


def test_same_seed_gives_same_weights_and_other_seed_differs():
    def weights(seed):
        layer = layers.EncoderBlock(2, 16, 32, seed=seed)
        layer.build(TOKENS)
        return layer.get_weights()

    first, again, other = weights(7), weights(7), weights(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[2], other[2])  # Query kernels.


def test_attention_kernels_are_initialised_independently():
    block = layers.EncoderBlock(2, 16, 32, seed=3)
    block.build(TOKENS)
    a = block.attention
    kernels = [
        np.asarray(d.kernel).reshape(-1)[:64]
        for d in (a.query_dense, a.key_dense, a.value_dense, a.output_dense)
    ]
    for i in range(4):
        for j in range(i):
            assert not np.allclose(kernels[i], kernels[j])


@pytest.mark.parametrize("seed", [3, None])
def test_fresh_block_and_adapter_start_with_vit_jax_initial_scales(seed):
    # The notebook grows ti0's blocks from random (spec §8.1): Flax's
    # attention draws each projection as a (D, D) Glorot-uniform matrix,
    # bound sqrt(6 / 2D), and its adapter's down-projection is LeCun-normal
    # (std 1/sqrt(D), truncated at 2 std). Keras' own fans of the 3-D
    # kernels would bound query, key and value at
    # sqrt(6 / (D * (heads + D / heads))): 0.022 here instead of 0.125.
    d = 192
    block = layers.EncoderBlock(3, d, 4 * d, seed=seed)
    block.build((None, 5, d))
    bound = np.sqrt(6 / (2 * d))
    for dense in block._attention_denses():
        kernel = np.asarray(dense.kernel)
        assert np.abs(kernel).max() <= bound
        assert np.abs(kernel).max() > 0.99 * bound
        np.testing.assert_allclose(kernel.std(), bound / np.sqrt(3), rtol=0.03)
    mlp = np.asarray(block.mlp_dense_1.kernel)
    np.testing.assert_allclose(mlp.std(), np.sqrt(2 / (d + 4 * d)), rtol=0.03)
    adapter = layers.ResidualAdapter(d, 32, seed=seed)
    adapter.build((None, 5, d))
    down = np.asarray(adapter.down.kernel)
    np.testing.assert_allclose(down.std(), 1 / np.sqrt(d), rtol=0.05)
    assert np.abs(down).max() <= 2 / np.sqrt(d) / 0.87962566103423978


def _block_gradients(block, tokens, attend):
    with tf.GradientTape() as tape:
        y = attend(block, tokens)
        loss = tf.reduce_sum(y * y)
    return y, tape.gradient(loss, block.trainable_variables)


def test_self_attention_equals_keras_attention_values_and_gradients():
    # The block computes attention with 2-D projections (for speed) from
    # the kernels of its Keras MultiHeadAttention: same values, same
    # gradients for every kernel and bias.
    block = layers.EncoderBlock(4, 16, 32, seed=2)
    block.build(TOKENS)
    tokens = tf.constant(
        np.random.default_rng(0).normal(size=(3, 5, 16)), "float32"
    )
    ours, ours_grads = _block_gradients(
        block, tokens, lambda b, x: b._self_attention(x, False)
    )
    keras_, keras_grads = _block_gradients(
        block, tokens, lambda b, x: b.attention(x, x)
    )
    np.testing.assert_allclose(ours, keras_, rtol=1e-5, atol=1e-6)
    attention_grads = 0
    for var, a, b in zip(
        block.trainable_variables, ours_grads, keras_grads, strict=True
    ):
        if "attention" in var.path:
            attention_grads += 1
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert attention_grads == 8  # 4 kernels and 4 biases.


def test_attention_dropout_applies_to_attention_weights_in_training_only():
    block = layers.EncoderBlock(2, 16, 32, attention_dropout=0.5, seed=1)
    block.build(TOKENS)
    tokens = np.random.default_rng(1).normal(size=(2, 5, 16))
    tokens = tokens.astype("float32")
    inference = block._self_attention(tokens, False)
    np.testing.assert_allclose(
        inference, block.attention(tokens, tokens), rtol=1e-5, atol=1e-6
    )
    dropped = block._self_attention(tokens, True)
    assert not np.allclose(dropped, inference)
    np.testing.assert_array_equal(block(tokens), block(tokens))


def test_patch_embedding_flattens_grid_row_major():
    layer = layers.PatchEmbedding(2, 2)
    layer.build((None, 4, 4, 1))
    kernel = np.zeros((2, 2, 1, 2), "float32")
    kernel[0, 0, 0, 0] = 1.0  # Token channel 0 = each patch's top-left pixel.
    layer.set_weights([kernel, np.zeros(2, "float32")])
    image = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    tokens = np.asarray(layer(image))
    assert tokens.shape == (1, 4, 2)
    np.testing.assert_array_equal(tokens[0, :, 0], [0, 2, 8, 10])


@pytest.mark.parametrize("channels", [1, 3])
def test_patch_embedding_is_the_strided_convolution(channels):
    # Computed as one matrix product, it must stay vit_jax's convolution:
    # values and kernel gradients, on a non-square image, and traced with
    # unknown batch and image sizes.
    layer = layers.PatchEmbedding(8, 4, seed=3)
    layer.build((None, 8, 12, channels))
    layer.set_weights([w + 0.1 for w in layer.get_weights()])  # Bias too.
    images = tf.random.stateless_uniform((2, 8, 12, channels), (1, 2), -1, 1)

    def conv(x):
        out = tf.nn.conv2d(x, layer.conv.kernel, 4, "VALID")
        return tf.reshape(out + layer.conv.bias, (2, 6, 8))

    with tf.GradientTape(persistent=True) as tape:
        ours, reference = layer(images), conv(images)
        loss_ours = tf.reduce_sum(tf.sin(ours))
        loss_reference = tf.reduce_sum(tf.sin(reference))
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)
    for grad, expected in zip(
        tape.gradient(loss_ours, layer.trainable_weights),
        tape.gradient(loss_reference, layer.trainable_weights),
        strict=True,
    ):
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5)
    spec = tf.TensorSpec((None, None, None, channels))
    traced = tf.function(layer, input_signature=[spec])
    np.testing.assert_allclose(traced(images), ours, rtol=1e-6, atol=1e-6)


def test_patch_embedding_rejects_image_not_multiple_of_patch():
    with pytest.raises(ValueError, match="not a multiple of patch_size=4"):
        layers.PatchEmbedding(16, 4).build((None, 10, 10, 3))


def test_class_token_is_prepended_before_position_embedding():
    cls = layers.ClassToken(3)
    cls.build((None, 2, 3))
    cls.set_weights([np.full((1, 1, 3), 7.0, "float32")])
    pos = layers.PositionEmbedding(1, 3)
    with pytest.raises(ValueError, match="2 positions"):
        pos.build((None, 3, 3))
    tokens = np.ones((2, 1, 3), "float32")
    out = np.asarray(cls(tokens))
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[:, 0], 7.0)
    np.testing.assert_array_equal(out[:, 1], 1.0)
    pos.build((None, 2, 3))
    pos.set_weights([np.array([[[1, 2, 3], [4, 5, 6]]], "float32")])
    np.testing.assert_array_equal(
        np.asarray(pos(out))[0], [[8, 9, 10], [5, 6, 7]]
    )


def test_new_adapter_is_the_identity_and_new_head_predicts_zero():
    x = random_input(TOKENS)
    adapter, _ = built("ResidualAdapter")
    np.testing.assert_array_equal(adapter(x), x)
    head, _ = built("TaskHead")
    np.testing.assert_array_equal(head(x), np.zeros((2, 3)))


def test_head_reads_only_the_class_token():
    head, _ = built("TaskHead")
    head.set_weights([np.ones((16, 3), "float32"), np.zeros(3, "float32")])
    x = random_input(TOKENS)
    y = x.copy()
    y[:, 1:] += 5.0  # Patch tokens change, class token does not.
    np.testing.assert_array_equal(head(x), head(y))
    np.testing.assert_allclose(
        head(x), np.repeat(x[:, :1].sum(-1), 3, axis=1), rtol=1e-6
    )


def test_layer_norm_epsilon_and_tanh_gelu_are_the_augreg_numerics():
    block = layers.EncoderBlock(2, 16, 32)
    assert block.layer_norm_epsilon == 1e-6 and block.approximate_gelu
    block.build(TOKENS)
    assert block.norm_1.epsilon == 1e-6
    assert layers.EncoderNorm(16).layer_norm_epsilon == 1e-6
    # The MLP uses tanh GELU: compare with a numpy computation of the block's
    # MLP branch alone (attention output forced to zero).
    weights = block.get_weights()
    for i in range(2, 10):  # Attention kernels and biases.
        weights[i] = np.zeros_like(weights[i])
    block.set_weights(weights)
    x = random_input(TOKENS)
    w1, b1, w2, b2 = weights[12:16]
    h = (x - x.mean(-1, keepdims=True)) / np.sqrt(
        x.var(-1, keepdims=True) + 1e-6
    )
    h = h @ w1 + b1
    h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    np.testing.assert_allclose(block(x), x + h @ w2 + b2, atol=1e-5)


@pytest.mark.parametrize(
    "factory, message",
    [
        (
            lambda: layers.EncoderBlock(3, 16, 32),
            "not divisible by `num_heads`=3",
        ),
        (
            lambda: layers.TaskHead(0, 16),
            "`num_classes` must be a positive int; got 0",
        ),
        (
            lambda: layers.ResidualAdapter(16, 2.5),
            "`adapter_dim` must be a positive int; got 2.5",
        ),
        (
            lambda: layers.PatchEmbedding(-1, 4),
            "`hidden_dim` must be a positive int; got -1",
        ),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_value(factory, message):
    with pytest.raises(ValueError, match=message.replace("`", ".")):
        factory()


def test_token_layers_reject_wrong_width():
    with pytest.raises(
        ValueError, match=r"expects tokens of shape \(batch, tokens, 16\)"
    ):
        layers.EncoderNorm(16).build((None, 5, 8))


def test_subclass_in_a_user_app():
    @keras.saving.register_keras_serializable(package="user_app")
    class ScaledHead(layers.TaskHead):
        def __init__(self, num_classes, hidden_dim, scale=2.0, **kwargs):
            super().__init__(num_classes, hidden_dim, **kwargs)
            self.scale = scale

        def call(self, tokens):
            return super().call(tokens) * self.scale

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    head = ScaledHead(3, 16, scale=3.0)
    head.build(TOKENS)
    head.set_weights([np.ones((16, 3), "float32"), np.ones(3, "float32")])
    plain = layers.TaskHead(3, 16)
    plain.build(TOKENS)
    plain.set_weights(head.get_weights())
    x = random_input(TOKENS)
    np.testing.assert_allclose(head(x), 3.0 * np.asarray(plain(x)), rtol=1e-6)
    restored = ScaledHead.from_config(head.get_config())
    assert restored.scale == 3.0
