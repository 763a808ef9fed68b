"""A group's structure: the trie over its candidates' layer sequences.

A generation's candidates train on identical batches (spec §6.1). Frozen
layers shared by reference at the start of several paths (same layer
objects in the same order) form a trie, and each trie node is computed once
per batch. Workspaces and evaluations are keyed by a structure's signatures
and run the trie with `forward`.
"""

import tensorflow as tf

from mu2keras import architecture
from mu2keras.component import layer_signature


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

    def signature(self):
        """A hashable key: equal keys can share one workspace."""
        kinds, nodes, leaves = self.inference_signature()
        return (
            tuple(zip(kinds, self.slot_trainable, strict=True)),
            nodes,
            leaves,
        )

    def inference_signature(self):
        """A hashable key: equal keys can share one evaluation.

        Trainable flags do not change the forward pass, so structures that
        differ only in them (e.g. a cloned or a shared stem) evaluate alike.
        """
        kinds = tuple(layer_signature(layer) for layer in self.sources)
        return (kinds, tuple(self.nodes), tuple(self.leaves))


def forward(layers, nodes, leaves, images, kernels, training=None):
    """Runs the trie; returns each candidate's logits.

    Args:
        layers: the slots' layers.
        nodes, leaves: as `Structure`'s.
        images: a batch of images.
        kernels: `LayerKernels` or None (layers traced inline, under XLA).
        training: None for inference; to train, `(slot_trainable,
            grad_flows)`: per slot whether its weights get gradients, per
            node whether its output needs one (a trainable slot lies at or
            before it; elsewhere it is a constant, a frozen prefix).
    """
    outputs = []
    for node, (parent, slot) in enumerate(nodes):
        x = images if parent < 0 else outputs[parent]
        layer = layers[slot]
        trainable = training is not None and training[0][slot]
        if kernels is None:
            y = architecture.forward([layer], x, training is not None)
        else:
            y = kernels(layer, x, training is not None, trainable)
        if training is not None and not training[1][node]:
            y = tf.stop_gradient(y)
        outputs.append(y)
    return [outputs[leaf] for leaf in leaves]
