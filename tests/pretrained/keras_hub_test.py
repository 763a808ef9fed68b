import keras_hub
import numpy as np
import pytest

from mu2keras import architecture
from mu2keras.pretrained import keras_hub as converter

SMALL = dict(
    image_shape=(16, 16, 3),
    patch_size=4,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    mlp_dim=32,
)


def random_backbone(seed=0, **overrides):
    backbone = keras_hub.models.ViTBackbone(**{**SMALL, **overrides})
    rng = np.random.default_rng(seed)
    for w in backbone.weights:  # Random everywhere, LayerNorms included.
        w.assign(rng.normal(0.0, 0.5, w.shape).astype("float32"))
    return backbone


def images(size, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (4, size, size, 3)).astype("float32")


def test_converted_root_gives_the_backbone_class_token_features():
    backbone = random_backbone()
    root = converter.from_keras_hub(backbone)
    assert root.image_size == 16 and root.variant.num_layers == 2
    x = images(16)
    ours = architecture.forward(list(root.components.values())[:-1], x)
    theirs = backbone(x)
    diff = np.abs(np.asarray(ours)[:, 0] - np.asarray(theirs)[:, 0]).max()
    assert diff <= 1e-5
    # keras-hub's blocks use the exact GELU; the conversion keeps it.
    assert not root.components["encoderblock_0"].approximate_gelu


def test_converted_root_has_a_fresh_zero_head_and_keeps_epsilon():
    backbone = random_backbone(layer_norm_epsilon=1e-5)
    root = converter.from_keras_hub(backbone)
    head = root.components["head"]
    assert head.num_classes == 1 and not np.any(head.get_weights()[0])
    assert root.components["encoder_norm"].layer_norm_epsilon == 1e-5
    assert root.components["encoderblock_1"].norm_2.epsilon == 1e-5


def test_resizing_keeps_the_class_token_entry():
    backbone = random_backbone()
    root = converter.from_keras_hub(backbone, image_size=32)
    posemb = root.components["posembed_input"].get_weights()[0]
    assert posemb.shape == (1, 8 * 8 + 1, 16)
    theirs = backbone.get_layer("vit_patching_and_embedding")
    original = theirs.position_embedding.get_weights()[0]
    np.testing.assert_array_equal(posemb[0, 0], original[0])


def test_unsupported_backbones_are_rejected():
    with pytest.raises(ValueError, match="use_class_token=False"):
        converter.from_keras_hub(random_backbone(use_class_token=False))
    with pytest.raises(ValueError, match=r"image_shape=\(16, 32, 3\)"):
        converter.from_keras_hub(random_backbone(image_shape=(16, 32, 3)))
