import keras
from keras import ops

from mu2keras.layers import validation


@keras.saving.register_keras_serializable(package="mu2keras")
class ClassToken(keras.layers.Layer):
    """Prepends the learned class token: the `cls` component.

    The token is prepended *before* the position embedding is added, as in
    vit_jax, so the position embedding has one entry more than there are
    patches. Zero-initialised, as in vit_jax.

    Args:
        hidden_dim: int. Token width D.

    Call arguments:
        tokens: tensor `(batch, num_patches, D)`.

    Returns:
        `(batch, num_patches + 1, D)`, the class token first.
    """

    def __init__(self, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        validation.check_positive_int("hidden_dim", hidden_dim)
        # === Config ===
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        validation.check_tokens(self, input_shape, self.hidden_dim)
        self.token = self.add_weight(
            shape=(1, 1, self.hidden_dim), initializer="zeros", name="token"
        )

    def call(self, tokens):
        batch = ops.shape(tokens)[0]
        token = ops.broadcast_to(
            ops.cast(self.token, tokens.dtype), (batch, 1, self.hidden_dim)
        )
        return ops.concatenate([token, tokens], axis=1)

    def compute_output_shape(self, input_shape):
        batch, num, width = input_shape
        return (batch, None if num is None else num + 1, width)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim})
        return config
