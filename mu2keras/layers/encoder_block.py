import keras
from keras import ops

from mu2keras.layers import elementwise
from mu2keras.layers import validation


@keras.saving.register_keras_serializable(package="mu2keras")
class EncoderBlock(keras.layers.Layer):
    """A pre-LayerNorm transformer block: an `encoderblock_i` component.

    `x + MHSA(LN(x))`, then `x + MLP(LN(x))`, with the numerics of the AugReg
    ViT: LayerNorm epsilon 1e-6, attention with biases, and an MLP with the
    tanh-approximate GELU (Flax's default; Keras' `gelu` defaults to exact).
    The attention kernels are `(D, heads, D / heads)` for query, key and value
    and `(heads, D / heads, D)` for the output, the AugReg layout. They live
    in a Keras `MultiHeadAttention` (`self.attention`, so their paths are
    `attention/query/kernel` etc.), but the block computes the attention
    itself (`_self_attention`), with one 2-D matmul per projection: same
    values, and a much cheaper kernel gradient on TensorFlow.

    Args:
        num_heads: int. Attention heads; must divide `hidden_dim`.
        hidden_dim: int. Token width D.
        mlp_dim: int. Hidden width of the MLP.
        dropout_rate: float. Dropout after attention and in the MLP (µ2Net
            uses 0).
        attention_dropout: float. Dropout of the attention weights.
        layer_norm_epsilon: float. LayerNorm epsilon.
        approximate_gelu: bool. Tanh-approximate GELU (AugReg) or exact
            (keras-hub, Hugging Face).
        seed: int or None. Seed of the initializers, vit_jax's: Glorot-uniform
            kernels (each attention projection's fans those of its (D, D)
            matrix), normal(1e-6) MLP biases.

    Call arguments:
        tokens: tensor `(batch, tokens, D)`.
        training: bool. Enables dropout.
    """

    def __init__(
        self,
        num_heads,
        hidden_dim,
        mlp_dim,
        dropout_rate=0.0,
        attention_dropout=0.0,
        layer_norm_epsilon=1e-6,
        approximate_gelu=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name in ("num_heads", "hidden_dim", "mlp_dim"):
            validation.check_positive_int(name, locals()[name])
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim`={hidden_dim} is not divisible by "
                f"`num_heads`={num_heads}."
            )
        # === Config ===
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.mlp_dim = mlp_dim
        self.dropout_rate = dropout_rate
        self.attention_dropout = attention_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.approximate_gelu = approximate_gelu
        self.seed = seed

    def _seed(self, offset):
        return None if self.seed is None else self.seed + offset

    def build(self, input_shape):
        validation.check_tokens(self, input_shape, self.hidden_dim)
        mlp_shape = tuple(input_shape[:-1]) + (self.mlp_dim,)
        self.norm_1 = self._layer_norm("norm_1", input_shape)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.hidden_dim // self.num_heads,
            dropout=self.attention_dropout,
            # Drawn below, as vit_jax draws them.
            kernel_initializer="zeros",
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention.build(input_shape, input_shape)
        # vit_jax's attention (Flax `DenseGeneral`) draws each projection as
        # one (D, D) Glorot matrix; Keras counts the fans of the 3-D kernel
        # and would start query, key and value 5.8x narrower (output 1.4x),
        # which slows fresh blocks (µ2Net grows them from random). Redraw as
        # Flax, each with its own seed: Keras clones a seeded initializer
        # for every sublayer, so they would also start equal.
        d = self.hidden_dim
        for offset, dense in enumerate(self._attention_denses()):
            init = keras.initializers.GlorotUniform(self._seed(10 + offset))
            dense.kernel.assign(ops.reshape(init((d, d)), dense.kernel.shape))
        self.norm_2 = self._layer_norm("norm_2", input_shape)
        self.mlp_dense_1 = self._dense("mlp_dense_1", self.mlp_dim, 1)
        self.mlp_dense_1.build(input_shape)
        self.mlp_dense_2 = self._dense("mlp_dense_2", self.hidden_dim, 3)
        self.mlp_dense_2.build(mlp_shape)
        self.dropout = keras.layers.Dropout(
            self.dropout_rate, seed=self._seed(5), dtype=self.dtype_policy
        )
        self.attention_weights_dropout = keras.layers.Dropout(
            self.attention_dropout, seed=self._seed(6), dtype=self.dtype_policy
        )

    def _attention_denses(self):
        a = self.attention
        return (a.query_dense, a.key_dense, a.value_dense, a.output_dense)

    def _layer_norm(self, name, input_shape):
        layer = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        layer.build(input_shape)
        return layer

    def _dense(self, name, units, seed_offset):
        return keras.layers.Dense(
            units,
            kernel_initializer=keras.initializers.GlorotUniform(
                self._seed(seed_offset)
            ),
            bias_initializer=keras.initializers.RandomNormal(
                stddev=1e-6, seed=self._seed(seed_offset + 1)
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def _self_attention(self, x, training):
        # `self.attention` holds the kernels (their paths and layouts are
        # AugReg's and Keras'), but its call is not used: Keras' TensorFlow
        # backend turns its projections into a batch matmul broadcast over
        # the examples, whose kernel gradient is one product per example
        # summed over the batch. That was half of a Ti/16 training step at
        # 32 px on CPU; one 2-D matmul per projection computes the same.
        a, d = self.attention, self.hidden_dim
        heads, head_dim = self.num_heads, d // self.num_heads
        tokens = ops.shape(x)[1]
        flat = ops.reshape(x, (-1, d))

        def weight(variable, shape):
            # Read directly, not through the Dense layers' calls: cast to
            # the compute dtype as their calls would (mixed precision).
            return ops.cast(ops.reshape(variable, shape), x.dtype)

        def project(dense):
            y = ops.matmul(flat, weight(dense.kernel, (d, d)))
            y = y + weight(dense.bias, (d,))
            return ops.reshape(y, (-1, tokens, heads, head_dim))

        query = project(a.query_dense)
        query = query * ops.cast(1.0 / head_dim**0.5, query.dtype)
        scores = ops.einsum("bqhd,bkhd->bhqk", query, project(a.key_dense))
        weights = ops.softmax(scores, axis=-1)
        weights = self.attention_weights_dropout(weights, training=training)
        y = ops.einsum("bhqk,bkhd->bqhd", weights, project(a.value_dense))
        out = a.output_dense
        y = ops.matmul(ops.reshape(y, (-1, d)), weight(out.kernel, (d, d)))
        return ops.reshape(y + weight(out.bias, (d,)), (-1, tokens, d))

    def call(self, tokens, training=None):
        x = elementwise.layer_norm(self.norm_1, tokens)
        x = self._self_attention(x, training)
        x = tokens + self.dropout(x, training=training)
        y = self.mlp_dense_1(elementwise.layer_norm(self.norm_2, x))
        y = elementwise.gelu(y, self.approximate_gelu)
        y = self.dropout(y, training=training)
        y = self.dropout(self.mlp_dense_2(y), training=training)
        return x + y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "mlp_dim": self.mlp_dim,
                "dropout_rate": self.dropout_rate,
                "attention_dropout": self.attention_dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "approximate_gelu": self.approximate_gelu,
                "seed": self.seed,
            }
        )
        return config
