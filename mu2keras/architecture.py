"""ViT variants, and the named components a µ2Net path is made of.

A path runs its components in a fixed order (spec §3):

    embedding → cls → posembed_input → {residual_adapter_i, encoderblock_i}
    for i < num_layers → encoder_norm → head

Component names are the reference notebook's (the vit_jax module names), so
AugReg checkpoints, states and reports speak the same language.
"""

import collections
import hashlib

from mu2keras import layers

EMBEDDING = "embedding"
CLASS_TOKEN = "cls"
POSITION_EMBEDDING = "posembed_input"
ENCODER_NORM = "encoder_norm"
HEAD = "head"
# config.compute_dtype -> the Keras dtype policy of a system's components:
# variables stay float32; "bfloat16" computes in bfloat16 (the matmuls at
# twice the float32 rate on CPUs with AVX512-BF16, and TPUs' own type).
DTYPE_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
_BLOCK_PREFIX = "encoderblock_"
_ADAPTER_PREFIX = "residual_adapter_"

ViTVariant = collections.namedtuple(
    "ViTVariant",
    [
        "name",
        "patch_size",
        "hidden_dim",
        "mlp_dim",
        "num_heads",
        "num_layers",
        # Numerics a root keeps for the blocks and position embeddings that
        # paths make new: AugReg's tanh GELU and bilinear (corner-aligned)
        # resizing by default; DINOv2's exact GELU and bicubic resizing.
        "approximate_gelu",
        "posembed_interpolation",
    ],
    # States written before these fields existed load as AugReg variants.
    defaults=(True, "bilinear"),
)
# The root path's hyperparameter holding its ViTVariant's fields.
VARIANT_KEY = "vit_variant"

# The vit_jax model configs; `num_layers` is the full depth of the variant.
# "Mu/4" (micro, patch 4) is the root of the offline study (benchmarks/,
# configs/study.py): small enough to train on 2 CPU cores. "testing" is a
# tiny variant for tests and quick local runs.
VIT_VARIANTS = {
    v.name: v
    for v in (
        ViTVariant("Ti/16", 16, 192, 768, 3, 12),
        ViTVariant("S/16", 16, 384, 1536, 6, 12),
        ViTVariant("B/16", 16, 768, 3072, 12, 12),
        ViTVariant("L/16", 16, 1024, 4096, 16, 24),
        ViTVariant("H/14", 14, 1280, 5120, 16, 32),
        ViTVariant("Mu/4", 4, 64, 256, 4, 4),
        ViTVariant("testing", 4, 16, 32, 2, 2),
        # DINOv2 ViT-S/14 (`mu2keras.pretrained.dinov2`).
        ViTVariant("dinov2_s14", 14, 384, 1536, 6, 12, False, "bicubic"),
    )
}


def get_variant(variant):
    """Returns the ViTVariant for a name like "Ti/16" (or a ViTVariant)."""
    if isinstance(variant, ViTVariant):
        return variant
    if variant not in VIT_VARIANTS:
        raise ValueError(
            f"Unknown ViT variant {variant!r}; known: {sorted(VIT_VARIANTS)}."
        )
    return VIT_VARIANTS[variant]


def encoder_block_name(index):
    return f"{_BLOCK_PREFIX}{index}"


def adapter_name(index):
    return f"{_ADAPTER_PREFIX}{index}"


def layer_index(name):
    """The layer index of an encoder block or adapter name, else None."""
    for prefix in (_BLOCK_PREFIX, _ADAPTER_PREFIX):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return int(name[len(prefix) :])
    return None


def layout_hparams(components):
    """The hyperparameters that describe a sequence of components.

    Args:
        components: dict name -> component layer, in path order.

    Returns:
        A dict: `num_layers` (encoder blocks), `adapter_layers` (e.g.
        "0_2", "" for none), and `adapter_dim` if there are adapters.

    Raises:
        ValueError: if the adapters have different widths (a path's
            adapters share the path's `adapter_dim`).
    """
    blocks, adapters = 0, {}
    for name, layer in components.items():
        index = layer_index(name)
        if index is None:
            continue
        if name == adapter_name(index):
            adapters[index] = layer
        else:
            blocks += 1
    hparams = {
        "num_layers": blocks,
        "adapter_layers": "_".join(str(i) for i in sorted(adapters)),
    }
    widths = sorted({layer.adapter_dim for layer in adapters.values()})
    if len(widths) > 1:
        raise ValueError(
            f"The adapters have different widths {widths}; a path's "
            "adapters share one `adapter_dim`."
        )
    if widths:
        hparams["adapter_dim"] = widths[0]
    return hparams


