import numpy as np
import pytest
import scipy.ndimage

from mu2keras import layers


def random_posemb(grid, width=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(1, grid * grid + 1, width)).astype("float32")


# 14 -> 24 is ViT-L/16 from 224 to 384 px; 24 -> 14 the reverse; 7 -> 12 and
# 5 -> 3 are non-integer ratios.
@pytest.mark.parametrize(
    "old, new", [(2, 4), (14, 24), (24, 14), (7, 12), (5, 3)]
)
def test_resize_matches_vit_jax_interpolation(old, new):
    posemb = random_posemb(old)
    resized = layers.resize_position_embedding(posemb, new)
    assert resized.shape == (1, new * new + 1, 6)
    assert resized.dtype == posemb.dtype
    # The class-token entry is kept apart, unchanged.
    np.testing.assert_array_equal(resized[:, 0], posemb[:, 0])
    # vit_jax's interpolate_posembed: scipy.ndimage.zoom, order 1.
    grid = posemb[0, 1:].reshape(old, old, 6).astype("float64")
    zoom = (new / old, new / old, 1)
    expected = scipy.ndimage.zoom(grid, zoom, order=1)
    np.testing.assert_allclose(
        resized[0, 1:], expected.reshape(new * new, 6), atol=1e-5
    )


def test_same_size_is_a_copy():
    posemb = random_posemb(3)
    resized = layers.resize_position_embedding(posemb, 3)
    np.testing.assert_array_equal(resized, posemb)
    assert resized is not posemb


def test_resized_layer_is_a_new_built_layer():
    layer = layers.PositionEmbedding(2, 6, seed=3, name="posembed_input")
    layer.build((None, 5, 6))
    bigger = layer.resized(4)
    assert bigger is not layer and bigger.name == "posembed_input"
    assert bigger.get_config() == {**layer.get_config(), "grid_size": 4}
    np.testing.assert_allclose(
        bigger.get_weights()[0],
        layers.resize_position_embedding(layer.get_weights()[0], 4),
    )
    assert layer.get_weights()[0].shape == (1, 5, 6)  # Unchanged.


def test_non_square_grids_are_rejected():
    with pytest.raises(ValueError, match="6 patch entries is not a square"):
        layers.resize_position_embedding(np.zeros((1, 7, 4)), 3)
    with pytest.raises(ValueError, match=r"\(1, tokens, width\); got \(7, 4\)"):
        layers.resize_position_embedding(np.zeros((7, 4)), 3)
