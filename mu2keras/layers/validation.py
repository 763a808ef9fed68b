"""Argument and input-shape checks shared by the component layers."""


def check_positive_int(name, value):
    """Raises a ValueError naming `name` unless `value` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; got {value!r}.")


def check_tokens(layer, input_shape, hidden_dim):
    """Checks that `input_shape` is `(batch, tokens, hidden_dim)`."""
    if len(input_shape) != 3 or input_shape[-1] != hidden_dim:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' expects tokens of shape "
            f"(batch, tokens, {hidden_dim}); got {tuple(input_shape)}."
        )
