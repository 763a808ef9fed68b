"""Paths: one complete model for one task, made of components (spec §1.1).

A path is an ordered list of components (spec §3):

    embedding → cls → posembed_input → {residual_adapter_i, encoderblock_i}
    for i < num_layers → encoder_norm → head

Components are shared by reference: two paths holding the same component
run the very same layer and variables. A path knows its task, its parent
path (possibly of another task), its hyperparameters and its metrics.
"""

import math

import keras
from keras import ops

from mu2keras import architecture
from mu2keras.system.component import ROOT_TASK


def _is_block(name):
    index = architecture.layer_index(name)
    return index is not None and name == architecture.encoder_block_name(index)


def check_component_order(names):
    """Raises unless `names` is a valid path layout (spec §3).

    Args:
        names: list of str, the component names in path order.
    """
    blocks, adapters = [], []
    for name in names:
        index = architecture.layer_index(name)
        if index is not None:
            (blocks if _is_block(name) else adapters).append(index)
    expected = architecture.component_names(len(blocks), adapters)
    if list(names) != expected:
        raise ValueError(
            f"Components {list(names)} are not in path order; expected "
            f"{expected}."
        )


class Path:
    """A task's model: ordered, shared or owned components (spec §1.1).

    Paths are made by a `Population` (`Population.new_path`), which assigns
    ids and keeps the history; construct one directly only for tests.

    Args:
        id: int. Unique within a population.
        task: str. The task this path solves (`ROOT_TASK` for a root).
        components: list of `Component`, in path order.
        parent: `Path` or None. The path this one was derived from.
        hparams: dict. Architecture, optimizer and data hyperparameters
            (JSON-able values).
        metrics: dict. Quality, score, timings... (JSON-able values).
    """

    def __init__(
        self, id, task, components, parent=None, hparams=None, metrics=None
    ):
        if isinstance(id, bool) or not isinstance(id, int) or id < 0:
            raise ValueError(f"A path id is an int >= 0; got {id!r}.")
        if not isinstance(task, str) or not task:
            raise ValueError(f"A task name is a non-empty str; got {task!r}.")
        components = list(components)
        check_component_order([c.name for c in components])
        ids = [c.id for c in components]
        if len(set(ids)) != len(ids):
            raise ValueError(f"Path {id} repeats a component id: {ids}.")
        self.id = id
        self.task = task
        self.components = components
        self.parent = parent
        # The parent at creation; `parent` is re-pointed by garbage
        # collection to the nearest retained ancestor (spec §2.9).
        self.origin_parent_id = -1 if parent is None else parent.id
        self.hparams = dict(hparams or {})
        self.metrics = dict(metrics or {})
        # Times this path was loaded from a state (spec §4, "Counters").
        self.reloads = 0
        self._model = None

    @property
    def layers(self):
        """The component layers, in path order."""
        return [c.layer for c in self.components]

    def component(self, name):
        """The component named `name`, or None."""
        for component in self.components:
            if component.name == name:
                return component
        return None

    @property
    def num_layers(self):
        """Encoder blocks run by this path."""
        return sum(1 for c in self.components if _is_block(c.name))

    @property
    def image_size(self):
        """Input side in pixels: the position grid times the patch size."""
        posembed = self.component(architecture.POSITION_EMBEDDING).layer
        stem = self.component(architecture.EMBEDDING).layer
        return posembed.grid_size * stem.patch_size

    @property
    def num_classes(self):
        return self.component(architecture.HEAD).layer.num_classes

    @property
    def num_params(self):
        return sum(c.num_params for c in self.components)

    @property
    def num_trainable_params(self):
        return sum(c.num_params for c in self.components if c.trainable)

    def accounted_params(self):
        """Parameters charged to this path, for scoring (spec §1.4).

        Each component contributes `num_params / |locks ∪ {task} − {root}|`,
        so a component shared by the retained paths of k tasks is amortised
        over them. The root path gets NaN.
        """
        if self.task == ROOT_TASK:
            return math.nan
        total = 0.0
        for component in self.components:
            owners = (set(component.locks) | {self.task}) - {ROOT_TASK}
            total += component.num_params / len(owners)
        return total

    def __call__(self, images, training=False):
        """Runs the path on `(batch, S, S, 3)` images in [-1, 1]: float32
        logits, whatever the components' compute dtype."""
        logits = architecture.forward(self.layers, images, training=training)
        return ops.cast(logits, "float32")

    def build_model(self):
        """A functional `keras.Model` over this path's own layer instances.

        Frozen (shared) components are the very layers other paths use, with
        `trainable=False`; trainable ones are this path's clones. So
        `model.fit` trains only the clones and `model.predict` gives the
        path's logits. The model is built once and cached.

        Returns:
            A `keras.Model` mapping `(batch, S, S, 3)` images to float32
            logits.
        """
        if self._model is None:
            size = self.image_size
            images = keras.Input((size, size, 3), name="images")
            logits = architecture.forward(self.layers, images, training=None)
            if logits.dtype != "float32":  # A bfloat16 system's.
                logits = ops.cast(logits, "float32")
            self._model = keras.Model(images, logits, name=f"path_{self.id}")
        return self._model

    def release_model(self):
        """Unlinks the cached model's graph from the (shared) layers.

        Keras records each symbolic call of a layer as a node in the layer's
        `_inbound_nodes`, and the node points at the layers feeding it. A
        frozen root layer shared by a discarded path would thus keep that
        path's clones alive for ever. Called by garbage collection (spec
        §2.9) on every discarded path. The nodes are emptied in place rather
        than removed, because other models index them by position; only
        their inputs, which lead to the discarded layers, are dropped.
        """
        model, self._model = self._model, None
        if model is None:
            return
        nodes = {
            id(node)
            for group in model._nodes_by_depth.values()
            for node in group
        }
        for layer in model.layers:
            for node in layer._inbound_nodes:
                if id(node) in nodes:
                    node.arguments = type(node.arguments)()
            layer._outbound_nodes = [
                n for n in layer._outbound_nodes if id(n) not in nodes
            ]

    def record(self):
        """A JSON-able description: the row of `paths.csv` (spec §6.2)."""
        parent_id = -1 if self.parent is None else self.parent.id
        return {
            "id": self.id,
            "task": self.task,
            "parent_id": parent_id,
            "parent_task": None if self.parent is None else self.parent.task,
            "origin_parent_id": self.origin_parent_id,
            "components": [c.id for c in self.components],
            "hparams": dict(self.hparams),
            "metrics": dict(self.metrics),
            "reloads": self.reloads,
        }

    def __repr__(self):
        parent = None if self.parent is None else self.parent.id
        return f"Path(id={self.id}, task={self.task!r}, parent={parent})"
