"""What the SavedModel's signatures accept, refuse, and compute exactly.

One small exported system (tests/system/systems.py) for the module.
"""

import numpy as np
import pytest
import tensorflow as tf

from mu2keras.storage import export
from mu2keras.tasks import pipeline
from tests.system import systems

RANGE = (
    r"images must be float32 numbers in \[-1, 1\] \(uint8 images in "
    r"\[0, 255\] go to the `\*_uint8` signature of the same name\); got "
    r"min, max and NaN count:\] "
)
# |exported - eager| <= EAGER_BOUND * max(1, max |eager logit|): float32
# rounding of other fused kernels. Measured at most 8e-7 of the largest
# |logit| (this system, a Ti/16 one, the launchers' demo).
EAGER_BOUND = 1e-5


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(population, the loaded SavedModel's signatures)."""
    population, _, _ = systems.two_task_system()
    directory = str(tmp_path_factory.mktemp("serving") / "system")
    export.export_system(population, directory)
    loaded = tf.saved_model.load(directory)
    # The signatures need the loaded object alive.
    return population, loaded.signatures, loaded


def uint8_images(batch, size, channels=3, seed=0):
    """Random uint8 images; the first 256 values are 0, 1, ..., 255."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (batch, size, size, channels), np.uint8)
    flat = images.reshape(-1)
    flat[:256] = np.arange(256)
    return images


def pipeline_floats(images):
    """The input pipeline's float images of uint8 ones (tf.data, as trained)."""
    dataset = tf.data.Dataset.from_tensor_slices(images)
    dataset = dataset.map(pipeline.to_float_rgb).batch(len(images))
    floats = next(iter(dataset)).numpy()
    return floats[..., : images.shape[-1]]  # Grey stays grey.


def test_uint8_signatures_equal_float_ones_on_pipeline_images(served):
    _, serve, _ = served
    for channels in (3, 1):
        images = uint8_images(6, 10, channels)  # A third size: resized.
        floats = pipeline_floats(images)
        # launch.predict's scaling gives the very same floats.
        np.testing.assert_array_equal(
            floats, images.astype(np.float32) / 127.5 - 1.0
        )
        for name in ("task_a", "task_cmaterdb_b"):
            got = serve[name + "_uint8"](images=tf.constant(images))
            want = serve[name](images=tf.constant(floats))
            for key in ("logits", "classes"):
                np.testing.assert_array_equal(got[key], want[key])
        index = tf.constant([1, 0, 0, 1, 0, 1], tf.int32)
        got = serve["routed_uint8"](images=images, task_index=index)
        want = serve["routed"](images=floats, task_index=index)
        for key in ("logits", "classes", "num_classes"):
            np.testing.assert_array_equal(got[key], want[key])


def test_task_names_lists_the_uint8_signatures(served):
    _, serve, _ = served
    info = serve["task_names"]()
    assert [s.decode() for s in info["uint8_signature_names"].numpy()] == [
        "task_a_uint8",
        "task_cmaterdb_b_uint8",
    ]
    assert export.signature_names(["a", "a_uint8"]) == {
        "a": "task_a",
        "a_uint8": "task_a_uint8_2",
    }
    assert export.signature_names(["a_uint8", "a"]) == {
        "a_uint8": "task_a_uint8",
        "a": "task_a_2",
    }


def test_float_signatures_refuse_values_outside_the_range_and_nan(served):
    _, serve, _ = served
    index = tf.constant([0, 1], tf.int32)

    def routed(images):
        return serve["routed"](images=images, task_index=index)

    # A numpy uint8 array is cast to float32 before the graph runs (as
    # saved_model_cli does): the values say what happened.
    raw = uint8_images(2, 8)
    errors = tf.errors.InvalidArgumentError
    for call in (lambda x: serve["task_a"](images=x), routed):
        with pytest.raises(errors, match=RANGE + r"\[0\] \[255\] \[0\]"):
            call(raw)
        nan = np.zeros((2, 8, 8, 3), np.float32)
        nan[0, 0, 0, :2] = [-0.5, 0.25]
        nan[1, 2, 3, 0] = np.nan
        with pytest.raises(errors, match=RANGE + r"\[-0.5\] \[0.25\] \[1\]"):
            call(nan)
        infinite = np.zeros((2, 8, 8, 3), np.float32)
        infinite[1, 0, 0, 0] = -np.inf
        with pytest.raises(errors, match=RANGE + r"\[-inf\] \[0\] \[0\]"):
            call(infinite)
        limits = np.zeros((2, 8, 8, 3), np.float32)
        limits[0, 0, 0] = [-1.0, 1.0, -1.0]
        call(limits)  # The bounds themselves are images.


def test_other_dtypes_are_refused_by_the_signature(served):
    _, serve, _ = served
    images = systems.images(2)
    refused = tf.errors.InvalidArgumentError
    for dtype in (tf.float64, tf.int32, tf.uint8, tf.float16):
        with pytest.raises(refused, match="expected to be a float tensor"):
            serve["task_a"](images=tf.cast(images, dtype))
    for dtype in (tf.float32, tf.int32):
        with pytest.raises(refused, match="expected to be a uint8 tensor"):
            serve["task_a_uint8"](images=tf.cast(images, dtype))
    with pytest.raises(refused, match="expected to be a int32 tensor"):
        serve["routed"](
            images=tf.constant(images),
            task_index=tf.constant([0, 1], tf.int64),
        )


def test_routed_errors_name_the_whole_batch_and_task_index(served):
    _, serve, _ = served
    errors = tf.errors.InvalidArgumentError
    two_channels = systems.images(3, channels=2)
    all_b = tf.constant([1, 1, 1], tf.int32)  # Task a's part is empty.
    channels = r"1 \(grey\) or 3 \(RGB\) channels; got shape\] \[3 8 8 2\]"
    with pytest.raises(errors, match=channels):
        serve["routed"](images=two_channels, task_index=all_b)
    with pytest.raises(errors, match=channels):
        serve["routed_uint8"](
            images=tf.constant(two_channels > 0, tf.uint8), task_index=all_b
        )
    images = systems.images(3)
    shape = r"task_index must have shape \(batch,\); got shape\] "
    with pytest.raises(errors, match=shape + r"\[3 1\]"):
        serve["routed"](
            images=images, task_index=tf.constant([[0], [1], [0]], tf.int32)
        )
    with pytest.raises(errors, match=shape + r"\[\]"):
        serve["routed"](images=images, task_index=tf.constant(0, tf.int32))
    with pytest.raises(
        errors, match=r"one task index in \[0, 2\) per image; got task_index"
    ):
        serve["routed"](images=images, task_index=tf.constant([0, 1], tf.int32))


def test_logits_equal_the_compiled_path_bitwise_and_eager_within_bound(served):
    """Exactly what holds between exported and in-memory logits.

    Bitwise: a task signature and its path run as a `tf.function` on the
    same batch; the routed rows of a task and its signature on those rows
    alone. Against eager `Population.predict`: within EAGER_BOUND.
    """
    population, serve, _ = served
    sizes = {"a": 8, "cmaterdb/b": 12}
    names = export.signature_names(sizes)
    for task, size in sizes.items():
        compiled = tf.function(
            lambda x, task=task: population.predict(task, x), autograph=False
        )
        for batch in (1, 5):
            images = systems.images(batch, size=size, seed=batch)
            logits = serve[names[task]](images=images)["logits"].numpy()
            np.testing.assert_array_equal(logits, compiled(images).numpy())
            eager = population.predict(task, images).numpy()
            bound = EAGER_BOUND * max(1.0, np.abs(eager).max())
            np.testing.assert_allclose(logits, eager, rtol=0, atol=bound)
    images = systems.images(6, size=10, seed=7)
    index = np.array([1, 0, 0, 1, 0, 1], np.int32)
    routed = serve["routed"](images=images, task_index=index)["logits"]
    for i, task in enumerate(sizes):
        rows = index == i
        alone = serve[names[task]](images=images[rows])["logits"].numpy()
        classes = alone.shape[1]
        np.testing.assert_array_equal(routed.numpy()[rows, :classes], alone)
