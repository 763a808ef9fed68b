"""bfloat16 compute (`config.compute_dtype`): Keras' mixed_bfloat16 policy
on every component, float32 variables, float32 losses and logits."""

import numpy as np
import pytest
import tensorflow as tf

from mu2keras import architecture
from mu2keras import roots
from mu2keras import training
from mu2keras.system.component import copy_layer
from mu2keras.training import kernels as kernels_lib
from tests.training import helpers

MIXED = "mixed_bfloat16"


def _outputs(components, x):
    """Each component's output on the previous one's, from images `x`."""
    outputs = []
    for layer in components.values():
        x = layer(x)
        outputs.append(x)
    return outputs


def _mixed(cand):
    layers = []
    for layer, trainable in zip(cand.layers, cand.trainable, strict=True):
        layer = copy_layer(layer, dtype=MIXED)
        layer.trainable = trainable
        layers.append(layer)
    return training.Candidate(layers, cand.trainable, cand.hparams)


def test_dtype_policy_maps_compute_dtypes_and_names_a_bad_one():
    assert architecture.dtype_policy("float32") == "float32"
    assert architecture.dtype_policy("bfloat16") == MIXED
    with pytest.raises(ValueError, match="'float16'"):
        architecture.dtype_policy("float16")


def test_a_bfloat16_root_holds_the_same_float32_weights():
    root = helpers.make_root(num_layers=2)
    mixed = roots.with_dtype_policy(root, MIXED)
    assert list(mixed.components) == list(root.components)
    for name, layer in mixed.components.items():
        original = root.components[name]
        assert layer is not original
        assert layer.dtype_policy.name == MIXED
        assert original.dtype_policy.name == "float32"  # Left as it was.
        for a, b in zip(layer.weights, original.weights, strict=True):
            assert a.dtype == "float32"
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Already in the policy: kept, not copied.
    again = roots.with_dtype_policy(mixed, MIXED)
    assert all(
        again.components[n] is mixed.components[n] for n in mixed.components
    )


def test_new_components_are_made_in_the_policy_with_the_same_init():
    for name in ("encoderblock_0", "residual_adapter_0", "posembed_input"):
        plain = architecture.new_component(name, "testing", 8, seed=3)
        mixed = architecture.new_component(
            name, "testing", 8, seed=3, dtype=MIXED
        )
        assert mixed.dtype_policy.name == MIXED
        for a, b in zip(mixed.get_weights(), plain.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_each_component_computes_in_bfloat16_close_to_float32():
    root = helpers.make_root(num_layers=2)
    # A non-zero head, so that the logits carry the whole path.
    head = root.components[architecture.HEAD]
    head.set_weights(
        [np.full(w.shape, 0.1, "float32") for w in head.get_weights()]
    )
    mixed = roots.with_dtype_policy(root, MIXED)
    images = tf.constant(helpers.arrays(num_examples=8)[0])
    for plain, low in zip(
        _outputs(root.components, images),
        _outputs(mixed.components, images),
        strict=True,
    ):
        assert low.dtype == tf.bfloat16
        plain, low = plain.numpy(), tf.cast(low, tf.float32).numpy()
        scale = np.abs(plain).max()
        np.testing.assert_allclose(low, plain, rtol=0, atol=0.03 * scale)
    # Not float32 in disguise: the blocks' outputs are rounded.
    assert not np.array_equal(low, plain)


def test_kernels_run_a_mixed_layer_as_its_call_does():
    mixed = roots.with_dtype_policy(helpers.make_root(num_layers=1), MIXED)
    kernels = kernels_lib.LayerKernels()
    x = tf.constant(helpers.arrays(num_examples=4)[0])  # float32 images.
    for layer in mixed.components.values():
        expected = architecture.forward([layer], x)
        got = kernels(layer, x, False)
        assert got.dtype == expected.dtype == tf.bfloat16
        # A graph and eager ops round apart by a few bfloat16 steps (2^-8).
        expected32 = tf.cast(expected, tf.float32).numpy()
        np.testing.assert_allclose(
            tf.cast(got, tf.float32).numpy(),
            expected32,
            rtol=0,
            atol=2**-6 * np.abs(expected32).max(),
        )
        x = tf.cast(expected, tf.float32)  # The next layer casts it back.


def test_training_in_bfloat16_updates_float32_weights_as_float32_does():
    root = helpers.make_root(num_layers=1)
    plain = helpers.make_candidate(
        root, ["encoderblock_0", "encoder_norm"], opt_lr=0.05
    )
    mixed = _mixed(plain)
    results = []
    for cand in (plain, mixed):
        trainer = training.Trainer(jit_compile=False, fused=False)
        results.append(
            trainer.train(
                [cand],
                helpers.train_dataset(),
                helpers.validation_dataset(),
                steps_between_validations=4,
                num_validations=2,
            )[0]
        )
    losses32, losses16 = (np.asarray(r.losses) for r in results)
    assert losses16.dtype == np.float32
    np.testing.assert_allclose(losses16, losses32, rtol=0.02)
    assert not np.array_equal(losses16, losses32)  # Computed in bfloat16.
    for index in plain.trainable_indices():
        before = root.components.get(plain.layers[index].name)
        for a, b in zip(
            mixed.layers[index].weights,
            plain.layers[index].weights,
            strict=True,
        ):
            assert a.dtype == "float32"
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=0.02)
        if before is not None:  # Trained: moved from the root's weights.
            assert not all(
                np.array_equal(a, b)
                for a, b in zip(
                    mixed.layers[index].get_weights(),
                    before.get_weights(),
                    strict=True,
                )
            )
