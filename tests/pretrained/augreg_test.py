import io

import keras_hub
import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from mu2keras import architecture
from mu2keras.pretrained import augreg
from tests.pretrained import reference_vit

# The "testing" variant: patch 4, width 16, 2 heads, MLP 32, 2 blocks.
TESTING = dict(patch=4, width=16, heads=2, mlp=32, depth=2)


def write_npz(path, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def features(root, images):
    layers = list(root.components.values())[:-1]  # Up to the encoder norm.
    return np.asarray(architecture.forward(layers, images))[:, 0]


@pytest.fixture
def checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    arrays = reference_vit.augreg_arrays(rng, grid=2, **TESTING)
    path = str(tmp_path / "testing.npz")
    write_npz(path, arrays)
    return path, arrays


def images(size, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (3, size, size, 3)).astype("float32")


def test_loaded_root_computes_the_checkpoint_function(checkpoint):
    path, arrays = checkpoint
    root = augreg.load_augreg_npz(path, "testing", image_size=8)
    x = images(8)
    expected = reference_vit.class_token_features(arrays, x, depth=2)
    np.testing.assert_allclose(features(root, x), expected, atol=1e-5)
    # Weights land exactly; the checkpoint's head is not loaded.
    attention = root.components["encoderblock_1"].attention
    np.testing.assert_array_equal(
        attention.key_dense.kernel,
        arrays[
            "Transformer/encoderblock_1/MultiHeadDotProductAttention_1/"
            "key/kernel"
        ],
    )
    head = root.components["head"]
    assert head.num_classes == 1
    assert not np.any(head.get_weights()[0])


def test_position_embedding_is_resized_to_the_requested_size(checkpoint):
    path, arrays = checkpoint
    root = augreg.load_augreg_npz(path, "testing", image_size=16)
    posemb = arrays["Transformer/posembed_input/pos_embedding"]
    grid = posemb[0, 1:].reshape(2, 2, 16)
    zoomed = scipy.ndimage.zoom(grid, (2, 2, 1), order=1).reshape(1, 16, 16)
    expected_posemb = np.concatenate([posemb[:, :1], zoomed], axis=1)
    loaded = root.components["posembed_input"].get_weights()[0]
    np.testing.assert_allclose(loaded, expected_posemb, atol=1e-6)
    np.testing.assert_array_equal(loaded[:, 0], posemb[:, 0])
    x = images(16)
    expected = reference_vit.class_token_features(
        arrays, x, depth=2, posemb=expected_posemb
    )
    np.testing.assert_allclose(features(root, x), expected, atol=1e-5)


def test_reads_through_gfile_from_ram_filesystem(checkpoint):
    _, arrays = checkpoint
    path = "ram://augreg/testing.npz"
    write_npz(path, arrays)
    root = augreg.load_augreg_npz(path, "testing", image_size=8)
    x = images(8)
    expected = reference_vit.class_token_features(arrays, x, depth=2)
    np.testing.assert_allclose(features(root, x), expected, atol=1e-5)


def test_fewer_layers_loads_the_first_blocks(checkpoint):
    path, arrays = checkpoint
    root = augreg.load_augreg_npz(path, "testing", image_size=8, num_layers=1)
    assert "encoderblock_1" not in root.components
    x = images(8)
    expected = reference_vit.class_token_features(arrays, x, depth=1)
    np.testing.assert_allclose(features(root, x), expected, atol=1e-5)
    with pytest.raises(ValueError, match="num_layers=3, but .* has 2 blocks"):
        augreg.load_augreg_npz(path, "testing", image_size=8, num_layers=3)


def test_missing_key_is_named(checkpoint, tmp_path):
    _, arrays = checkpoint
    key = "Transformer/encoderblock_1/MlpBlock_3/Dense_0/bias"
    del arrays[key]
    path = str(tmp_path / "missing.npz")
    write_npz(path, arrays)
    with pytest.raises(ValueError, match=f"missing keys: \\['{key}'\\]"):
        augreg.load_augreg_npz(path, "testing", image_size=8)


def test_unused_key_is_named(checkpoint, tmp_path):
    _, arrays = checkpoint
    arrays["Transformer/encoderblock_0/extra/scale"] = np.zeros(3)
    path = str(tmp_path / "extra.npz")
    write_npz(path, arrays)
    with pytest.raises(
        ValueError,
        match=r"unused keys: \['Transformer/encoderblock_0/extra/scale'\]",
    ):
        augreg.load_augreg_npz(path, "testing", image_size=8)


def test_shape_mismatch_names_the_key(checkpoint, tmp_path):
    _, arrays = checkpoint
    arrays["cls"] = np.zeros((1, 1, 8), "float32")
    path = str(tmp_path / "narrow.npz")
    write_npz(path, arrays)
    with pytest.raises(ValueError, match=r"cls has shape \(1, 1, 8\)"):
        augreg.load_augreg_npz(path, "testing", image_size=8)


def test_corrupt_and_absent_files_are_named(tmp_path):
    path = str(tmp_path / "broken.npz")
    with open(path, "wb") as f:
        f.write(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="broken.npz is not a readable"):
        augreg.load_augreg_npz(path, "testing")
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        augreg.load_augreg_npz(str(tmp_path / "absent.npz"), "testing")


def test_old_optimizer_nesting_is_unwrapped(checkpoint, tmp_path):
    _, arrays = checkpoint
    nested = {f"opt/target/{k}": v for k, v in arrays.items()}
    path = str(tmp_path / "nested.npz")
    write_npz(path, nested)
    root = augreg.load_augreg_npz(path, "testing", image_size=8)
    x = images(8)
    expected = reference_vit.class_token_features(arrays, x, depth=2)
    np.testing.assert_allclose(features(root, x), expected, atol=1e-5)


def test_named_checkpoints_table():
    names = augreg.AUGREG_CHECKPOINTS
    # The three roots µ2Net used (spec §1.3).
    assert names["augreg_ti16_i21k_light1_wd0.1_sd0"] == (
        "Ti/16",
        "Ti_16-i21k-300ep-lr_0.001-aug_light1-wd_0.1-do_0.0-sd_0.0.npz",
    )
    assert names["augreg_b16_i21k_medium1_wd0.1_sd0"] == (
        "B/16",
        "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz",
    )
    assert names["augreg_l16_i21k_medium2_wd0.03_sd0.1"] == (
        "L/16",
        "L_16-i21k-300ep-lr_0.001-aug_medium2-wd_0.03-do_0.1-sd_0.1.npz",
    )
    for variant, filename in names.values():
        assert variant in architecture.VIT_VARIANTS
        assert filename.startswith(variant.replace("/", "_") + "-i21k-300ep")
    # No name can be mistaken for a keras-hub preset.
    presets = set(keras_hub.models.ViTBackbone.presets)
    assert presets and not presets & set(names)
    assert all(name.startswith("augreg_") for name in names)


def test_named_checkpoint_loads_from_a_directory(tmp_path):
    name = "augreg_ti16_i21k_light1_wd0.1_sd0"
    _, filename = augreg.AUGREG_CHECKPOINTS[name]
    arrays = reference_vit.augreg_arrays(
        np.random.default_rng(2),
        patch=16,
        width=192,
        heads=3,
        mlp=768,
        depth=1,
        grid=14,
    )
    write_npz(str(tmp_path / filename), arrays)
    root = augreg.load_named_checkpoint(
        name, image_size=32, directory=str(tmp_path)
    )
    assert root.variant.name == "Ti/16" and root.image_size == 32
    x = images(32)
    grid = arrays["Transformer/posembed_input/pos_embedding"]
    expected = reference_vit.class_token_features(
        arrays,
        x,
        depth=1,
        posemb=root.components["posembed_input"].get_weights()[0],
    )
    np.testing.assert_allclose(features(root, x), expected, atol=1e-4)
    assert grid.shape == (1, 197, 192)
    with pytest.raises(ValueError, match="Unknown AugReg checkpoint 'vit_l16'"):
        augreg.load_named_checkpoint("vit_l16")
