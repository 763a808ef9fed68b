"""Pretrained roots: AugReg `.npz` checkpoints and keras-hub backbones."""

from mu2keras.pretrained.augreg import AUGREG_CHECKPOINTS
from mu2keras.pretrained.augreg import load_augreg_npz
from mu2keras.pretrained.augreg import load_named_checkpoint
from mu2keras.pretrained.keras_hub import from_keras_hub

__all__ = [
    "AUGREG_CHECKPOINTS",
    "from_keras_hub",
    "load_augreg_npz",
    "load_named_checkpoint",
]
