"""The input pipeline (spec §5.3) and its sizing rules (spec §2.7)."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from mu2keras.tasks import augmentation
from mu2keras.tasks import foolbox_samples
from mu2keras.tasks import from_arrays
from mu2keras.tasks import from_datasets
from mu2keras.tasks import pipeline
from mu2keras.tasks.pipeline import DataHparams

OFF = DataHparams(ds_image_size=16, ds_crop=False, ds_flip_left_right=False)


def _gradient_image(height=12, width=10, channels=3):
    """An image that changes along both axes and across channels."""
    y, x, c = np.meshgrid(
        np.arange(height), np.arange(width), np.arange(channels), indexing="ij"
    )
    return tf.constant((y * 13 + x * 7 + c * 50) % 256, tf.uint8)


def _seed(i):
    return tf.constant([5, i], tf.int64)


def _take(ds, count):
    return [tuple(t.numpy() for t in batch) for batch in ds.take(count)]


def test_to_float_rgb_scales_and_tiles():
    grey = tf.constant([[[0], [255]], [[51], [204]]], tf.uint8)
    out = pipeline.to_float_rgb(grey).numpy()
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], [[-1, 1], [-0.6, 0.6]], atol=1e-6)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    with pytest.raises(ValueError, match=r"1 or 3 channels.*\(2, 2, 4\)"):
        pipeline.to_float_rgb(tf.zeros([2, 2, 4], tf.uint8))


def test_eval_preprocessing_range_shape_dtype():
    out = pipeline.preprocess_eval(_gradient_image(), 24).numpy()
    assert out.shape == (24, 24, 3) and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0
    flat = pipeline.preprocess_eval(tf.fill([5, 7, 1], tf.uint8.max), 4)
    np.testing.assert_array_equal(flat.numpy(), np.ones([4, 4, 3]))


def test_augmentation_off_equals_eval():
    image = _gradient_image()
    expected = pipeline.preprocess_eval(image, 16).numpy()
    crop_needs_area_below_1 = dataclasses.replace(
        OFF, ds_crop=True, ds_area_range_min=1.0
    )
    for hparams in (OFF, crop_needs_area_below_1, OFF.to_dict()):
        for i in range(5):
            out = pipeline.preprocess_train(image, hparams, _seed(i))
            np.testing.assert_array_equal(out.numpy(), expected)


def test_flip_only_mirrors_or_keeps():
    image = _gradient_image()
    plain = pipeline.preprocess_eval(image, 16).numpy()
    mirrored = plain[:, ::-1]
    flip = dataclasses.replace(OFF, ds_flip_left_right=True)
    outcomes = []
    for i in range(16):
        out = pipeline.preprocess_train(image, flip, _seed(i)).numpy()
        if np.array_equal(out, plain):
            outcomes.append("kept")
        else:
            np.testing.assert_array_equal(out, mirrored)
            outcomes.append("mirrored")
    assert set(outcomes) == {"kept", "mirrored"}


def test_crop_changes_the_view_within_range():
    image = _gradient_image(40, 40)
    plain = pipeline.preprocess_eval(image, 16).numpy()
    crop = dataclasses.replace(OFF, ds_crop=True, ds_area_range_min=0.05)
    outs = [
        pipeline.preprocess_train(image, crop, _seed(i)).numpy()
        for i in range(6)
    ]
    assert all(o.shape == (16, 16, 3) for o in outs)
    assert all(o.min() >= -1 and o.max() <= 1 for o in outs)
    assert sum(not np.allclose(o, plain, atol=0.01) for o in outs) >= 5
    again = pipeline.preprocess_train(image, crop, _seed(0)).numpy()
    np.testing.assert_array_equal(again, outs[0])  # Stateless: same seed.


def test_brightness_shift_is_bounded():
    image = tf.fill([8, 8, 3], tf.constant(128, tf.uint8))
    plain = pipeline.preprocess_eval(image, 8).numpy()
    bright = dataclasses.replace(OFF, ds_image_size=8, ds_brightness_delta=0.2)
    shifts = []
    for i in range(8):
        out = pipeline.preprocess_train(image, bright, _seed(i)).numpy()
        shift = out - plain
        np.testing.assert_allclose(shift, shift.flat[0], atol=1e-6)
        shifts.append(shift.flat[0])
    assert max(abs(s) for s in shifts) <= 0.2 + 1e-6
    assert len(set(np.round(shifts, 6))) > 1


def test_saturation_and_hue_leave_grey_grey():
    image = tf.fill([6, 6, 1], tf.constant(90, tf.uint8))
    plain = pipeline.preprocess_eval(image, 6).numpy()
    hparams = dataclasses.replace(
        OFF, ds_image_size=6, ds_saturation_delta=0.5, ds_hue_delta=0.2
    )
    out = pipeline.preprocess_train(image, hparams, _seed(1)).numpy()
    np.testing.assert_allclose(out, plain, atol=1e-5)
    colour = pipeline.preprocess_train(_gradient_image(), hparams, _seed(1))
    assert colour.numpy().min() >= -1 and colour.numpy().max() <= 1


def test_train_batches_shape_dtype_and_determinism(small_task):
    hparams = DataHparams(ds_image_size=12)
    ds = pipeline.train_dataset(small_task, hparams, batch_size=8, seed=3)
    images_spec, labels_spec = ds.element_spec
    assert images_spec.shape == (8, 12, 12, 3)  # Static for XLA.
    assert images_spec.dtype == tf.float32 and labels_spec.dtype == tf.int64
    first = _take(ds, 7)  # More than an epoch (48 examples).
    for images, labels in first:
        assert images.min() >= -1.0 and images.max() <= 1.0
        assert set(labels.tolist()) <= {0, 1, 2}
    same = pipeline.train_dataset(small_task, hparams, batch_size=8, seed=3)
    other = pipeline.train_dataset(small_task, hparams, batch_size=8, seed=4)
    for a, b in zip(first, _take(same, 7), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(first[0][0], _take(other, 1)[0][0])


def test_generations_share_one_traced_augmentation():
    # Every generation makes a dataset: tracing its augmentation each time
    # cost 0.1 s. Ranges and seed are inputs: the streams still differ.
    # (Other tests' images of other shapes add traces of the same function.)
    pipeline._batch_augmentation.cache_clear()
    images = np.stack([_gradient_image(12, 12).numpy()] * 16)
    task = from_arrays("gradients", images, np.arange(16) % 2, seed=0)
    firsts = []
    for seed, area in ((5, 0.3), (6, 0.3), (5, 0.6)):
        hparams = DataHparams(ds_image_size=12, ds_area_range_min=area)
        ds = pipeline.train_dataset(task, hparams, 8, seed)
        firsts.append(_take(ds, 1)[0][0])
    assert not np.array_equal(firsts[0], firsts[1])
    assert not np.array_equal(firsts[0], firsts[2])
    augment = pipeline._batch_augmentation(
        augmentation.switches(hparams), 12, 8
    )
    assert augment.experimental_get_tracing_count() == 1


def test_train_epoch_is_an_example_level_permutation(small_task):
    # With augmentation off, each epoch holds every example once, in an
    # order that is shuffled example by example (not in stored order).
    ds = pipeline.train_dataset(small_task, OFF, batch_size=8, seed=0)
    batches = _take(ds, 12)  # Two epochs of 48.
    train = small_task.dataset("train")
    stored = [
        pipeline.preprocess_eval(im, 16).numpy()[0, 0, 0] for im, _ in train
    ]
    stored_labels = [int(y) for _, y in train]
    for epoch in (batches[:6], batches[6:]):
        seen = np.concatenate([images[:, 0, 0, 0] for images, _ in epoch])
        labels = np.concatenate([labels for _, labels in epoch])
        assert sorted(
            zip(seen.tolist(), labels.tolist(), strict=True)
        ) == sorted(zip(stored, stored_labels, strict=True))
        assert seen.tolist() != stored
    first, second = (
        np.concatenate([im[:, 0, 0, 0] for im, _ in e])
        for e in (batches[:6], batches[6:])
    )
    assert first.tolist() != second.tolist()  # Reshuffled every epoch.


def test_every_iterator_reads_the_same_stream(small_task):
    # The engine opens one iterator per candidate trained one by one, and
    # drops it early: each must read what a fused group reads (spec §6.1).
    ds = pipeline.train_dataset(small_task, OFF, batch_size=8, seed=0)
    first = _take(ds, 9)  # An epoch and a half.
    for _ in range(2):
        again = _take(ds, 9)
        for a, b in zip(first, again, strict=True):
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])


def test_small_train_split_is_read_once(make_images):
    images, labels = make_images(6, 2)
    reads = []

    def gen():
        reads.append(1)
        yield from zip(images, labels, strict=True)

    spec = (
        tf.TensorSpec([8, 8, 1], tf.uint8),
        tf.TensorSpec([], tf.int64),
    )
    train = tf.data.Dataset.from_generator(gen, output_signature=spec)
    other = tf.data.Dataset.from_tensor_slices((images, labels))
    task = from_datasets("counted", train, validation=other, test=other)
    assert len(reads) == 1  # from_datasets reads the labels once.
    for cache, fewest_reads in ((None, 1), (False, 3)):
        del reads[:]
        ds = pipeline.train_dataset(task, OFF, 4, seed=0, cache=cache)
        _take(ds, 9)  # Three epochs of 12 examples.
        if cache is None:  # 12 examples: the §2.7 rule caches them.
            assert len(reads) == 1
        else:
            assert len(reads) >= fewest_reads


def test_should_cache_train():
    # Spec §2.7: n < min(100,000, N_e * N_v * batch).
    assert pipeline.should_cache_train(4_000, 512, num_steps=8 * 4)
    assert not pipeline.should_cache_train(4_000, 512, num_steps=7)
    assert pipeline.should_cache_train(99_999, 512, num_steps=500)
    assert not pipeline.should_cache_train(100_000, 512, num_steps=500)
    assert not pipeline.should_cache_train(1_281_167, 64)


@pytest.mark.parametrize(
    "n, batch, max_examples, expected",
    [
        (30, 8, 100, (4, 7)),  # ceil(30/8) = 4 batches of floor(30/4) = 7.
        (1_000, 512, 5_120, (2, 500)),  # cmaterdb/bangla at batch 512.
        (10_000, 64, 10_000, (156, 64)),  # ViT-L: 156 x 64 = 9,984.
        (50_000, 256, 5_120, (20, 256)),  # Base VDD: 20 batches.
        (5_120, 512, 5_120, (10, 512)),
    ],
)
def test_validation_sizes(n, batch, max_examples, expected):
    assert pipeline.validation_sizes(n, batch, max_examples) == expected


def test_validation_sizes_errors():
    with pytest.raises(ValueError, match=r"`max_examples` \(100\) must be"):
        pipeline.validation_sizes(1_000, 512, 100)
    with pytest.raises(ValueError, match="validation split is empty"):
        pipeline.validation_sizes(0, 8, 100)


def test_validation_batches_are_fixed(small_task):
    data = pipeline.validation_dataset(
        small_task, image_size=10, batch_size=4, max_examples=100
    )
    # 6 validation examples: ceil(6/4) = 2 batches of 3.
    assert (data.num_batches, data.batch_size, data.num_examples) == (2, 3, 6)
    first, second = _take(data.dataset, 10), _take(data.dataset, 10)
    assert len(first) == 2
    for a, b in zip(first, second, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    labels = np.concatenate([batch[1] for batch in first])
    expected = [int(y) for _, y in small_task.dataset("validation")]
    assert labels.tolist() == expected  # Stored order, no shuffle.
    assert np.concatenate([batch[2] for batch in first]).tolist() == [1.0] * 6


def test_validation_takes_a_subset_when_large(small_task):
    data = pipeline.validation_dataset(
        small_task, image_size=10, batch_size=2, max_examples=5
    )
    assert (data.num_batches, data.batch_size, data.num_examples) == (2, 2, 4)
    assert len(_take(data.dataset, 10)) == 2


def test_test_dataset_pads_and_weights_every_example(small_task):
    data = pipeline.test_dataset(small_task, image_size=10, batch_size=4)
    assert (data.num_batches, data.batch_size, data.num_examples) == (2, 4, 6)
    assert data.dataset.element_spec[0].shape == (4, 10, 10, 3)
    batches = _take(data.dataset, 10)
    assert len(batches) == 2
    weights = np.concatenate([b[2] for b in batches])
    assert weights.tolist() == [1, 1, 1, 1, 1, 1, 0, 0]
    labels = np.concatenate([b[1] for b in batches])[:6]
    assert labels.tolist() == [int(y) for _, y in small_task.dataset("test")]
    np.testing.assert_array_equal(batches[1][0][2:], 0.0)


def test_real_rgb_images_of_mixed_sizes():
    images, labels = foolbox_samples("imagenet")

    def gen():
        yield from zip(images, labels, strict=True)

    spec = (
        tf.TensorSpec([None, None, 3], tf.uint8),
        tf.TensorSpec([], tf.int64),
    )
    ds = tf.data.Dataset.from_generator(gen, output_signature=spec)
    task = from_datasets("imagenet_samples", ds, ds, ds, num_classes=1000)
    data = pipeline.test_dataset(task, image_size=32, batch_size=8)
    batches = _take(data.dataset, 10)
    assert [b[0].shape for b in batches] == [(8, 32, 32, 3)] * 3
    assert sum(b[2].sum() for b in batches) == 20
    real = np.concatenate([b[0] for b in batches])[:20]
    assert real.min() >= -1 and real.max() <= 1 and real.std() > 0.1


def test_distributed_train_dataset(small_task):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    ds = pipeline.train_dataset(
        small_task, OFF, batch_size=4, seed=0, strategy=strategy
    )
    assert isinstance(ds, tf.distribute.DistributedDataset)
    images, labels = next(iter(ds))
    assert images.shape == (4, 16, 16, 3) and labels.shape == (4,)


def test_data_hparams_defaults_and_dicts():
    assert DataHparams().to_dict() == {
        "ds_image_size": 32,
        "ds_crop": True,
        "ds_area_range_min": 0.05,
        "ds_aspect_ratio_range_min": 0.75,
        "ds_flip_left_right": True,
        "ds_brightness_delta": 0.0,
        "ds_contrast_delta": 0.0,
        "ds_saturation_delta": 0.0,
        "ds_hue_delta": 0.0,
    }
    path_hparams = {**OFF.to_dict(), "opt_lr": 0.01, "num_layers": 3}
    assert DataHparams.from_dict(path_hparams) == OFF
    with pytest.raises(ValueError, match=r"unknown: \['ds_zoom'\]"):
        DataHparams.from_dict({**OFF.to_dict(), "ds_zoom": 1})
    partial = OFF.to_dict()
    del partial["ds_hue_delta"]
    with pytest.raises(ValueError, match=r"missing: \['ds_hue_delta'\]"):
        DataHparams.from_dict(partial)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("ds_image_size", 0, "positive int; got 0"),
        ("ds_image_size", 32.0, "positive int; got 32.0"),
        ("ds_crop", "yes", "bool; got 'yes'"),
        ("ds_area_range_min", 0.0, r"\(0.0, 1.0\]; got 0.0"),
        ("ds_aspect_ratio_range_min", 1.5, r"\(0.0, 1.0\]; got 1.5"),
        ("ds_contrast_delta", 1.0, r"\[0.0, 1.0\); got 1.0"),
        ("ds_hue_delta", 0.6, r"\[0.0, 0.5\]; got 0.6"),
        ("ds_brightness_delta", -0.1, r"got -0.1"),
    ],
)
def test_data_hparams_bad_values(key, value, message):
    with pytest.raises(ValueError, match=message):
        DataHparams(**{key: value})


def test_bad_pipeline_arguments(small_task):
    with pytest.raises(ValueError, match="`batch_size` must be a positive int"):
        pipeline.train_dataset(small_task, OFF, batch_size=0, seed=0)
    with pytest.raises(ValueError, match="`seed` must be a non-negative int"):
        pipeline.train_dataset(small_task, OFF, batch_size=2, seed=-1)
    with pytest.raises(ValueError, match="Expected DataHparams or a dict"):
        pipeline.train_dataset(small_task, [1, 2], batch_size=2, seed=0)
    with pytest.raises(ValueError, match="`split` must be one of"):
        small_task.dataset("val")
