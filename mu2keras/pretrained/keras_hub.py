"""keras-hub `ViTBackbone` → mu2keras root.

Users load a keras-hub ViT from a local preset (`ViTBackbone.from_preset`)
and turn it into root components here. keras-hub's ViT uses the exact GELU
(it ports the Hugging Face checkpoints), so the converted encoder blocks are
built with `approximate_gelu=False` and compute the backbone's function;
AugReg checkpoints (`mu2keras.pretrained.augreg`) use the tanh approximation.

keras-hub is imported lazily: mu2keras does not depend on it.
"""

import numpy as np

from mu2keras import architecture
from mu2keras import roots
from mu2keras.layers import position_embedding
from mu2keras.pretrained import weights

_EMBED = "vit_patching_and_embedding"
_ENCODER = "vit_encoder"

STEM_KEYS = {
    architecture.EMBEDDING: {
        "conv/kernel": f"{_EMBED}/patch_embedding/kernel",
        "conv/bias": f"{_EMBED}/patch_embedding/bias",
    },
    architecture.CLASS_TOKEN: {"token": f"{_EMBED}/class_token"},
    architecture.POSITION_EMBEDDING: {
        "embedding": f"{_EMBED}/position_embedding/embeddings"
    },
    architecture.ENCODER_NORM: {
        "norm/gamma": f"{_ENCODER}/ln/gamma",
        "norm/beta": f"{_ENCODER}/ln/beta",
    },
}
BLOCK_KEYS = {
    "norm_1/gamma": "ln_1/gamma",
    "norm_1/beta": "ln_1/beta",
    **{
        f"attention/{name}/{kind}": f"mha/{name}/{kind}"
        for name in ("query", "key", "value", "attention_output")
        for kind in ("kernel", "bias")
    },
    "norm_2/gamma": "ln_2/gamma",
    "norm_2/beta": "ln_2/beta",
    "mlp_dense_1/kernel": "mlp/dense_1/kernel",
    "mlp_dense_1/bias": "mlp/dense_1/bias",
    "mlp_dense_2/kernel": "mlp/dense_2/kernel",
    "mlp_dense_2/bias": "mlp/dense_2/bias",
}
# keras-hub options mu2keras' components do not model.
_REQUIRED_FLAGS = ("use_class_token", "use_mha_bias", "use_mlp_bias")


def from_keras_hub(backbone, image_size=None):
    """Converts a keras-hub `ViTBackbone` into a root.

    Args:
        backbone: a `keras_hub.models.ViTBackbone` (channels-last, square
            images and patches, class token and biases on).
        image_size: int or None. Resolution of the root; None keeps the
            backbone's. The position embedding is resized when it differs.

    Returns:
        A `mu2keras.roots.Root` with a new zero 1-class head.
    """
    config = backbone.get_config()
    variant = _variant(config)
    height, width, channels = config["image_shape"]
    if height != width or channels != 3:
        raise ValueError(
            "Only square 3-channel backbones convert; got image_shape="
            f"{config['image_shape']}."
        )
    image_size = image_size or height
    epsilon = config["layer_norm_epsilon"]
    arrays = {w.path: np.asarray(w.numpy()) for w in backbone.weights}
    components = {}
    for name in architecture.component_names(variant.num_layers):
        layer = architecture.new_component(name, variant, image_size)
        key_map = _key_map(name)
        if key_map is None:  # The head: fresh, as for every root.
            components[name] = layer
            continue
        layer = _with_numerics(layer, epsilon, variant, image_size)
        values = {ours: arrays[theirs] for ours, theirs in key_map.items()}
        if name == architecture.POSITION_EMBEDDING:
            values["embedding"] = position_embedding.resize_position_embedding(
                values["embedding"][None],
                architecture.grid_size(variant, image_size),
            )
        weights.assign(layer, values, key_map)
        components[name] = layer
    return roots.Root(variant, image_size, components)


def _variant(config):
    for flag in _REQUIRED_FLAGS + ("use_patch_bias",):
        if not config.get(flag, True):
            raise ValueError(f"Cannot convert a ViTBackbone with {flag}=False.")
    if config.get("data_format", "channels_last") != "channels_last":
        raise ValueError("Only channels_last ViTBackbones convert.")
    patch = config["patch_size"]
    patch = patch if isinstance(patch, int) else tuple(patch)
    if isinstance(patch, tuple):
        if patch[0] != patch[1]:
            raise ValueError(f"Only square patches convert; got {patch}.")
        patch = patch[0]
    return architecture.ViTVariant(
        name=f"keras-hub-{config['hidden_dim']}/{patch}",
        patch_size=patch,
        hidden_dim=config["hidden_dim"],
        mlp_dim=config["mlp_dim"],
        num_heads=config["num_heads"],
        num_layers=config["num_layers"],
    )


def _key_map(name):
    if name in STEM_KEYS:
        return STEM_KEYS[name]
    index = architecture.layer_index(name)
    if index is None:
        return None
    scope = f"{_ENCODER}/transformer_block_{index + 1}/"
    return {ours: scope + theirs for ours, theirs in BLOCK_KEYS.items()}


def _with_numerics(layer, epsilon, variant, image_size):
    """Rebuilds `layer` with keras-hub's LayerNorm epsilon and exact GELU."""
    config = layer.get_config()
    if "layer_norm_epsilon" in config:
        config["layer_norm_epsilon"] = epsilon
    if "approximate_gelu" in config:
        config["approximate_gelu"] = False
    if config == layer.get_config():
        return layer
    rebuilt = type(layer).from_config(config)
    rebuilt.build(architecture.input_shape(layer.name, variant, image_size))
    return rebuilt
