"""Checks and conversions for user-supplied images and labels.

Every task hands out uint8 images with 1 or 3 channels and int64 labels in
`[0, num_classes)`; these helpers turn what users pass into that form, or
raise a ValueError that shows the offending value.
"""

import numpy as np


def to_uint8_images(images, where, value_range=None):
    """Checks a stack of images and returns it as uint8 `[N, H, W, C]`.

    Args:
        images: array-like. `[N, H, W]` (grey) or `[N, H, W, C]` with C in
            {1, 3}. uint8, another integer type with values in [0, 255], or
            floating point together with `value_range`.
        where: str. Names the input in error messages.
        value_range: tuple `(low, high)` or None. Required for floating point
            images: `low` maps to 0 and `high` to 255.

    Returns:
        A uint8 numpy array of rank 4.
    """
    try:
        images = np.asarray(images)
    except ValueError as e:
        raise ValueError(
            f"{where}: images must all have the same shape to form one array "
            f"(use `from_datasets` for images of mixed sizes): {e}"
        ) from e
    if images.dtype == object:
        raise ValueError(
            f"{where}: images must all have the same shape to form one array "
            "(use `from_datasets` for images of mixed sizes)."
        )
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4:
        raise ValueError(
            f"{where}: images must have shape [N, H, W] or [N, H, W, C]; got "
            f"shape {images.shape} (rank {images.ndim})."
        )
    check_image_shape(images.shape[1:], where)
    if images.shape[0] == 0:
        raise ValueError(f"{where}: no images (shape {images.shape}).")
    return _to_uint8(images, where, value_range)


def check_image_shape(shape, where):
    """Raises a ValueError unless `shape` is `[H, W, C]` with C in {1, 3}.

    Args:
        shape: tuple. The shape of one image; H and W may be None.
        where: str. Names the input in error messages.
    """
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(
            f"{where}: each image must have shape [H, W, C]; got {shape} "
            f"(rank {len(shape)})."
        )
    if shape[-1] not in (1, 3):
        raise ValueError(
            f"{where}: images must have 1 (grey) or 3 (RGB) channels; got "
            f"shape {shape} with {shape[-1]} channels."
        )
    if any(d is not None and d < 1 for d in shape[:2]):
        raise ValueError(f"{where}: empty image shape {shape}.")


def _to_uint8(images, where, value_range):
    if images.dtype == np.uint8:
        return images
    if images.dtype == np.bool_:
        raise ValueError(f"{where}: boolean images are not supported.")
    if np.issubdtype(images.dtype, np.integer):
        low, high = int(images.min()), int(images.max())
        if low < 0 or high > 255:
            raise ValueError(
                f"{where}: integer images must lie in [0, 255]; got values in "
                f"[{low}, {high}]."
            )
        return images.astype(np.uint8)
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{where}: unsupported image dtype {images.dtype}.")
    _check_no_nan(images, where)
    if value_range is None:
        raise ValueError(
            f"{where}: {images.dtype} images need `value_range=(low, high)`, "
            "e.g. (0, 1) or (0, 255), to be mapped to uint8."
        )
    low, high = parse_value_range(value_range)
    found = (float(images.min()), float(images.max()))
    if found[0] < low or found[1] > high or not np.all(np.isfinite(found)):
        raise ValueError(
            f"{where}: image values {found} fall outside value_range "
            f"{value_range}."
        )
    scaled = np.round((images - low) / (high - low) * 255.0)
    return scaled.astype(np.uint8)


def _check_no_nan(images, where):
    nan = np.isnan(images)
    if nan.any():
        per_image = nan.reshape(len(images), -1).any(axis=1)
        raise ValueError(
            f"{where}: images hold {int(nan.sum())} NaN values, in "
            f"{int(per_image.sum())} of {len(images)} images (the first: "
            f"image {int(np.argmax(per_image))})."
        )


def parse_value_range(value_range):
    """Returns `(low, high)` floats, or raises unless `low < high`."""
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"`value_range` must be a pair (low, high); got {value_range!r}."
        ) from e
    if not high > low:
        raise ValueError(
            f"`value_range` must have low < high; got {value_range!r}."
        )
    return low, high


def to_int64_labels(labels, num_images, where):
    """Checks integer class ids and returns them as int64 `[N]`.

    Args:
        labels: array-like. `[N]` or `[N, 1]` integer class ids.
        num_images: int. N, the number of images they label.
        where: str. Names the input in error messages.

    Returns:
        An int64 numpy array of rank 1.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(
            f"{where}: labels must be integer class ids of shape [N] (not "
            f"one-hot); got shape {labels.shape}."
        )
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{where}: labels must be integers; got dtype {labels.dtype}."
        )
    if labels.size and labels.min() < 0:
        shown = sorted(set(labels[labels < 0].tolist()))[:5]
        raise ValueError(
            f"{where}: labels must be class ids >= 0; got e.g. {shown}."
        )
    if len(labels) != num_images:
        raise ValueError(
            f"{where}: got {len(labels)} labels for {num_images} images; "
            "the counts must match."
        )
    return labels.astype(np.int64)


def check_label_range(labels, num_classes, where):
    """Raises a ValueError unless every label lies in `[0, num_classes)`.

    Args:
        labels: int numpy array.
        num_classes: int.
        where: str. Names the input in error messages.
    """
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        shown = sorted(set(bad.tolist()))[:5]
        raise ValueError(
            f"{where}: labels must lie in [0, {num_classes}); got "
            f"{bad.size} out of range, e.g. {shown}."
        )
