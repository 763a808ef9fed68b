"""Batched training augmentation (spec §5.3) against TensorFlow's own ops."""

import numpy as np
import pytest
import tensorflow as tf

from mu2keras.tasks import augmentation
from mu2keras.tasks import from_datasets
from mu2keras.tasks import pipeline
from mu2keras.tasks.pipeline import DataHparams

BOXES = [[0, 0, 20, 15], [3, 2, 9, 11], [5, 7, 1, 8], [19, 14, 1, 1]]


def _images(shape, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.integers(0, 256, shape), tf.uint8)


def _scaled(images):
    return tf.cast(images, tf.float32) / 127.5 - 1.0


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [6, 32])
@pytest.mark.parametrize("products", [True, False])
def test_crop_and_resize_is_tf_image_resize_of_each_crop(
    channels, size, products, monkeypatch
):
    # Down- and upsampling, boxes of one row or pixel, at the image's edges;
    # by matrix products (small images) and by gathers (large ones).
    if not products:
        monkeypatch.setattr(augmentation, "MATMUL_RESIZE_MAX_SIDE", 8)
    images = _scaled(_images((4, 20, 15, channels)))
    flips = tf.constant([False, True, True, False])
    out = augmentation.crop_and_resize(images, tf.constant(BOXES), size, flips)
    assert out.shape == (4, size, size, channels)
    for i, (top, left, height, width) in enumerate(BOXES):
        crop = images[i, top : top + height, left : left + width]
        expected = tf.image.resize(crop, [size, size]).numpy()
        if flips[i]:
            expected = expected[:, ::-1]
        np.testing.assert_allclose(out[i], expected, rtol=0, atol=2e-6)


def test_images_of_unknown_size_are_resized_by_gathers():
    # One image at a time (tasks whose images differ in size): the gather
    # path, the matrix products' values.
    images = _scaled(_images((4, 20, 15, 3)))
    boxes, flips = tf.constant(BOXES), tf.constant([True, False] * 2)
    expected = augmentation.crop_and_resize(images, boxes, 16, flips)
    spec = tf.TensorSpec((4, None, None, 3))
    traced = tf.function(
        lambda x: augmentation.crop_and_resize(x, boxes, 16, flips),
        input_signature=[spec],
    )
    graph = traced.get_concrete_function().graph
    kinds = {op.type for op in graph.get_operations()}
    assert "GatherV2" in kinds and "Einsum" not in kinds
    np.testing.assert_allclose(traced(images), expected, rtol=0, atol=2e-6)


def _reference_boxes(count, shape, area_min, ratio_min):
    """`count` draws of `tf.image.stateless_sample_distorted_bounding_box`."""
    boxes = []
    for i in range(count):
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            shape,
            bounding_boxes=tf.zeros([0, 0, 4], tf.float32),
            seed=[7, i],
            min_object_covered=0.0,
            aspect_ratio_range=[ratio_min, 1.0 / ratio_min],
            area_range=[area_min, 1.0],
            use_image_if_no_bounding_boxes=True,
        )
        boxes.append([begin[0], begin[1], size[0], size[1]])
    return np.array(boxes)


def _total_variation(a, b, length):
    pa = np.bincount(a, minlength=length + 1) / len(a)
    pb = np.bincount(b, minlength=length + 1) / len(b)
    return 0.5 * np.abs(pa - pb).sum()


@pytest.mark.parametrize(
    "height, width, area_min, ratio_min",
    [(28, 28, 0.05, 0.75), (12, 40, 0.5, 0.25), (6, 6, 0.01, 1.0)],
)
def test_crop_boxes_are_drawn_as_sample_distorted_bounding_box(
    height, width, area_min, ratio_min
):
    ours = augmentation.sample_crop_boxes(
        tf.constant([3, 4], tf.int64),
        tf.fill([20000], height),
        tf.fill([20000], width),
        area_min,
        ratio_min,
    ).numpy()
    top, left, h, w = ours.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    assert (h * w >= area_min * height * width - 1e-3).all()
    reference = _reference_boxes(3000, [height, width, 3], area_min, ratio_min)
    # The same distribution: each coordinate's histogram (TensorFlow's
    # draws are a sample of 3,000, so about 0.03 of this is noise).
    for k, length in enumerate((height, width, height, width)):
        distance = _total_variation(ours[:, k], reference[:, k], length)
        assert distance < 0.06, (k, distance)


