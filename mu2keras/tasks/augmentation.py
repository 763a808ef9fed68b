"""Training augmentation of a whole batch at once (spec §5.3).

The reference augments image by image in `tf.data`; on a CPU host that
costs more than the ops themselves (about 15 µs per image and `map` call:
17-18 ms of both cores per batch of 512 MNIST images, 7 ms of it for an
identity map; 4-5 ms here). Here every random draw and every op covers
the batch:

1. Inception-style crop boxes, drawn as `sample_distorted_bounding_box`
   draws them (aspect ratio uniform in [r, 1/r], then the height uniform
   between the area bounds' heights, up to 100 attempts, the whole image
   if none fits; `min_object_covered=0`, the image as the object box).
2. Cast, scale to [-1, 1], and each crop resized to S × S by bilinear
   interpolation with half-pixel centres, reading only the crop's pixels:
   `tf.image.resize` of the cut-out crop, up to float rounding (by matrix
   products for small images, by gathers for large ones). Grey images are
   tiled to 3 channels last.
3. The horizontal flip, brightness and contrast (contrast around the
   crop's own channel means), in the reference's order; all three commute
   with the resize exactly, so these are the reference's values up to
   rounding.
4. Saturation and hue, in HSV on [0, 1]: after the resize here, where the
   reference applies them before it. They are not linear, so this is the
   one reordering; on grey images they change nothing either way, and
   are skipped.
5. A clip to [-1, 1].

The randomness is stateless: `key` (int64 `[2]`) decides every draw of
the batch, so a stream keyed by its seed and position repeats exactly.
"""

import tensorflow as tf

from mu2keras.tasks.data_hparams import as_data_hparams

# Images up to this side are resized by matrix products, larger ones by
# gathering pixels (see `crop_and_resize`).
MATMUL_RESIZE_MAX_SIDE = 64
# As `sample_distorted_bounding_box`'s default.
CROP_ATTEMPTS = 100
# Its tolerance when it caps the height of too wide a crop.
_WIDTH_EPS = 1e-7


def augment(images, key, hparams):
    """Augments `images` as one path's training data (spec §5.3).

    Args:
        images: uint8 `[B, H, W, C]`, C in {1, 3}.
        key: int64 `[2]`. Seeds every random draw.
        hparams: `DataHparams` or a path's hyperparameter dict.

    Returns:
        float32 `[B, S, S, 3]` in [-1, 1], S = `ds_image_size`.
    """
    hp = as_data_hparams(hparams)
    return augment_in_ranges(
        images, key, switches(hp), ranges(hp), hp.ds_image_size
    )


def switches(hparams):
    """What shapes the augmentation's graph: (crop, flip, 4 jitters on)."""
    hp = as_data_hparams(hparams)
    crop = bool(hp.ds_crop and hp.ds_area_range_min < 1.0)
    jitter = tuple(bool(delta > 0) for delta in _deltas(hp))
    return crop, bool(hp.ds_flip_left_right), jitter


def ranges(hparams):
    """The draws' ranges, 11 floats: the crop's smallest area, its aspect
    ratio range, and the low and high ends of each jitter's draw.

    Computed in Python (double precision) and given to `augment_in_ranges`
    as floats or as one float32 tensor: the same float32 values either way.
    """
    hp = as_data_hparams(hparams)
    ratio = hp.ds_aspect_ratio_range_min
    values = [hp.ds_area_range_min, ratio, 1.0 / ratio]
    # Shifts around 0, factors around 1.
    for delta, centre in zip(_deltas(hp), (0.0, 1.0, 1.0, 0.0), strict=True):
        values += [centre - delta, centre + delta]
    return values


