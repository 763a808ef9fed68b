"""AugReg ViT checkpoints (`.npz`, the vision_transformer layout) as roots.

"How to train your ViT?" (Steiner et al., 2021) released its ImageNet-21k
models as `.npz` files under `gs://vit_models/augreg/`. `load_augreg_npz`
reads one through `tf.io.gfile` (local paths and gs:// alike), maps every key
onto mu2keras component layers with an explicit table, reports missing and
unused keys strictly, and resizes the position embedding to the requested
image size (vit_jax `load_pretrained`). The checkpoint's head and pre-logits
are not loaded: a root gets a fresh zero 1-class head (spec §1.3).
"""

import io
import zipfile

import numpy as np
import tensorflow as tf

from mu2keras import architecture
from mu2keras import roots
from mu2keras.layers import position_embedding
from mu2keras.pretrained import weights

AUGREG_DIR = "gs://vit_models/augreg"

# Named checkpoints. The µ2Net ones (spec §1.3) are not the vit_jax README's
# "recommended" ones. Names start with "augreg_" so they cannot be confused
# with keras-hub preset names ("vit_base_patch16_224_imagenet", ...).
AUGREG_CHECKPOINTS = {
    # µ2Net "ViT tiny" roots (ti3 Chars; ti0 uses only its architecture).
    "augreg_ti16_i21k_light1_wd0.1_sd0": (
        "Ti/16",
        "Ti_16-i21k-300ep-lr_0.001-aug_light1-wd_0.1-do_0.0-sd_0.0.npz",
    ),
    # µ2Net/µNet "ViT base" root (VDD).
    "augreg_b16_i21k_medium1_wd0.1_sd0": (
        "B/16",
        "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz",
    ),
    # µ2Net's main root: the 69-task ViT-L/16 system.
    "augreg_l16_i21k_medium2_wd0.03_sd0.1": (
        "L/16",
        "L_16-i21k-300ep-lr_0.001-aug_medium2-wd_0.03-do_0.1-sd_0.1.npz",
    ),
    # The vision_transformer README's recommended i21k checkpoints.
    "augreg_ti16_i21k_none_wd0.03_sd0": (
        "Ti/16",
        "Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0.npz",
    ),
    "augreg_s16_i21k_light1_wd0.03_sd0": (
        "S/16",
        "S_16-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0.npz",
    ),
    "augreg_l16_i21k_strong1_wd0.1_sd0": (
        "L/16",
        "L_16-i21k-300ep-lr_0.001-aug_strong1-wd_0.1-do_0.0-sd_0.0.npz",
    ),
}

# Component-relative variable path -> npz key below the component's scope.
STEM_KEYS = {
    architecture.EMBEDDING: {
        "conv/kernel": "embedding/kernel",
        "conv/bias": "embedding/bias",
    },
    architecture.CLASS_TOKEN: {"token": "cls"},
    architecture.POSITION_EMBEDDING: {
        "embedding": "Transformer/posembed_input/pos_embedding"
    },
    architecture.ENCODER_NORM: {
        "norm/gamma": "Transformer/encoder_norm/scale",
        "norm/beta": "Transformer/encoder_norm/bias",
    },
}
_ATTENTION = "MultiHeadDotProductAttention_1"
BLOCK_KEYS = {
    "norm_1/gamma": "LayerNorm_0/scale",
    "norm_1/beta": "LayerNorm_0/bias",
    **{
        f"attention/{ours}/{kind}": f"{_ATTENTION}/{theirs}/{kind}"
        for ours, theirs in (
            ("query", "query"),
            ("key", "key"),
            ("value", "value"),
            ("attention_output", "out"),
        )
        for kind in ("kernel", "bias")
    },
    "norm_2/gamma": "LayerNorm_2/scale",
    "norm_2/beta": "LayerNorm_2/bias",
    "mlp_dense_1/kernel": "MlpBlock_3/Dense_0/kernel",
    "mlp_dense_1/bias": "MlpBlock_3/Dense_0/bias",
    "mlp_dense_2/kernel": "MlpBlock_3/Dense_1/kernel",
    "mlp_dense_2/bias": "MlpBlock_3/Dense_1/bias",
}
# Keys a root deliberately does not load (vit_jax `load_pretrained` too).
IGNORED_PREFIXES = ("head/", "pre_logits/")
# Old vit_jax checkpoints nest the parameters under a Flax optimizer.
_NESTING_PREFIXES = ("opt/target/",)


def block_keys(index):
    """{relative variable path: npz key} of encoder block `index`."""
    scope = f"Transformer/encoderblock_{index}/"
    return {ours: scope + theirs for ours, theirs in BLOCK_KEYS.items()}


