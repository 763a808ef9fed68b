"""Reading and writing a component layer's variables by relative path.

A component's variables are addressed by their path below the component,
e.g. `attention/query/kernel` for an EncoderBlock, so that converters can
state their key maps as plain tables.
"""

import numpy as np

from mu2keras import architecture
from mu2keras import layers


def relative_variables(layer):
    """Returns {path below the layer: variable} for a built component layer."""
    prefix = layer.name + "/"
    result = {}
    for variable in layer.weights:
        path = variable.path
        if not path.startswith(prefix):
            raise ValueError(
                f"Variable {path!r} is not below layer {layer.name!r}."
            )
        result[path[len(prefix) :]] = variable
    return result


def blocks_to_load(path, num_layers, depth):
    """The blocks a loader loads: `num_layers`, or all `depth` for None."""
    if num_layers is None:
        return depth
    if not 0 <= num_layers <= depth:
        raise ValueError(
            f"num_layers={num_layers}, but {path} has {depth} blocks."
        )
    return num_layers


def assign(layer, values, source):
    """Assigns `values` {relative path: array} to all of `layer`'s variables.

    Args:
        layer: a built component layer.
        values: dict relative path -> array; must cover every variable.
        source: dict relative path -> str, the name each value was read from
            (for error messages).
    """
    variables = relative_variables(layer)
    missing = sorted(set(variables) - set(values))
    if missing:
        raise ValueError(f"No values for {layer.name} variables {missing}.")
    for path, variable in variables.items():
        value = np.asarray(values[path])
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"{source[path]} has shape {value.shape}, but {layer.name}/"
                f"{path} needs {tuple(variable.shape)}."
            )
        variable.assign(value.astype(variable.dtype))


def position_embedding_layer(embedding, variant):
    """A built `PositionEmbedding` holding a checkpoint's `(1, g² + 1, D)`
    embedding at its own grid, resizing with `variant`'s interpolation."""
    embedding = np.asarray(embedding)
    grid = int(round((embedding.shape[1] - 1) ** 0.5))
    layer = layers.PositionEmbedding(
        grid,
        variant.hidden_dim,
        interpolation=variant.posembed_interpolation,
        name=architecture.POSITION_EMBEDDING,
    )
    layer.build((None, layer.num_positions, variant.hidden_dim))
    assign(layer, {"embedding": embedding}, {"embedding": "the checkpoint"})
    return layer
