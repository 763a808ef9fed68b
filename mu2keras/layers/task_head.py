import keras

from mu2keras.layers import validation


@keras.saving.register_keras_serializable(package="mu2keras")
class TaskHead(keras.layers.Layer):
    """A task's classifier: the `head` component.

    A Dense layer on the class token (`classifier='token'`; AugReg has no
    pre-logits layer). Kernel and bias start at zero, as vit_jax and µ2Net
    do, so a new head predicts uniformly until trained.

    Args:
        num_classes: int. Number of classes of the task.
        hidden_dim: int. Token width D.

    Call arguments:
        tokens: tensor `(batch, tokens, D)`, the class token first.

    Returns:
        Logits `(batch, num_classes)`.
    """

    def __init__(self, num_classes, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        validation.check_positive_int("num_classes", num_classes)
        validation.check_positive_int("hidden_dim", hidden_dim)
        # === Config ===
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        validation.check_tokens(self, input_shape, self.hidden_dim)
        self.dense = keras.layers.Dense(
            self.num_classes,
            kernel_initializer="zeros",
            dtype=self.dtype_policy,
            name="dense",
        )
        self.dense.build((input_shape[0], self.hidden_dim))

    def call(self, tokens):
        return self.dense(tokens[:, 0])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_classes": self.num_classes, "hidden_dim": self.hidden_dim}
        )
        return config