def augment_in_ranges(images, key, switches, ranges, image_size):
    """`augment` with the hyperparameters split as `switches` (Python) and
    `ranges` (floats or a float32 `[11]` tensor): one traced function then
    serves every value of the ranges."""
    crop, flip, jitter_on = switches
    crop_key, flip_key, *jitter_keys = tf.unstack(
        tf.random.experimental.stateless_split(key, num=6)
    )
    shape = tf.shape(images)
    batch = shape[0]
    boxes = None  # The whole image.
    if crop:
        boxes = sample_crop_boxes(
            crop_key,
            tf.fill([batch], shape[1]),
            tf.fill([batch], shape[2]),
            ranges[0],
            ranges[1],
            ranges[2],
        )
    flips = None
    if flip:
        flips = tf.random.stateless_uniform([batch], flip_key) < 0.5
    # Per image: brightness shift and contrast, saturation and hue factors,
    # or None where the hyperparameter turns them off.
    jitter = [
        tf.random.stateless_uniform(
            [batch], k, ranges[3 + 2 * i], ranges[4 + 2 * i]
        )
        if on
        else None
        for i, (on, k) in enumerate(zip(jitter_on, jitter_keys, strict=True))
    ]
    return apply(images, boxes, flips, jitter, image_size)


def _deltas(hp):
    return (
        hp.ds_brightness_delta,
        hp.ds_contrast_delta,
        hp.ds_saturation_delta,
        hp.ds_hue_delta,
    )


def apply(images, boxes, flips, jitter, image_size):
    """Crops, resizes, flips and colours `images` as drawn.

    Args:
        images: uint8 `[B, H, W, C]`, C in {1, 3}.
        boxes: int32 `[B, 4]`: each crop's top, left, height and width;
            or None: no crop.
        flips: bool `[B]` (mirror the image), or None: no flip.
        jitter: 4 float32 `[B]` tensors or None: brightness shift,
            contrast, saturation and hue factors.
        image_size: int. Output size S.

    Returns:
        float32 `[B, S, S, 3]` in [-1, 1].
    """
    scaled = to_float(images)
    if boxes is None:  # The reference's own resize: the same values.
        out = tf.image.resize(scaled, [image_size, image_size])
        if flips is not None:
            mirrored = tf.reverse(out, [2])
            out = tf.where(flips[:, None, None, None], mirrored, out)
    else:
        out = crop_and_resize(scaled, boxes, image_size, flips)
    brightness, contrast, saturation, hue = jitter
    if brightness is not None:
        out += brightness[:, None, None, None]
    if contrast is not None:
        mean = _crop_means(scaled, boxes)
        if brightness is not None:
            mean += brightness[:, None, None, None]
        out = (out - mean) * contrast[:, None, None, None] + mean
    if saturation is not None or hue is not None:
        grey = out.shape[-1] == 1
        out = _adjust_hsv(to_rgb(out), saturation, hue, grey)
    # Grey images are clipped before they are tiled: a third of the work.
    return to_rgb(tf.clip_by_value(out, -1.0, 1.0))


def to_float(images):
    """uint8 images, C in {1, 3} (static) -> float32 in [-1, 1], same shape
    (spec §5.3 steps 1 and 3)."""
    if images.shape[-1] not in (1, 3):
        raise ValueError(
            f"Images must have 1 or 3 channels (static); got shape "
            f"{images.shape}."
        )
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_rgb(images):
    """Grey images tiled to 3 channels (spec §5.3 step 2); RGB as is."""
    if images.shape[-1] == 3:
        return images
    return tf.tile(images, [1] * (images.shape.rank - 1) + [3])


def _crop_means(images, boxes):
    """Each image's channel means over its crop box: `[B, 1, 1, C]`."""
    if boxes is None:
        return tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    top, left, height, width = tf.unstack(boxes, axis=1)
    shape = tf.shape(images)

    def inside(begin, size, length):
        at = tf.range(length)[None, :]
        return tf.cast(
            (at >= begin[:, None]) & (at < (begin + size)[:, None]),
            images.dtype,
        )

    rows = inside(top, height, shape[1])[:, :, None, None]
    cols = inside(left, width, shape[2])[:, None, :, None]
    total = tf.reduce_sum(images * rows * cols, axis=[1, 2], keepdims=True)
    area = tf.cast(height * width, images.dtype)
    return total / area[:, None, None, None]


