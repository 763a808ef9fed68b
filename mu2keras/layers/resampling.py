"""1-D resampling matrices for resizing position-embedding grids.

A square grid is resized separably: `W @ grid @ W.T` per channel, with `W`
of shape `(new_size, old_size)`. Each row holds the weights that one new
sample gives the old samples. Two kernels, each exactly its source model's:

* "bilinear": vit_jax's `interpolate_posembed` (`scipy.ndimage.zoom`,
  order 1): linear, the corner samples aligned.
* "bicubic": torch's `interpolate(mode="bicubic", align_corners=False)`
  with an output size, which DINOv2 uses (the ONNX `Resize` of cubic mode,
  `half_pixel`, coefficient -0.75): Keys' cubic with a = -0.75, half-pixel
  centres, taps beyond the border clamped to the edge, no antialiasing.
  TensorFlow's bicubic resize uses a = -0.5, so it is not used.
"""

import numpy as np

INTERPOLATIONS = ("bilinear", "bicubic")
_CUBIC_A = -0.75


def resampling_matrix(old_size, new_size, interpolation):
    """Returns the `(new_size, old_size)` matrix of a 1-D resize."""
    if interpolation == "bilinear":
        return _linear_matrix(old_size, new_size)
    if interpolation == "bicubic":
        return _cubic_matrix(old_size, new_size)
    raise ValueError(
        f"Unknown interpolation {interpolation!r}; known: {INTERPOLATIONS}."
    )


def _linear_matrix(old_size, new_size):
    if new_size == 1 or old_size == 1:
        coords = np.zeros(new_size)
    else:
        coords = np.arange(new_size) * (old_size - 1) / (new_size - 1)
    low = np.clip(np.floor(coords).astype(int), 0, old_size - 1)
    high = np.minimum(low + 1, old_size - 1)
    frac = coords - low
    matrix = np.zeros((new_size, old_size))
    rows = np.arange(new_size)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def _cubic_weights(t):
    """Keys' cubic convolution weights of the 4 taps around `t` in [0, 1)."""
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def _cubic_matrix(old_size, new_size):
    # Half-pixel source coordinates, not clamped at 0 (torch's cubic rule).
    coords = (np.arange(new_size) + 0.5) * (old_size / new_size) - 0.5
    base = np.floor(coords).astype(int)
    weights = _cubic_weights(coords - base)
    matrix = np.zeros((new_size, old_size))
    rows = np.arange(new_size)
    for tap in range(4):
        index = np.clip(base - 1 + tap, 0, old_size - 1)
        np.add.at(matrix, (rows, index), weights[:, tap])
    return matrix
