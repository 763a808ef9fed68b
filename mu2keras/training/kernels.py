"""Layer kernels: one traced function per layer structure, for all steps.

Every new structure (a group's layer sequence, trainable flags and trie)
needs its training and evaluation steps traced, and tracing Keras layers and
their gradients in Python is a large part of that. Structures have few
distinct layers, though: one stem, blocks of one width, a norm, a head per
task. A kernel is a `tf.function` of (input, a layer's weights) that runs
`keras.Layer.stateless_call`; it is traced once per layer structure, input
shape and mode, and every later step graph that contains such a layer calls
it with that layer's weights, its backward graph included. Grappler inlines
the calls and optimises each step graph as a whole, so steps run as fast as
with the layers traced inline (kernels marked `_noinline` made steps 16%
slower).

Without XLA only: inside a jit-compiled function the kernel calls made
steps 7 × slower (TF 2.21), and XLA compiles the whole step anyway.
Figures in docs/benchmarks.md.
"""

import tensorflow as tf

from mu2keras import architecture
from mu2keras.layers import elementwise
from mu2keras.system.component import compute_input
from mu2keras.system.component import layer_signature
from mu2keras.system.component import stateless_variables


def for_steps(jit_compile, kernels=None):
    """The kernels a step graph calls: none inside XLA, where kernel calls
    are slow (see above), else `kernels` or new ones."""
    if jit_compile:
        return None
    return LayerKernels() if kernels is None else kernels


class LayerKernels:
    """Kernels by layer structure, shared by all of a trainer's workspaces.

    Call it like the layer: `kernels(layer, x, training)`, or with
    `trainable` to override the layer's own flag (a workspace's layers serve
    trainable and frozen slots alike). A layer whose call updates its state
    (dropout with a rate, in training) is called directly instead, since a
    kernel has no state to update.
    """

    def __init__(self):
        self._kernels = {}

    def __len__(self):
        return len(self._kernels)

    def __call__(self, layer, x, training, trainable=None):
        trainable = layer.trainable if trainable is None else bool(trainable)
        key = (
            layer_signature(layer),
            layer.trainable,  # Orders the weights (`stateless_variables`).
            trainable,
            tuple(x.shape),
            x.dtype.name,
            bool(training),
        )
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = _Kernel(layer, x, training, trainable)
            self._kernels[key] = kernel
        if kernel.stateful:
            return architecture.forward([layer], x, training)
        return kernel(layer, x)


class _Kernel:
    """The traced function of one layer structure (traced on creation).

    Attributes:
        stateful: bool. The call updates non-trainable state (e.g. a dropout
            seed): not usable as a kernel.
    """

    def __init__(self, template, x, training, trainable):
        split = len(template.trainable_variables)
        frozen = not trainable
        kwargs = architecture.call_kwargs(template, training)
        self.stateful = False

        def run(inputs, values):
            if frozen:
                # The backward graph then computes the input's gradient only:
                # frozen layers cost no weight-gradient work.
                values = [tf.stop_gradient(v) for v in values]
            outputs, state = template.stateless_call(
                values[:split],
                values[split:],
                compute_input(template, inputs),
                **kwargs,
            )
            self.stateful = any(
                new is not old
                for new, old in zip(state, values[split:], strict=True)
            )
            return outputs

        signature = [
            tf.TensorSpec(x.shape, x.dtype),
            [
                tf.TensorSpec(v.shape, v.dtype)
                for v in stateless_variables(template)
            ],
        ]
        # Only the traced graph is kept, not the Python function: that would
        # keep the template layer, and its weights, alive.
        # Traced with GELU and LayerNorm compiled (`layers.elementwise`).
        with elementwise.compiled():
            self._function = tf.function(
                run, input_signature=signature, autograph=False
            ).get_concrete_function()

    def __call__(self, layer, x):
        values = [
            tf.convert_to_tensor(v.value) for v in stateless_variables(layer)
        ]
        return self._function(x, values)