def read_npz(path):
    """Reads an `.npz` file (local or gs://) into {key: array}, no pickle."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except tf.errors.NotFoundError as e:
        raise FileNotFoundError(f"No checkpoint file at {path}.") from e
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable .npz file: {e}") from e
    for prefix in _NESTING_PREFIXES:
        if arrays and all(k.startswith(prefix) for k in arrays):
            arrays = {k[len(prefix) :]: v for k, v in arrays.items()}
    return arrays


def checkpoint_depth(arrays):
    """Number of encoder blocks in a checkpoint's keys."""
    indices = {
        architecture.layer_index(key.split("/")[1])
        for key in arrays
        if key.startswith("Transformer/encoderblock_")
    }
    indices.discard(None)
    return len(indices)


def load_augreg_npz(path, variant, image_size=224, num_layers=None):
    """Loads an AugReg (vision_transformer layout) `.npz` as a root.

    Args:
        path: str. Local or gs:// path of the `.npz` file.
        variant: str or ViTVariant. The checkpoint's architecture, "L/16"...
        image_size: int. The position embedding is resized to this size.
        num_layers: int or None. Blocks to load; None loads all of them, as
            µ2Net's roots carry all the checkpoint's blocks (spec §1.3).

    Returns:
        A `mu2keras.roots.Root` with a new zero 1-class head.

    Raises:
        ValueError: naming the missing keys, the unused keys, or a key whose
            shape does not fit the variant.
    """
    arrays = read_npz(path)
    depth = checkpoint_depth(arrays)
    num_layers = weights.blocks_to_load(path, num_layers, depth)
    root = roots.make_root(variant, num_layers, image_size)
    expected = _expected_keys(num_layers)
    _check_keys(path, arrays, expected, skipped_blocks=range(num_layers, depth))
    for name, key_map in expected.items():
        values = {ours: arrays[key] for ours, key in key_map.items()}
        if name == architecture.POSITION_EMBEDDING:
            grid = architecture.grid_size(root.variant, image_size)
            values["embedding"] = position_embedding.resize_position_embedding(
                values["embedding"], grid
            )
        weights.assign(root.components[name], values, key_map)
    return root


def load_named_checkpoint(
    name, image_size=224, num_layers=None, directory=None
):
    """Loads a checkpoint of `AUGREG_CHECKPOINTS` from `directory`.

    Args:
        name: str. A key of `AUGREG_CHECKPOINTS`.
        image_size: int. Resolution of the root.
        num_layers: int or None. Blocks to load (None: all).
        directory: str or None. Where the files are; defaults to
            `gs://vit_models/augreg` (or a local mirror of it).
    """
    path = named_checkpoint_path(name, directory)
    return load_augreg_npz(
        path, AUGREG_CHECKPOINTS[name][0], image_size, num_layers
    )


def named_checkpoint_path(name, directory=None):
    """The file of a checkpoint of `AUGREG_CHECKPOINTS` in `directory`."""
    if name not in AUGREG_CHECKPOINTS:
        raise ValueError(
            f"Unknown AugReg checkpoint {name!r}; known: "
            f"{sorted(AUGREG_CHECKPOINTS)}."
        )
    filename = AUGREG_CHECKPOINTS[name][1]
    return f"{(directory or AUGREG_DIR).rstrip('/')}/{filename}"


def load_position_embedding(path, variant):
    """The checkpoint's position embedding at its own grid, as a built
    `PositionEmbedding`: what every resize to a new image size starts from
    (vit_jax reloads the checkpoint for each size)."""
    key = STEM_KEYS[architecture.POSITION_EMBEDDING]["embedding"]
    arrays = read_npz(path)
    if key not in arrays:
        raise ValueError(f"{path} is missing keys: {[key]}")
    return weights.position_embedding_layer(
        arrays[key], architecture.get_variant(variant)
    )


def _expected_keys(num_layers):
    """{component name: {relative variable path: npz key}} of a root."""
    expected = dict(STEM_KEYS)
    for i in range(num_layers):
        expected[architecture.encoder_block_name(i)] = block_keys(i)
    return expected


def _check_keys(path, arrays, expected, skipped_blocks):
    wanted = {key for key_map in expected.values() for key in key_map.values()}
    missing = sorted(wanted - set(arrays))
    if missing:
        raise ValueError(f"{path} is missing keys: {missing}")
    skipped = tuple(f"Transformer/encoderblock_{i}/" for i in skipped_blocks)
    unused = sorted(
        key
        for key in set(arrays) - wanted
        if not key.startswith(IGNORED_PREFIXES + skipped)
    )
    if unused:
        raise ValueError(f"{path} has unused keys: {unused}")
