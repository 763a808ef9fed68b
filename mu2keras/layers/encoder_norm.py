import keras

from mu2keras.layers import elementwise
from mu2keras.layers import validation


@keras.saving.register_keras_serializable(package="mu2keras")
class EncoderNorm(keras.layers.Layer):
    """The final LayerNorm of the encoder: the `encoder_norm` component.

    µ2Net always clones it for a new path (forced fine-tuning, spec §1.5): it
    is "technically part of the head".

    Args:
        hidden_dim: int. Token width D.
        layer_norm_epsilon: float. LayerNorm epsilon (1e-6 in AugReg).

    Call arguments:
        tokens: tensor `(batch, tokens, D)`.
    """

    def __init__(self, hidden_dim, layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        validation.check_positive_int("hidden_dim", hidden_dim)
        # === Config ===
        self.hidden_dim = hidden_dim
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, input_shape):
        validation.check_tokens(self, input_shape, self.hidden_dim)
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="norm",
        )
        self.norm.build(input_shape)

    def call(self, tokens):
        return elementwise.layer_norm(self.norm, tokens)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
