"""Components: the shareable, lockable building blocks of µ2Net paths.

A component (spec §1.1) is one named part of a ViT (a component layer, see
`mu2keras.layers`) with a unique integer id and a set of *train locks*. It is
trainable if and only if it has no locks. *Sharing* a component between
paths means reusing the same layer object, so the same variables; *cloning*
(spec §2.5 step 4) makes a new id and a new layer with copied weights and
copied optimizer momentum, with no locks, so the original is never modified.
"""

import copy
import json

import keras
import numpy as np

from mu2keras import layers

# The lock of the root pseudo-task's components (spec §1.3): it is never
# removed, so root components are permanently frozen. Also the name of the
# pseudo-task itself, as in the reference notebook.
ROOT_TASK = "NOT_TRAINABLE"

# The only classes a component layer may be rebuilt as when a state is
# loaded: nothing else is ever looked up or executed.
LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (
        layers.ClassToken,
        layers.EncoderBlock,
        layers.EncoderNorm,
        layers.PatchEmbedding,
        layers.PositionEmbedding,
        layers.ResidualAdapter,
        layers.TaskHead,
    )
}


def variable_key(layer, variable):
    """The key of one of `layer`'s variables, relative to the layer.

    Keras variable paths start with the layer's name ("head/dense/kernel");
    the key drops it ("dense/kernel") so that a clone, or a layer rebuilt
    from a state, maps to the same keys.
    """
    prefix = layer.name + "/"
    path = variable.path
    return path[len(prefix) :] if path.startswith(prefix) else path


def layer_variables(layer):
    """The layer's variables, as an ordered dict `variable_key` -> variable."""
    result = {}
    for variable in layer.weights:
        key = variable_key(layer, variable)
        if key in result:
            raise ValueError(
                f"Layer '{layer.name}' has two variables with the key {key!r}."
            )
        result[key] = variable
    return result


# Config entries that change no computation of a layer given its weights.
_NOT_STRUCTURE = ("name", "seed", "trainable")


def structure_key(layer):
    """The layer's class and forward-relevant config, as a hashable key.

    Layers with equal keys compute the same function of (input, weights):
    names, seeds, trainable flags and initializers are left out.
    """
    config = {
        k: v
        for k, v in layer.get_config().items()
        if k not in _NOT_STRUCTURE and not k.endswith("_initializer")
    }
    return (
        f"{type(layer).__module__}.{type(layer).__qualname__}",
        json.dumps(config, sort_keys=True, default=str),
    )


def layer_signature(layer):
    """`structure_key` plus the build config, as a hashable key.

    Layers with equal signatures have weights of the same shapes and compute
    the same function of them: one traced function serves them all.
    """
    build = json.dumps(layer.get_build_config(), sort_keys=True, default=str)
    return (*structure_key(layer), build)


def stateless_variables(layer):
    """The layer's variables in `keras.Layer.stateless_call`'s order."""
    return list(layer.trainable_variables) + list(layer.non_trainable_variables)


def compute_input(layer, x):
    """`x` in the layer's compute dtype, as `Layer.__call__` converts it
    (`Layer.stateless_call` does not): under a mixed policy a float32
    input becomes bfloat16 before the layer's own code sees it."""
    dtype = layer.compute_dtype
    if keras.backend.standardize_dtype(x.dtype) == dtype:
        return x
    return keras.ops.cast(x, dtype)


def copy_layer(layer, dtype=None):
    """A new, built layer of the same class and config with copied weights;
    `dtype` (a Keras dtype policy name) replaces the layer's policy."""
    config = layer.get_config()
    if dtype is not None:
        config["dtype"] = dtype
    new = type(layer).from_config(config)
    new.build_from_config(layer.get_build_config())
    new.set_weights(layer.get_weights())
    return new


def in_dtype_policy(layer, policy):
    """`layer` if it computes in the Keras dtype policy `policy`, else a
    copy that does (same weights, same trainable flag)."""
    if layer.dtype_policy.name == policy:
        return layer
    new = copy_layer(layer, dtype=policy)
    new.trainable = layer.trainable
    return new