def _adjust_hsv(images, saturation, hue, grey):
    # HSV is defined for RGB in [0, 1] only (the reference applies these to
    # [-1, 1] values, where negative intensities make HSV meaningless).
    unit = tf.clip_by_value((images + 1.0) / 2.0, 0.0, 1.0)
    if grey:
        # A grey pixel has saturation 0, so neither factor moves it and the
        # round trip through HSV returns `unit` exactly; it cost 9 ms of a
        # batch of 512 MNIST images (the rest of the augmentation: 5 ms).
        # `images` are tiled already, as before this shortcut, so that
        # graph rewrites round exactly as they did then.
        return unit * 2.0 - 1.0
    hsv = tf.image.rgb_to_hsv(unit)
    h, s, v = tf.unstack(hsv, axis=-1)
    if saturation is not None:
        s = tf.clip_by_value(s * saturation[:, None, None], 0.0, 1.0)
    if hue is not None:
        h = h + hue[:, None, None]
        h -= tf.floor(h)
    rgb = tf.image.hsv_to_rgb(tf.stack([h, s, v], axis=-1))
    return rgb * 2.0 - 1.0


def crop_and_resize(images, boxes, size, flips=None):
    """Each image's crop box resized to `size` × `size`, bilinearly.

    What `tf.image.resize` computes on each cut-out crop (half-pixel
    centres, no antialiasing; sample positions clamped to the crop, so
    pixels outside it are never read), up to float rounding (about 1e-7).
    Small images (sides up to `MATMUL_RESIZE_MAX_SIDE`) are resized by two
    batched matrix products with the interpolation weights, 2.5× faster
    than gathering pixels at 28 px; larger ones, or of unknown size, by
    gathering each output pixel's four sources, whose cost does not grow
    with the source's side.

    Args:
        images: float32 `[B, H, W, C]`.
        boxes: int32 `[B, 4]`: top, left, height, width.
        size: int.
        flips: bool `[B]` or None. Mirror these outputs left to right.

    Returns:
        float32 `[B, size, size, C]`.
    """
    top, left, height, width = tf.unstack(boxes, axis=1)
    rows = _sample_points(top, height, size)
    cols = _sample_points(left, width, size)
    if flips is not None:  # Mirrored columns: the output's, mirrored.
        cols = [tf.where(flips[:, None], tf.reverse(c, [1]), c) for c in cols]
    sides = images.shape[1:3]
    if all(s is not None and s <= MATMUL_RESIZE_MAX_SIDE for s in sides):
        shape = tf.shape(images)
        out = tf.einsum("bsh,bhwc->bswc", _weights(*rows, shape[1]), images)
        return tf.einsum("btw,bswc->bstc", _weights(*cols, shape[2]), out)
    # Along x first, then y: the resize kernel's order of operations.
    low, high, frac = cols
    left_px = tf.gather(images, low, axis=2, batch_dims=1)
    right_px = tf.gather(images, high, axis=2, batch_dims=1)
    out = left_px + (right_px - left_px) * frac[:, None, :, None]
    low, high, frac = rows
    upper = tf.gather(out, low, axis=1, batch_dims=1)
    lower = tf.gather(out, high, axis=1, batch_dims=1)
    return upper + (lower - upper) * frac[:, :, None, None]


def _sample_points(begin, length, size):
    """Source pixels and weights of `size` half-pixel samples of each crop
    `[begin, begin + length)` along one axis: (low, high, frac), `[B,
    size]` each, as the resize kernel computes them within the crop."""
    scale = tf.cast(length, tf.float32) / size
    at = (tf.range(size, dtype=tf.float32) + 0.5) * scale[:, None] - 0.5
    floor = tf.floor(at)
    low = tf.maximum(tf.cast(floor, tf.int32), 0)
    high = tf.minimum(tf.cast(tf.math.ceil(at), tf.int32), length[:, None] - 1)
    return begin[:, None] + low, begin[:, None] + high, at - floor


