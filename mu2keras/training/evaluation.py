"""A structure's evaluation: each candidate's accuracy on the validation set.

Trainable flags do not change the forward pass, so one evaluation (its
traced and compiled functions) serves every workspace whose structure has
the same `inference_signature`: with layers from one `LayerPool`, such
workspaces hold the very same layer objects. One by one, the demo's 24
candidates had 11 structures but 4 inference signatures, and tracing an
evaluation was a fifth of a new structure's cost.
"""

import functools

import tensorflow as tf

from mu2keras.training import structure as structure_lib


class Evaluation:
    """Evaluates the trie of `layers` (spec §2.7).

    Args:
        strategy: `tf.distribute.Strategy`.
        layers: the slots' layers (a workspace's).
        structure: `Structure` giving the trie (nodes and leaves).
        jit_compile: bool. Compile the per-replica computation with XLA.
        kernels: `LayerKernels` or None (layers traced inline).
    """

    def __init__(self, strategy, layers, structure, jit_compile, kernels):
        self.strategy = strategy
        self.layers = list(layers)
        self.nodes = list(structure.nodes)
        self.leaves = list(structure.leaves)
        self.warm = False
        self._kernels = kernels
        # Partials, not bound methods or lambdas: see `Workspace`.
        self._correct_fn = tf.function(
            functools.partial(self._correct),
            jit_compile=jit_compile,
            autograph=False,
        )
        self._eval_fn = tf.function(
            functools.partial(self._eval_loop), autograph=False
        )

    def __call__(self, iterator, num_batches):
        """Returns each candidate's mean top-1 accuracy, shape (K,)."""
        return self._eval_fn(iterator, tf.constant(num_batches, tf.int32))

    def warm_up(self, iterator, num_batches):
        """Traces and compiles, once (see `Workspace.warm_up`)."""
        if not self.warm:
            self(iterator, num_batches).numpy()
            self.warm = True

    def _correct(self, images, labels, weights):
        logits = structure_lib.forward(
            self.layers, self.nodes, self.leaves, images, self._kernels
        )
        labels = tf.cast(labels, tf.int64)
        return tf.stack(
            [
                tf.reduce_sum(
                    weights
                    * tf.cast(
                        tf.equal(tf.argmax(x, axis=-1), labels), tf.float32
                    )
                )
                for x in logits
            ]
        )

    def _replica_eval(self, images, labels, weights=None):
        # Weights mark padding in a padded last batch (mu2keras.tasks).
        if weights is None:
            weights = tf.ones(tf.shape(labels), tf.float32)
        weights = tf.cast(weights, tf.float32)
        correct = self._correct_fn(images, labels, weights)
        return correct, tf.reduce_sum(weights)

    def _eval_loop(self, iterator, num_batches):
        strategy = self.strategy

        def body(batch, accuracy):
            inputs = iterator.get_next()
            correct, count = strategy.run(self._replica_eval, tuple(inputs))
            correct = strategy.reduce("SUM", correct, axis=None)
            count = strategy.reduce("SUM", count, axis=None)
            return batch + 1, accuracy + correct / count

        zeros = tf.zeros((len(self.leaves),), tf.float32)
        _, accuracy = tf.while_loop(
            lambda batch, _: batch < num_batches, body, (tf.constant(0), zeros)
        )
        # Spec §2.7: quality is the mean of the per-batch accuracies (each
        # weighted by the batch's example weights, if any).
        return accuracy / tf.cast(num_batches, tf.float32)