class Component:
    """A named, lockable part of a µ2Net path (spec §1.1).

    Args:
        id: int. Unique within a population (never reused).
        layer: a built component layer; its name is the component name.
        locks: iterable of str. Task names (and `ROOT_TASK`) whose retained
            paths use this component.
        momentum: dict `variable_key` -> numpy array, or None. The SGD
            momentum trace of the trainable variables (spec §2.7, "optimizer
            state inheritance"); None means zeros (a new component).
    """

    def __init__(self, id, layer, locks=(), momentum=None):
        if isinstance(id, bool) or not isinstance(id, int) or id < 0:
            raise ValueError(f"A component id is an int >= 0; got {id!r}.")
        if not layer.built:
            raise ValueError(f"Component layer '{layer.name}' is not built.")
        self.id = id
        self.layer = layer
        self._locks = set()
        self.momentum = None
        self.set_momentum(momentum)
        for lock in locks:
            self.add_lock(lock)
        self._sync_trainable()

    @property
    def name(self):
        """The component name (`embedding`, `encoderblock_3`, `head`...)."""
        return self.layer.name

    @property
    def locks(self):
        """The train locks, a frozenset of task names."""
        return frozenset(self._locks)

    @property
    def trainable(self):
        """True if and only if no lock is held (spec §1.1)."""
        return not self._locks

    @property
    def num_params(self):
        return self.layer.count_params()

    def add_lock(self, task):
        if not isinstance(task, str) or not task:
            raise ValueError(f"A lock is a non-empty task name; got {task!r}.")
        self._locks.add(task)
        self._sync_trainable()

    def remove_lock(self, task):
        """Removes a task's lock; the root's lock can never be removed."""
        if task == ROOT_TASK:
            raise ValueError(
                f"Component {self.id} ({self.name}): the root lock "
                f"{ROOT_TASK!r} is permanent (spec §1.3)."
            )
        self._locks.discard(task)
        self._sync_trainable()

    def _sync_trainable(self):
        # The Keras flag follows the locks, so any Keras training loop over a
        # path's model skips frozen (shared) components.
        self.layer.trainable = self.trainable

    def variables(self):
        """Ordered dict `variable_key` -> variable of the layer."""
        return layer_variables(self.layer)

    def set_momentum(self, momentum):
        """Sets the momentum trace, checking keys and shapes against the layer.

        Args:
            momentum: dict `variable_key` -> array, or None for zeros.
        """
        if momentum is None:
            self.momentum = None
            return
        variables = self.variables()
        checked = {}
        for key, value in momentum.items():
            if key not in variables:
                raise ValueError(
                    f"Momentum key {key!r} is not a variable of component "
                    f"{self.id} ({self.name}); variables: {sorted(variables)}."
                )
            value = np.asarray(value)
            if tuple(value.shape) != tuple(variables[key].shape):
                raise ValueError(
                    f"Momentum {key!r} of component {self.id} has shape "
                    f"{value.shape}; the variable has "
                    f"{tuple(variables[key].shape)}."
                )
            checked[key] = value
        self.momentum = checked

    def clone(self, new_id):
        """Returns a trainable copy (spec §2.5 step 4).

        The copy has id `new_id`, no locks, a new layer with the same name,
        config and weights, and a copy of the momentum trace.
        """
        return Component(
            new_id,
            copy_layer(self.layer),
            momentum=copy.deepcopy(self.momentum),
        )

    def record(self):
        """A JSON-able description for the population history (spec §6.2)."""
        return {
            "id": self.id,
            "name": self.name,
            "class_name": type(self.layer).__name__,
            "num_params": self.num_params,
            "train_locks": sorted(self._locks),
        }

    def __repr__(self):
        return (
            f"Component(id={self.id}, name={self.name!r}, "
            f"locks={sorted(self._locks)})"
        )
