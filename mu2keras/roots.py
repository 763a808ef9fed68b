"""Roots: the seed models a µ2Net system grows from (spec §1.3).

A root is a ViT variant's components: the patch stem, class token, position
embedding, `num_layers` encoder blocks, the encoder norm and a 1-class head.
In a system they sit in the root pseudo-task, permanently frozen. They come
randomly initialised (`make_root`, e.g. the "ViT tiny 0 layers" setting that
grows layers from nothing) or pretrained (`mu2keras.pretrained`).
"""

import collections

from mu2keras import architecture

Root = collections.namedtuple("Root", ["variant", "image_size", "components"])
Root.__doc__ = """A root model.

Attributes:
    variant: ViTVariant. The architecture (patch size, widths, heads).
    image_size: int. The resolution its position embedding is sized for.
    components: dict name -> built component layer, in path order.
"""


def root_component_names(num_layers):
    """The components of a root with `num_layers` blocks (no adapters)."""
    return architecture.component_names(num_layers)


def make_root(variant, num_layers=None, image_size=224, seed=0):
    """Makes a randomly initialised root for a ViT variant.

    Args:
        variant: str or ViTVariant. "Ti/16", "S/16", "B/16", "L/16", "H/14"
            or "testing".
        num_layers: int or None. Encoder blocks (0 allowed); None means the
            variant's full depth.
        image_size: int. Input resolution, a multiple of the patch size.
        seed: int. The same seed gives the same weights.

    Returns:
        A `Root`.

    Example:

    >>> root = make_root("Ti/16", num_layers=0, image_size=32)
    >>> sum(c.count_params() for c in root.components.values())
    149377
    """
    v = architecture.get_variant(variant)
    if num_layers is None:
        num_layers = v.num_layers
    if isinstance(num_layers, bool) or not isinstance(num_layers, int):
        raise ValueError(f"`num_layers` must be an int; got {num_layers!r}.")
    if num_layers < 0:
        raise ValueError(f"`num_layers` must be >= 0; got {num_layers}.")
    architecture.grid_size(v, image_size)  # Validates image_size.
    components = {
        name: architecture.new_component(name, v, image_size, seed=seed)
        for name in root_component_names(num_layers)
    }
    return Root(v, image_size, components)
