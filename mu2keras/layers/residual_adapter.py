import keras

from mu2keras.layers import elementwise
from mu2keras.layers import validation


@keras.saving.register_keras_serializable(package="mu2keras")
class ResidualAdapter(keras.layers.Layer):
    """A residual adapter: a `residual_adapter_i` component (spec §1.6).

    `x + Dense_D(GELU(Dense_d(LN(x))))`. The up-projection's kernel and bias
    start at zero, so a freshly inserted adapter is the identity and leaves
    the path's function unchanged. µ2Net inserts adapter i before
    `encoderblock_i`.

    Args:
        hidden_dim: int. Token width D.
        adapter_dim: int. Bottleneck width d.
        layer_norm_epsilon: float. LayerNorm epsilon.
        approximate_gelu: bool. Tanh-approximate GELU, as the AugReg ViT.
        seed: int or None. Seed of the down-projection's LeCun-normal kernel
            initializer (the notebook's adapter: Flax's `nn.Dense` default).

    Call arguments:
        tokens: tensor `(batch, tokens, D)`.
    """

    def __init__(
        self,
        hidden_dim,
        adapter_dim,
        layer_norm_epsilon=1e-6,
        approximate_gelu=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.check_positive_int("hidden_dim", hidden_dim)
        validation.check_positive_int("adapter_dim", adapter_dim)
        # === Config ===
        self.hidden_dim = hidden_dim
        self.adapter_dim = adapter_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        self.approximate_gelu = approximate_gelu
        self.seed = seed

    def build(self, input_shape):
        validation.check_tokens(self, input_shape, self.hidden_dim)
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="norm",
        )
        self.norm.build(input_shape)
        self.down = keras.layers.Dense(
            self.adapter_dim,
            # Flax's `nn.Dense` default, as the notebook's adapter.
            kernel_initializer=keras.initializers.LecunNormal(self.seed),
            dtype=self.dtype_policy,
            name="down",
        )
        self.down.build(input_shape)
        self.up = keras.layers.Dense(
            self.hidden_dim,
            kernel_initializer="zeros",
            dtype=self.dtype_policy,
            name="up",
        )
        self.up.build(tuple(input_shape[:-1]) + (self.adapter_dim,))

    def call(self, tokens):
        x = self.down(elementwise.layer_norm(self.norm, tokens))
        x = elementwise.gelu(x, self.approximate_gelu)
        return tokens + self.up(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "adapter_dim": self.adapter_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "approximate_gelu": self.approximate_gelu,
                "seed": self.seed,
            }
        )
        return config
