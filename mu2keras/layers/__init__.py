"""The component layers every µ2Net path is made of (spec §1.2).

Each is a plain Keras 3 layer in `keras.ops`, registered as serializable
under the package "mu2keras", whose `get_config()` returns exactly its
constructor arguments, so a single component can be stored, cloned and
exported on its own. Subclass them like any Keras layer.
"""

from mu2keras.layers.class_token import ClassToken
from mu2keras.layers.encoder_block import EncoderBlock
from mu2keras.layers.encoder_norm import EncoderNorm
from mu2keras.layers.patch_embedding import PatchEmbedding
from mu2keras.layers.position_embedding import PositionEmbedding
from mu2keras.layers.position_embedding import resize_position_embedding
from mu2keras.layers.residual_adapter import ResidualAdapter
from mu2keras.layers.task_head import TaskHead

__all__ = [
    "ClassToken",
    "EncoderBlock",
    "EncoderNorm",
    "PatchEmbedding",
    "PositionEmbedding",
    "ResidualAdapter",
    "TaskHead",
    "resize_position_embedding",
]
