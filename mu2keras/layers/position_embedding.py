import keras
import numpy as np
from keras import ops

from mu2keras.layers import resampling
from mu2keras.layers import validation


def resize_position_embedding(embedding, grid_size, interpolation="bilinear"):
    """Resizes a ViT position embedding to a new square patch grid.

    The class-token entry is kept apart, unchanged; the patch grid is
    resampled separably with `interpolation` (`mu2keras.layers.resampling`):
    "bilinear" is vit_jax's `interpolate_posembed` (AugReg), "bicubic"
    torch's `interpolate(mode="bicubic", align_corners=False)` (DINOv2).

    Args:
        embedding: array `(1, g * g + 1, D)`, the class-token entry first.
        grid_size: int. The new grid side g'.
        interpolation: str. "bilinear" or "bicubic".

    Returns:
        A numpy array `(1, g' * g' + 1, D)` of the input's dtype.
    """
    embedding = np.asarray(embedding)
    validation.check_positive_int("grid_size", grid_size)
    if embedding.ndim != 3 or embedding.shape[0] != 1:
        raise ValueError(
            "A position embedding has shape (1, tokens, width); got "
            f"{embedding.shape}."
        )
    old_grid = int(round(np.sqrt(embedding.shape[1] - 1)))
    if old_grid * old_grid != embedding.shape[1] - 1:
        raise ValueError(
            "Only square patch grids can be resized: "
            f"{embedding.shape[1] - 1} patch entries is not a square."
        )
    weights = resampling.resampling_matrix(old_grid, grid_size, interpolation)
    if old_grid == grid_size:
        return embedding.copy()
    grid = embedding[0, 1:].reshape(old_grid, old_grid, -1)
    resized = np.einsum("ij,kl,jld->ikd", weights, weights, grid)
    resized = resized.reshape(1, grid_size * grid_size, -1)
    result = np.concatenate([embedding[:, :1], resized], axis=1)
    return result.astype(embedding.dtype)


@keras.saving.register_keras_serializable(package="mu2keras")
class PositionEmbedding(keras.layers.Layer):
    """Adds the learned position embedding: the `posembed_input` component.

    One entry for the class token, then one per patch of a square
    `grid_size` × `grid_size` grid (`grid_size = image_size / patch_size`).
    Stored as `(1, grid_size² + 1, D)`, the AugReg layout. Its shape depends
    on the image size, which is why µ2Net resizes it (`resized`) when a path
    changes resolution.

    Args:
        grid_size: int. Patches per image side.
        hidden_dim: int. Token width D.
        seed: int or None. Seed of the normal(0.02) initializer.
        interpolation: str. How `resized` resamples the grid: "bilinear"
            (AugReg, vit_jax) or "bicubic" (DINOv2, torch).

    Call arguments:
        tokens: tensor `(batch, grid_size² + 1, D)`, class token first.
    """

    def __init__(
        self,
        grid_size,
        hidden_dim,
        seed=None,
        interpolation="bilinear",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.check_positive_int("grid_size", grid_size)
        validation.check_positive_int("hidden_dim", hidden_dim)
        if interpolation not in resampling.INTERPOLATIONS:
            raise ValueError(
                f"Unknown `interpolation`={interpolation!r}; known: "
                f"{resampling.INTERPOLATIONS}."
            )
        # === Config ===
        self.grid_size = grid_size
        self.hidden_dim = hidden_dim
        self.seed = seed
        self.interpolation = interpolation

    @property
    def num_positions(self):
        return self.grid_size * self.grid_size + 1

    def build(self, input_shape):
        validation.check_tokens(self, input_shape, self.hidden_dim)
        if input_shape[1] not in (None, self.num_positions):
            raise ValueError(
                f"PositionEmbedding '{self.name}' has {self.num_positions} "
                f"positions (grid {self.grid_size}x{self.grid_size} + class "
                f"token); got {input_shape[1]} tokens."
            )
        self.embedding = self.add_weight(
            shape=(1, self.num_positions, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(
                stddev=0.02, seed=self.seed
            ),
            name="embedding",
        )

    def call(self, tokens):
        return tokens + ops.cast(self.embedding, tokens.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def resized(self, grid_size, name=None):
        """Returns a new, built PositionEmbedding resized to `grid_size`."""
        config = self.get_config()
        config.update(grid_size=grid_size, name=name or self.name)
        layer = type(self).from_config(config)
        layer.build((None, layer.num_positions, self.hidden_dim))
        layer.embedding.assign(
            resize_position_embedding(
                keras.ops.convert_to_numpy(self.embedding),
                grid_size,
                self.interpolation,
            )
        )
        return layer

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "hidden_dim": self.hidden_dim,
                "seed": self.seed,
                "interpolation": self.interpolation,
            }
        )
        return config