def test_brightness_and_contrast_follow_the_reference_order():
    # The reference: crop, flip, brightness, contrast (around the crop's
    # means), then resize and clip, one image at a time.
    images = _images((4, 20, 15, 3), seed=1)
    boxes = tf.constant(BOXES)
    flips = tf.constant([True, False, True, False])
    brightness = tf.constant([0.1, -0.2, 0.0, 0.05])
    contrast = tf.constant([1.2, 0.8, 1.1, 0.9])
    jitter = [brightness, contrast, None, None]
    out = augmentation.apply(images, boxes, flips, jitter, 16).numpy()
    for i, (top, left, height, width) in enumerate(BOXES):
        x = _scaled(images[i, top : top + height, left : left + width])
        x = tf.reverse(x, [1]) if flips[i] else x
        x = tf.image.adjust_brightness(x, brightness[i])
        x = tf.image.adjust_contrast(x, contrast[i])
        x = tf.clip_by_value(tf.image.resize(x, [16, 16]), -1, 1)
        np.testing.assert_allclose(out[i], x, rtol=0, atol=1e-5)


def test_saturation_and_hue_take_each_image_its_own_factor():
    images = _images((3, 8, 8, 3), seed=2)
    whole = tf.constant([[0, 0, 8, 8]] * 3)
    saturation = tf.constant([0.5, 1.0, 1.5])
    hue = tf.constant([0.1, -0.2, 0.0])
    jitter = [None, None, saturation, hue]
    out = augmentation.apply(images, whole, None, jitter, 8).numpy()
    for i in range(3):
        x = (tf.image.resize(_scaled(images[i]), [8, 8]) + 1) / 2
        x = tf.image.adjust_saturation(tf.clip_by_value(x, 0, 1), saturation[i])
        x = tf.image.adjust_hue(x, hue[i]) * 2 - 1
        np.testing.assert_allclose(out[i], x, rtol=0, atol=1e-5)
    grey = tf.fill([2, 5, 5, 1], tf.constant(90, tf.uint8))
    plain = pipeline.preprocess_eval(grey[0], 5).numpy()
    out = augmentation.apply(grey, None, None, jitter[:2] + [hue[:2]] * 2, 5)
    np.testing.assert_allclose(out[0], plain, atol=1e-5)
    np.testing.assert_allclose(out[1], plain, atol=1e-5)


def test_grey_images_skip_hsv_and_get_the_round_trips_values():
    # Grey pixels have saturation 0: the round trip through HSV that RGB
    # images take gives grey ones their values back, so they skip it.
    grey = _images((4, 9, 9, 1), seed=3)
    boxes = tf.constant(
        [[0, 0, 9, 9], [1, 2, 5, 6], [3, 3, 1, 4], [8, 8, 1, 1]]
    )
    rng = np.random.default_rng(4)
    jitter = [tf.constant(rng.uniform(0.5, 1.5, 4), tf.float32)] * 4
    out = augmentation.apply(grey, boxes, None, jitter, 12)
    tiled = augmentation.apply(
        tf.tile(grey, [1, 1, 1, 3]), boxes, None, jitter, 12
    )
    np.testing.assert_allclose(out, tiled, rtol=0, atol=1e-6)
    assert float(tf.reduce_max(tf.abs(out))) > 0.5

    def ops(images):
        traced = tf.function(augmentation.apply).get_concrete_function(
            images, boxes, None, jitter, 12
        )
        return {op.type for op in traced.graph.get_operations()}

    assert "RGBToHSV" in ops(tf.tile(grey, [1, 1, 1, 3]))
    assert "RGBToHSV" not in ops(grey)


def _indexed_task(sizes):
    # Image i is filled with i and labelled i: batches show their order.
    def examples():
        for i, (height, width) in enumerate(sizes):
            yield np.full((height, width, 1), i, np.uint8), i

    shape = (None, None, 1) if len(set(sizes)) > 1 else sizes[0] + (1,)
    spec = (tf.TensorSpec(shape, tf.uint8), tf.TensorSpec([], tf.int64))
    train = tf.data.Dataset.from_generator(examples, output_signature=spec)
    return from_datasets("indexed", train, validation=train, test=train)


@pytest.mark.parametrize("varied", [False, True])
def test_each_batch_is_keyed_by_the_seed_and_its_position(varied):
    # One static shape: whole batches, keyed by their first example's
    # position; varied sizes: image by image, keyed by their own.
    sizes = [(12 + 4 * (varied and i % 3), 12) for i in range(24)]
    task = _indexed_task(sizes)
    hp = DataHparams(ds_image_size=8, ds_brightness_delta=0.3)
    ds = pipeline.train_dataset(task, hp, batch_size=8, seed=5)
    assert ds.element_spec[0].shape == (8, 8, 8, 3)
    for number, (images, labels) in enumerate(ds.take(4)):
        raw = [np.full(sizes[i] + (1,), i, np.uint8) for i in labels.numpy()]
        position = number * 8
        if varied:
            expected = [
                pipeline.preprocess_train(
                    x, hp, tf.constant([5, position + k], tf.int64)
                )
                for k, x in enumerate(raw)
            ]
        else:
            key = tf.constant([5, position], tf.int64)
            expected = augmentation.augment(tf.stack(raw), key, hp)
        np.testing.assert_array_equal(images, np.stack(expected))
