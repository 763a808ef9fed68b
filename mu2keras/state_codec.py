"""Encoding a population as JSON plus one TensorFlow tensor bundle.

The structure (retained paths, their hyperparameters, metrics, parents and
components; locks; private tasks; id counters; the history of every
generated path and component) is JSON. Each unique component's variables,
and its momentum trace, are stored once in a TensorFlow tensor bundle
(`SaveV2` / `RestoreV2`, the format of TF checkpoints) under the keys
`component/{id}/{variable_key}` and `momentum/{id}/{variable_key}`.

Loading executes nothing: layers are rebuilt only as one of the component
layer classes (`mu2keras.component.LAYER_CLASSES`), from their JSON config.
"""

import json

import numpy as np
import tensorflow as tf

from mu2keras.component import LAYER_CLASSES
from mu2keras.component import Component
from mu2keras.component import layer_variables
from mu2keras.path import Path
from mu2keras.population import Population


class StateError(ValueError):
    """A state that cannot be read: names the offending file."""


def to_json(value, filename):
    """JSON bytes; numpy values become Python ones, NaN is kept."""

    def default(obj):
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, (set, frozenset)):
            return sorted(obj)
        raise TypeError(
            f"{filename}: cannot store {type(obj).__name__} {obj!r} as JSON."
        )

    return json.dumps(value, indent=1, default=default).encode("utf-8")


def from_json(data, filename):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StateError(f"{filename} is not valid JSON: {e}") from e


def _variable_specs(variables):
    return [
        {"key": key, "dtype": tf.as_dtype(v.dtype).name, "shape": list(v.shape)}
        for key, v in variables.items()
    ]


def _component_structure(component):
    layer = component.layer
    config = layer.get_config()
    # A policy name, not a serialized Keras object: nothing to deserialize.
    config["dtype"] = layer.dtype_policy.name
    momentum = component.momentum
    return {
        "id": component.id,
        "class_name": type(layer).__name__,
        "config": config,
        "build_config": layer.get_build_config(),
        "train_locks": sorted(component.locks),
        "variables": _variable_specs(component.variables()),
        "momentum": None
        if momentum is None
        else [
            {"key": k, "dtype": tf.as_dtype(v.dtype).name, "shape": v.shape}
            for k, v in momentum.items()
        ],
    }


def encode(population):
    """Returns (structure, history, tensors) for `population`.

    `structure` and `history` are JSON-able dicts; `tensors` is a dict
    bundle key -> tensor value (each unique component once).
    """
    components = population.components()
    tensors = {}
    for component in components.values():
        for key, variable in component.variables().items():
            tensors[f"component/{component.id}/{key}"] = variable.value
        for key, value in (component.momentum or {}).items():
            tensors[f"momentum/{component.id}/{key}"] = value
    paths = population.retained_paths()
    structure = {
        "tasks": {
            task: [path.id for path in pool]
            for task, pool in population.paths.items()
        },
        "private_tasks": sorted(population.private_tasks),
        "active_task": population.active_task,
        "next_path_id": population.next_path_id,
        "next_component_id": population.next_component_id,
        "paths": [population.path_record(path) for path in paths],
        "components": [_component_structure(c) for c in components.values()],
    }
    path_history, component_history = population.history()
    history = {"paths": path_history, "components": component_history}
    return structure, history, tensors


def save_tensors(prefix, tensors):
    """Writes a tensor bundle `prefix.index` + `prefix.data-*`."""
    names = list(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.convert_to_tensor(tensors[n]) for n in names],
    )


def _restore(prefix, specs, scope, filename):
    """Reads the tensors `{scope}/{key}` listed in `specs`; checks shapes."""
    if not specs:
        return {}
    names = [f"{scope}/{spec['key']}" for spec in specs]
    try:
        values = tf.raw_ops.RestoreV2(
            prefix=prefix,
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            dtypes=[tf.as_dtype(spec["dtype"]) for spec in specs],
        )
    except (tf.errors.OpError, TypeError, ValueError) as e:
        raise StateError(f"{filename}: cannot read {scope}: {e}") from e
    result = {}
    for spec, value in zip(specs, values, strict=True):
        if list(value.shape) != list(spec["shape"]):
            raise StateError(
                f"{filename}: {scope}/{spec['key']} has shape {value.shape}; "
                f"expected {spec['shape']}."
            )
        result[spec["key"]] = value.numpy()
    return result


def _decode_component(record, prefix, filename):
    cls = LAYER_CLASSES.get(record.get("class_name"))
    if cls is None:
        raise StateError(
            f"{filename}: component {record.get('id')} has class "
            f"{record.get('class_name')!r}; known: {sorted(LAYER_CLASSES)}."
        )
    config = record["config"]
    if not isinstance(config.get("dtype"), str):
        raise StateError(
            f"{filename}: component {record['id']} has dtype "
            f"{config.get('dtype')!r}; expected a dtype policy name."
        )
    layer = cls.from_config(config)
    build_config = dict(record["build_config"])
    build_config["input_shape"] = tuple(build_config["input_shape"])
    layer.build_from_config(build_config)
    scope = f"component/{record['id']}"
    values = _restore(prefix, record["variables"], scope, filename)
    variables = layer_variables(layer)
    if sorted(values) != sorted(variables):
        raise StateError(
            f"{filename}: component {record['id']} stores variables "
            f"{sorted(values)}; its layer has {sorted(variables)}."
        )
    for key, variable in variables.items():
        variable.assign(values[key])
    momentum = None
    if record["momentum"] is not None:
        scope = f"momentum/{record['id']}"
        momentum = _restore(prefix, record["momentum"], scope, filename)
    return Component(record["id"], layer, record["train_locks"], momentum)


def decode(structure, history, prefix, filenames):
    """Rebuilds the population encoded by `encode` and `save_tensors`.

    Args:
        structure: dict, from the structure JSON file.
        history: dict, from the history JSON file.
        prefix: str. The tensor bundle prefix.
        filenames: (structure file, weights file), for error messages.

    Returns:
        A `Population`. Each path's `reloads` is one more than saved.
    """
    structure_file, weights_file = filenames
    try:
        components = {}
        for record in structure["components"]:
            component = _decode_component(record, prefix, weights_file)
            components[component.id] = component
        paths = {}
        for record in sorted(structure["paths"], key=lambda r: r["id"]):
            paths[record["id"]] = _decode_path(record, components, paths)
        by_task = {
            task: [paths[i] for i in ids]
            for task, ids in structure["tasks"].items()
        }
        return Population.restore(
            by_task,
            structure["private_tasks"],
            structure["active_task"],
            (structure["next_path_id"], structure["next_component_id"]),
            (
                {r["id"]: r for r in history["paths"]},
                {r["id"]: r for r in history["components"]},
            ),
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, StateError):
            raise
        raise StateError(f"{structure_file}: inconsistent state: {e!r}") from e


def _decode_path(record, components, paths):
    parent_id = record["parent_id"]
    if parent_id != -1 and parent_id not in paths:
        # Retained paths only point at retained, older paths (spec §2.9).
        raise ValueError(
            f"path {record['id']} has parent {parent_id}, not a retained path"
        )
    path = Path(
        record["id"],
        record["task"],
        [components[i] for i in record["components"]],
        paths.get(parent_id),
        record["hparams"],
        record["metrics"],
    )
    path.origin_parent_id = record["origin_parent_id"]
    path.reloads = record["reloads"] + 1
    return path