def _weights(low, high, frac, extent):
    """`[B, size, extent]`: each sample's weights on the source pixels."""
    frac = frac[..., None]
    return tf.one_hot(low, extent) * (1.0 - frac) + (
        tf.one_hot(high, extent) * frac
    )


def sample_crop_boxes(
    key, heights, widths, area_min, ratio_min, ratio_max=None
):
    """Inception-style crop boxes, one per image (spec §5.3).

    The draw of `tf.image.sample_distorted_bounding_box` with the whole
    image as the object box and `min_object_covered=0`, for every image and
    attempt at once: aspect ratio (width / height) uniform in
    [ratio_min, 1 / ratio_min]; the height uniform over the integers
    between those of areas `area_min` and 1 of the image; its rounding
    corrected as the op does; the offset uniform. The first attempt that
    fits wins; the whole image if none of `CROP_ATTEMPTS` does.

    Args:
        key: int64 `[2]`.
        heights, widths: int32 `[B]`. Image sizes.
        area_min: float in (0, 1]. Smallest crop area, as a share.
        ratio_min: float in (0, 1]. Smallest aspect ratio.
        ratio_max: float or None. Largest aspect ratio: 1 / `ratio_min`
            when None.

    Returns:
        int32 `[B, 4]`: top, left, height, width.
    """
    ratio_key, height_key, top_key, left_key = tf.unstack(
        tf.random.experimental.stateless_split(key, num=4)
    )
    shape = [tf.shape(heights)[0], CROP_ATTEMPTS]
    image_h = tf.cast(heights, tf.float32)[:, None]
    image_w = tf.cast(widths, tf.float32)[:, None]
    if ratio_max is None:
        ratio_max = 1.0 / ratio_min
    ratio = tf.random.stateless_uniform(shape, ratio_key, ratio_min, ratio_max)
    min_area = area_min * image_w * image_h
    max_area = image_w * image_h
    height = tf.round(tf.sqrt(min_area / ratio))
    max_height = _height_cap(
        tf.round(tf.sqrt(max_area / ratio)), ratio, image_w
    )
    max_height = tf.minimum(max_height, image_h)
    height = tf.minimum(height, max_height)
    # Uniform over the closed range [height, max_height].
    height += tf.floor(
        tf.random.stateless_uniform(shape, height_key)
        * (max_height - height + 1)
    )
    width = tf.round(height * ratio)
    # The op's corrections of rounding: one row more, then one fewer.
    grow = width * height < min_area
    height = tf.where(grow, height + 1, height)
    width = tf.round(height * ratio)
    shrink = width * height > max_area
    height = tf.where(shrink, height - 1, height)
    width = tf.round(height * ratio)
    area = width * height
    fits = (
        (area >= min_area)
        & (area <= max_area)
        & (width <= image_w)
        & (height <= image_h)
        & (width > 0)
        & (height > 0)
    )
    top = tf.floor(
        tf.random.stateless_uniform(shape, top_key) * (image_h - height)
    )
    left = tf.floor(
        tf.random.stateless_uniform(shape, left_key) * (image_w - width)
    )
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
    drawn = tf.gather(
        tf.stack([top, left, height, width], axis=-1), first, batch_dims=1
    )
    zeros = tf.zeros_like(image_h)
    whole = tf.concat([zeros, zeros, image_h, image_w], axis=1)
    found = tf.reduce_any(fits, axis=1)[:, None]
    return tf.cast(tf.where(found, drawn, whole), tf.int32)


def _height_cap(max_height, ratio, image_w):
    # The op's cap for crops wider than the image: the largest height whose
    # rounded width still fits (one less if float rounding says otherwise).
    # (In double precision, as the op: in float32 the tolerance vanishes.)
    too_wide = tf.round(max_height * ratio) > image_w
    wide = tf.cast(image_w, tf.float64) + 0.5 - _WIDTH_EPS
    capped = tf.cast(tf.floor(wide / tf.cast(ratio, tf.float64)), tf.float32)
    capped = tf.where(tf.round(capped * ratio) > image_w, capped - 1, capped)
    return tf.where(too_wide, capped, max_height)
