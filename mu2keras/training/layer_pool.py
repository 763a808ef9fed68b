"""Blank layers shared by all of a trainer's workspaces.

A workspace does not train the candidates' own layers but copies of them
("blank" layers, built under the strategy's scope), into which `load`
assigns every weight before each group. Building those copies was a tenth
to a fifth of a new structure's cost (0.05-0.4 s for the demo's): creating,
initialising and tracking each Keras variable, only for `load` to
overwrite it.

A trainer runs its workspaces one at a time, and a workspace's functions
read its layers' variables only between its own `load` and the end of its
group. So two workspaces may hold the same layer object, provided that
within one workspace every slot has its own. The pool hands out, for the
i-th slot of a given kind (`layer_signature`), its i-th layer of that kind,
built on first need: a new structure builds only the layers of kinds, or
multiplicities, no workspace needed before. Which slots train is the
workspace's business (its tape, its optimizers, its kernels' flags), not
the layers': a pooled layer serves trainable and frozen slots alike, so
structures that differ only in trainable flags get the very same layers
(and share one `Evaluation`). Their optimizers' momentum traces are
pooled the same way, one per pooled variable: `load` assigns them too. So a
cached workspace holds its graphs and a few scalars, not weights or slots.
"""

import collections

import keras

from mu2keras.system.component import layer_signature
from mu2keras.training import optimizer as optimizer_lib


class LayerPool:
    """Blank layers by kind, built under `strategy`'s scope.

    Args:
        strategy: `tf.distribute.Strategy` of the workspaces served.
    """

    def __init__(self, strategy):
        self.strategy = strategy
        self._layers = {}  # layer signature -> [layers]
        # (id of a pooled layer's variable, dtype) -> trace. The pool keeps
        # the layers, so the ids stay theirs.
        self._traces = {}

    def __len__(self):
        return sum(len(layers) for layers in self._layers.values())

    def take(self, templates, kinds=None):
        """Distinct blank layers like `templates`, one per slot.

        Args:
            templates: list of built layers (a structure's slots).
            kinds: their `layer_signature`s, if known (`Structure.kinds`),
                or None to compute them.

        Returns:
            list of layers, one per template, with the template's config and
            build shapes; their weights are to be assigned. The same
            sequence of kinds always gets the same layers.
        """
        if kinds is None:
            kinds = [layer_signature(template) for template in templates]
        used = collections.Counter()
        layers = []
        for template, key in zip(templates, kinds, strict=True):
            kind = self._layers.setdefault(key, [])
            if used[key] == len(kind):
                with self.strategy.scope():
                    kind.append(_blank_copy(template))
            layers.append(kind[used[key]])
            used[key] += 1
        return layers

    def momentum_traces(self, variables, dtype):
        """Momentum traces for pooled layers' variables, one per variable.

        Args:
            variables: variables of layers taken from this pool.
            dtype: str. The traces' dtype ("float32" or "bfloat16").
        """
        traces = []
        for variable in variables:
            key = (id(variable), dtype)
            if key not in self._traces:
                with self.strategy.scope():
                    self._traces[key] = keras.Variable(
                        initializer="zeros",
                        shape=variable.shape,
                        dtype=dtype,
                        trainable=False,
                        name=optimizer_lib.slot_name(variable),
                    )
            traces.append(self._traces[key])
        return traces


def _blank_copy(layer):
    """A built layer like `layer` (weights to be assigned)."""
    config = dict(layer.get_config(), trainable=True)
    copy = type(layer).from_config(config)
    copy.build_from_config(layer.get_build_config())
    return copy
