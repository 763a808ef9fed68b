"""FLOPs of a path, counted from its traced forward function (µ3Net).

µ3Net's score discounts a path by its compute as well as its size
(`mu2keras.evolution.score`). Its FLOPs are those of one example through
the path's forward function, as the notebook counts them: `Path.get_flops`
(mu3Net.ipynb, cell `8PU5ffvd_gC9`) runs XLA's HLO cost analysis on
`model.apply(..., train=False)` for one image of the path's size.

Here the path's forward function (`mu2keras.architecture.forward`, no
dropout) is traced by `tf.function` for a `(1, S, S, 3)` input, S the
path's image size, and the ops of the traced graph are counted from their
static shapes (nested function calls included):

* `MatMul`, `BatchMatMul` (V1-V3) and two-operand `Einsum`: the
  attention's query, key, value and output projections, its scores and
  weighted sum, the MLP, the adapters and the head (which reads the class
  token only);
* `Conv2D` (the patch embedding) and `DepthwiseConv2dNative`.

Each multiply-add counts as 2 FLOPs: an op contributes 2 × (output
elements) × (length of its contraction). Nothing else is counted:
LayerNorms, GELUs, softmaxes, bias and residual additions are elementwise,
a few percent of a ViT's FLOPs, and their count depends on how a backend
fuses them (XLA's cost analysis counts them, TF's graph splits them
differently); contractions are the same on every backend. So for Ti/16 with
3 blocks at 32 px the count is 14.51M, where µ3Net's reference is "15M"
(its ti3 config); at 224 px, 12 blocks, Ti/16 counts 2.51G and B/16 35.1G
(the published 1.3 and 17.6 G multiply-adds). The count is of inference,
not of a training step: it is what serving the path costs per example, the
cost µ3Net weighs; a training step's cost depends on which components are
frozen and is paid once.

A count depends only on the path's structure (component types and weight
shapes) and image size, never on weight values, so `path_flops` caches it
per structure: a structure is traced once per process (1-3 s for a
12-block ViT at 224 px on a CPU), not per generation.
"""

import math
import weakref

import tensorflow as tf

from mu2keras import architecture

_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")

_CACHE = {}  # structure_key -> FLOPs.
# Path -> FLOPs: a path's components never change, and its structure key
# takes a millisecond to build, which ranking paths by score repeats.
_BY_PATH = weakref.WeakKeyDictionary()


def path_flops(path):
    """FLOPs of one example through `path`'s forward function (cached).

    Args:
        path: `mu2keras.system.path.Path`.

    Returns:
        int, at the path's own image size.
    """
    if path not in _BY_PATH:
        _BY_PATH[path] = forward_flops(path.layers, path.image_size)
    return _BY_PATH[path]


def forward_flops(layers, image_size):
    """FLOPs of one `image_size` example through the component `layers`,
    traced once per structure (`structure_key`)."""
    key = structure_key(layers, image_size)
    if key not in _CACHE:
        _CACHE[key] = count_forward(layers, image_size)
    return _CACHE[key]


def count_forward(layers, image_size):
    """Traces the forward function of `layers` at batch 1 and counts its
    FLOPs (uncached)."""
    layers = list(layers)
    spec = tf.TensorSpec((1, image_size, image_size, 3), tf.float32)
    return function_flops(
        lambda images: architecture.forward(layers, images, training=False),
        spec,
    )


def structure_key(layers, image_size):
    """What a path's FLOPs depend on: its image size and, per component,
    the layer type and weight shapes (widths, heads, depth, adapters,
    classes), not the weight values."""
    return (int(image_size),) + tuple(
        (type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))
        for layer in layers
    )


def function_flops(fn, *input_specs):
    """FLOPs of `fn` traced by `tf.function` on `input_specs` (see the
    module docstring for what counts). Raises ValueError if a counted op
    has a shape not known at trace time."""
    concrete = tf.function(fn).get_concrete_function(*input_specs)
    return graph_flops(concrete.graph)


def graph_flops(graph):
    """FLOPs of the ops of a `tf.Graph`, descending into function calls."""
    total = 0
    for op in graph.get_operations():
        if op.type in _CALL_OPS:
            total += graph_flops(_called_graph(op))
        else:
            total += op_flops(op)
    return total


def _called_graph(op):
    name = op.get_attr("f").name
    graph = op.graph
    while graph is not None:
        function = graph._get_function(name)
        if function is not None:
            return function.graph
        graph = getattr(graph, "outer_graph", None)
    raise ValueError(f"Op {op.name!r} calls {name!r}, which is not traced.")


def op_flops(op):
    """2 × output elements × contraction length for a counted op, else 0."""
    depth = _CONTRACTIONS.get(op.type)
    if depth is None:
        return 0
    shapes = [t.shape for t in (*op.inputs, *op.outputs)]
    if not all(shape.is_fully_defined() for shape in shapes):
        raise ValueError(
            f"Counting FLOPs needs static shapes; {op.type} op {op.name!r} "
            f"has shapes {[s.as_list() for s in shapes]}."
        )
    inputs = [t.shape.as_list() for t in op.inputs]
    output = op.outputs[0].shape.as_list()
    return 2 * math.prod(output) * depth(op, inputs)


def _matmul_depth(op, inputs):
    return inputs[0][0 if op.get_attr("transpose_a") else 1]


def _batch_matmul_depth(op, inputs):
    return inputs[0][-2 if op.get_attr("adj_x") else -1]


def _conv_depth(op, inputs):
    height, width, channels = inputs[1][:3]  # The HWIO filter.
    return height * width * channels


def _depthwise_depth(op, inputs):
    height, width = inputs[1][:2]  # Each output sees one input channel.
    return height * width


def _einsum_depth(op, inputs):
    """The product of the contracted labels' sizes; 0 for one operand (a
    transpose or a sum, no products)."""
    equation = op.get_attr("equation")
    if isinstance(equation, bytes):
        equation = equation.decode()
    terms, _, result = equation.replace(" ", "").partition("->")
    terms = terms.split(",")
    if len(terms) != 2:
        return 0
    if "..." not in result and any("..." in t for t in terms):
        raise ValueError(
            f"Einsum op {op.name!r} sums over its ellipsis ({equation!r}); "
            "its FLOPs are not counted."
        )
    sizes = {}
    for term, shape in zip(terms, inputs, strict=True):
        head, _, tail = term.partition("...")
        first, last = shape[: len(head)], shape[len(shape) - len(tail) :]
        labelled = list(zip(head, first, strict=True))
        labelled += list(zip(tail, last, strict=True))
        for label, size in labelled:
            sizes[label] = max(size, sizes.get(label, 1))
    return math.prod(v for k, v in sizes.items() if k not in result)


_CONTRACTIONS = {
    "MatMul": _matmul_depth,
    "BatchMatMul": _batch_matmul_depth,
    "BatchMatMulV2": _batch_matmul_depth,
    "BatchMatMulV3": _batch_matmul_depth,
    "Conv2D": _conv_depth,
    "DepthwiseConv2dNative": _depthwise_depth,
    "Einsum": _einsum_depth,
}
