"""A group's structure: the trie over its candidates' layer sequences.

A generation's candidates train on identical batches (spec §6.1). Frozen
layers shared by reference at the start of several paths (same layer
objects in the same order) form a trie, and each trie node is computed once
per batch. Workspaces and evaluations are keyed by a structure's signatures
and run the trie with `forward`.
"""

import functools

import tensorflow as tf

from mu2keras import architecture
from mu2keras.system.component import layer_signature


class Structure:
    """The trie over a group of candidates' layer sequences.

    Attributes:
        sources: list of the distinct layers ("slots") of the group.
        slot_trainable: list of bool, per slot.
        nodes: list of (parent node or -1, slot): one computation each.
        leaves: list of int, the last node (the logits) of each candidate.
        slots: per candidate, the slot of each of its layers.
    """

    def __init__(self, candidates):
        self.sources, self.slot_trainable = [], []
        self.nodes, self.leaves, self.slots = [], [], []
        slot_of, shared_node = {}, {}
        for cand in candidates:
            parent, cand_slots = -1, []
            for layer, trainable in zip(
                cand.layers, cand.trainable, strict=True
            ):
                slot = slot_of.get(id(layer))
                if slot is None:
                    slot = slot_of[id(layer)] = len(self.sources)
                    self.sources.append(layer)
                    self.slot_trainable.append(trainable)
                elif trainable or self.slot_trainable[slot]:
                    raise ValueError(
                        f"Layer '{layer.name}' is trainable and used twice "
                        f"(candidate {cand.name!r}): trainable layers must "
                        "be distinct objects (clones)."
                    )
                node = shared_node.get((parent, slot))
                if node is None:
                    node = len(self.nodes)
                    self.nodes.append((parent, slot))
                    if not trainable:
                        shared_node[(parent, slot)] = node
                parent = node
                cand_slots.append(slot)
            self.leaves.append(parent)
            self.slots.append(cand_slots)

    @functools.cached_property
    def kinds(self):
        """Each slot's `layer_signature`."""
        return tuple(layer_signature(layer) for layer in self.sources)

    def signature(self):
        """A hashable key: equal keys can share one workspace."""
        return (
            tuple(zip(self.kinds, self.slot_trainable, strict=True)),
            tuple(self.nodes),
            tuple(self.leaves),
        )

    def inference_signature(self):
        """A hashable key: equal keys can share one evaluation.

        Trainable flags do not change the forward pass, so structures that
        differ only in them (e.g. a cloned or a shared stem) evaluate alike.
        """
        return (self.kinds, tuple(self.nodes), tuple(self.leaves))


def forward(layers, nodes, leaves, images, kernels, slot_trainable=None):
    """Runs the trie; returns each candidate's logits.

    Args:
        layers: the slots' layers.
        nodes, leaves: as `Structure`'s.
        images: a batch of images.
        kernels: `LayerKernels` or None (layers traced inline, under XLA).
        slot_trainable: None for inference; to train, per slot whether its
            weights get gradients. A node's output needs a gradient only if
            a trainable slot lies at or before it; elsewhere it is a
            constant (a frozen prefix), and the gradient stops there.
    """
    training = slot_trainable is not None
    outputs, flows = [], []
    for parent, slot in nodes:
        x = images if parent < 0 else outputs[parent]
        trainable = training and slot_trainable[slot]
        flows.append(trainable or (parent >= 0 and flows[parent]))
        if kernels is None:
            y = architecture.forward([layers[slot]], x, training)
        else:
            y = kernels(layers[slot], x, training, trainable)
        if training and not flows[-1]:
            y = tf.stop_gradient(y)
        outputs.append(y)
    return [outputs[leaf] for leaf in leaves]