def component_names(num_layers, adapter_layers=()):
    """The ordered component names of a path.

    Args:
        num_layers: int. Encoder blocks used by the path.
        adapter_layers: iterable of int. Layers with an adapter before them.
    """
    adapter_layers = set(adapter_layers)
    names = [EMBEDDING, CLASS_TOKEN, POSITION_EMBEDDING]
    for i in range(num_layers):
        if i in adapter_layers:
            names.append(adapter_name(i))
        names.append(encoder_block_name(i))
    return names + [ENCODER_NORM, HEAD]


def grid_size(variant, image_size):
    """Patches per side for `image_size`; raises if it is not a multiple."""
    variant = get_variant(variant)
    if image_size % variant.patch_size:
        raise ValueError(
            f"image_size={image_size} is not a multiple of the {variant.name} "
            f"patch size {variant.patch_size}."
        )
    return image_size // variant.patch_size


def input_shape(name, variant, image_size):
    """The shape a component named `name` is built with (batch None)."""
    variant = get_variant(variant)
    if name == EMBEDDING:
        return (None, image_size, image_size, 3)
    num_patches = grid_size(variant, image_size) ** 2
    if name == CLASS_TOKEN:
        return (None, num_patches, variant.hidden_dim)
    return (None, num_patches + 1, variant.hidden_dim)


def component_seed(seed, name):
    """A stable per-component initializer seed derived from a root seed."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 16)


def dtype_policy(compute_dtype):
    """The Keras dtype policy name for a `config.compute_dtype`."""
    if compute_dtype not in DTYPE_POLICIES:
        raise ValueError(
            f"compute_dtype must be one of {sorted(DTYPE_POLICIES)}; got "
            f"{compute_dtype!r}."
        )
    return DTYPE_POLICIES[compute_dtype]


def new_component(
    name,
    variant,
    image_size,
    num_classes=1,
    adapter_dim=32,
    seed=0,
    dtype=None,
):
    """Makes and builds a freshly initialised layer for a component name.

    Args:
        name: str. A component name (see `component_names`).
        variant: str or ViTVariant.
        image_size: int. Input resolution (sets the position grid).
        num_classes: int. Classes of a `head`.
        adapter_dim: int. Bottleneck width of a `residual_adapter_i`.
        seed: int. Root seed; each component derives its own from it.
        dtype: str or None. Keras dtype policy (e.g. "mixed_bfloat16");
            None: Keras' global one.

    Returns:
        A built component layer named `name`.
    """
    v = get_variant(variant)
    s = component_seed(seed, name)
    if name == EMBEDDING:
        layer = layers.PatchEmbedding(
            v.hidden_dim, v.patch_size, seed=s, name=name, dtype=dtype
        )
    elif name == CLASS_TOKEN:
        layer = layers.ClassToken(v.hidden_dim, name=name, dtype=dtype)
    elif name == POSITION_EMBEDDING:
        layer = layers.PositionEmbedding(
            grid_size(v, image_size),
            v.hidden_dim,
            seed=s,
            interpolation=v.posembed_interpolation,
            name=name,
            dtype=dtype,
        )
    elif name.startswith(_BLOCK_PREFIX) and layer_index(name) is not None:
        layer = layers.EncoderBlock(
            v.num_heads,
            v.hidden_dim,
            v.mlp_dim,
            approximate_gelu=v.approximate_gelu,
            seed=s,
            name=name,
            dtype=dtype,
        )
    elif name.startswith(_ADAPTER_PREFIX) and layer_index(name) is not None:
        layer = layers.ResidualAdapter(
            v.hidden_dim, adapter_dim, seed=s, name=name, dtype=dtype
        )
    elif name == ENCODER_NORM:
        layer = layers.EncoderNorm(v.hidden_dim, name=name, dtype=dtype)
    elif name == HEAD:
        layer = layers.TaskHead(
            num_classes, v.hidden_dim, name=name, dtype=dtype
        )
    else:
        raise ValueError(f"Unknown component name {name!r}.")
    layer.build(input_shape(name, v, image_size))
    return layer


def forward(components, images, training=False):
    """Runs ordered component layers on a batch: the path's function.

    Args:
        components: sequence of component layers, in path order.
        images: float tensor `(batch, S, S, 3)` in [-1, 1].
        training: bool. Passed to the encoder blocks (dropout).

    Returns:
        The last component's output (logits when it is a head).
    """
    x = images
    for layer in components:
        x = layer(x, **call_kwargs(layer, training))
    return x


def call_kwargs(layer, training):
    """The keyword arguments of a component's call: only the encoder blocks
    take `training` (dropout)."""
    if isinstance(layer, layers.EncoderBlock):
        return {"training": training}
    return {}
