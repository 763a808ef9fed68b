"""Encoding a population as JSON plus one TensorFlow tensor bundle.

The structure (retained paths, their hyperparameters, metrics, parents and
components; locks; private tasks; id counters; the history of every
generated path and component) is JSON. Each unique component's variables,
and its momentum trace, are stored once in a TensorFlow tensor bundle
(`SaveV2` / `RestoreV2`, the format of TF checkpoints) under the keys
`component/{id}/{variable_key}` and `momentum/{id}/{variable_key}`.

Loading executes nothing it reads: a layer is rebuilt only as one of the
component layer classes (`mu2keras.system.component.LAYER_CLASSES`), or as a
subclass of one that the running process registered with
`keras.saving.register_keras_serializable` (stored under its registered
name; nothing named by a state is imported). It is built from its
constructor arguments alone: the named `__init__` parameters of its classes
down to the component class, plus `name`, `trainable` and `dtype` (a policy
name), each a number, string, bool, null or a list of them. A save refuses
a component that a load could not rebuild this way, before writing anything.
"""

import functools
import inspect
import json

import keras
import numpy as np
import tensorflow as tf

from mu2keras.system.component import LAYER_CLASSES
from mu2keras.system.component import Component
from mu2keras.system.component import layer_variables
from mu2keras.system.path import Path
from mu2keras.system.population import Population


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


# The `keras.layers.Layer` arguments a component's config holds.
_LAYER_ARGUMENTS = ("name", "trainable", "dtype")
_REGISTER = "@keras.saving.register_keras_serializable(package=...)"


def _component_base(cls):
    """The component layer class `cls` is or derives from, or None."""
    for klass in getattr(cls, "__mro__", ()):
        if LAYER_CLASSES.get(klass.__name__) is klass:
            return klass
    return None


@functools.cache  # Per class: every save and load asks for each component.
def _arguments(cls):
    """The config keys a state may give `cls` (see the module docstring)."""
    mro = cls.__mro__
    names = set(_LAYER_ARGUMENTS)
    for klass in mro[: mro.index(_component_base(cls)) + 1]:
        if "__init__" in vars(klass):
            parameters = inspect.signature(klass.__init__).parameters
            names.update(
                p.name
                for p in list(parameters.values())[1:]
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            )
    return frozenset(names)


def _is_plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (np.bool_, np.number, np.str_)):
        return True
    return isinstance(value, (list, tuple)) and all(map(_is_plain, value))


def _config_problem(cls, config):
    """What keeps `config` from being `cls`'s constructor arguments, or None."""
    if not isinstance(config, dict):
        return f"its config is {type(config).__name__}, not an object"
    allowed = _arguments(cls)
    for key, value in config.items():
        if key not in allowed:
            return (
                f"config key {key!r} is not a constructor argument of "
                f"{cls.__name__} (those are {sorted(allowed)})"
            )
        if not _is_plain(value):
            return (
                f"config key {key!r} holds {type(value).__name__} "
                f"{_short(value)}; a state stores a constructor argument "
                "only as a number, string, bool, null or a list of them"
            )
    if not isinstance(config.get("dtype"), str):
        return (
            f"config key 'dtype' is {config.get('dtype')!r}; expected a "
            "dtype policy name"
        )
    try:
        inspect.signature(cls.__init__).bind(None, **config)
    except TypeError as e:
        return f"its config does not fit {cls.__name__}: {e}"
    return None


def _short(value, limit=80):
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _class_name(component):
    """The name a state stores for the component's layer class.

    A component layer class by its class name (as states always have); a
    subclass by its registered Keras name, which loading looks up among the
    classes registered in the running process.
    """
    cls = type(component.layer)
    where = f"Cannot save component {component.id} ({component.name})"
    if LAYER_CLASSES.get(cls.__name__) is cls:
        return cls.__name__
    qualname = f"{cls.__module__}.{cls.__qualname__}"
    base = _component_base(cls)
    if base is None:
        raise ValueError(
            f"{where}: its layer is a {qualname}, neither a component layer "
            f"class ({', '.join(sorted(LAYER_CLASSES))}) nor a subclass of "
            "one."
        )
    name = keras.saving.get_registered_name(cls)
    if name in LAYER_CLASSES or (
        keras.saving.get_registered_object(name) is not cls
    ):
        raise ValueError(
            f"{where}: its layer class {qualname} subclasses "
            f"mu2keras.layers.{base.__name__} but is not registered with "
            "Keras, so a loaded state could not rebuild it. Decorate the "
            f"class with {_REGISTER} (and import its module before loading)."
        )
    return name


def component_structure(component):
    layer = component.layer
    class_name = _class_name(component)
    config = layer.get_config()
    # A policy name, not a serialized Keras object: nothing to deserialize.
    config["dtype"] = layer.dtype_policy.name
    problem = _config_problem(type(layer), config)
    if problem:
        raise ValueError(
            f"Cannot save component {component.id} ({component.name}, "
            f"{class_name}): {problem}."
        )
    momentum = component.momentum
    return {
        "id": component.id,
        "class_name": class_name,
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
        "components": [component_structure(c) for c in components.values()],
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


def _layer_class(record, filename):
    """The class a component record names: a component layer class or a
    registered subclass of one. Only looks names up; imports nothing."""
    name = record.get("class_name")
    cls = LAYER_CLASSES.get(name)
    if cls is None and isinstance(name, str):
        cls = keras.saving.get_registered_object(name)
    if not isinstance(cls, type) or _component_base(cls) is None:
        raise StateError(
            f"{filename}: component {record.get('id')} has class {name!r}; "
            f"known: {sorted(LAYER_CLASSES)} and their subclasses registered "
            f"in this process (a subclass of your own: decorate it with "
            f"{_REGISTER} and import its module before loading)."
        )
    return cls


def decode_component(record, prefix, filenames):
    structure_file, filename = filenames
    cls = _layer_class(record, structure_file)
    config = record["config"]
    problem = _config_problem(cls, config)
    if problem:
        raise StateError(
            f"{structure_file}: component {record['id']} "
            f"({record['class_name']}): {problem}."
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
    if isinstance(structure, dict) and "agent" in structure:
        raise StateError(
            f"{structure_file} is agent {structure['agent']!r}'s part of a "
            "shared system (it refers to other agents' components); load "
            "the system with mu2keras.agents (launch.export --state=SYSTEM)."
        )
    try:
        components = {}
        for record in structure["components"]:
            component = decode_component(record, prefix, filenames)
            components[component.id] = component
        paths = {}
        for record in sorted(structure["paths"], key=lambda r: r["id"]):
            paths[record["id"]] = _decode_path(record, components, paths)
        by_task = {
            task: [paths[i] for i in ids]
            for task, ids in structure["tasks"].items()
        }
        return restore_population(by_task, structure, history)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, StateError):
            raise
        raise StateError(f"{structure_file}: inconsistent state: {e!r}") from e


def restore_population(pools, structure, history):
    """The `Population` of a state's parsed structure and history, with
    `pools` {task: [Path]} (a state's own, or an agent's over the root)."""
    return Population.restore(
        pools,
        structure["private_tasks"],
        structure["active_task"],
        (structure["next_path_id"], structure["next_component_id"]),
        (
            {r["id"]: r for r in history["paths"]},
            {r["id"]: r for r in history["components"]},
        ),
    )


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
