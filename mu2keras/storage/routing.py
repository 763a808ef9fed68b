"""Task-based routing: which path runs, and on what input (spec §3).

Inference for a task runs only that task's path, so its cost is bounded by
the root architecture whatever the number of tasks. A path expects
`(batch, S, S, 3)` images in [-1, 1] at its own resolution S
(`ds_image_size`, spec §1.7); `prepare_images` brings any image batch there,
in eager code and inside exported graphs alike. The exported signatures
also check their inputs at run time (`check_rank`, `check_channels`,
`check_range`, `check_task_index`) and scale uint8 ones (`from_uint8`).
"""

import numpy as np
import tensorflow as tf

# Logits of classes a task does not have, when tasks with different class
# counts share one output (the routed SavedModel endpoint): the lowest
# finite float32, so softmax gives them probability 0 and argmax never picks
# them, while staying JSON-encodable (unlike -inf).
LOGIT_PADDING = float(np.finfo(np.float32).min)


def prepare_images(images, image_size):
    """Validates images and brings them to a path's input format.

    Grey images (1 channel) are tiled to RGB; images of any height and width
    are resized bilinearly to `image_size` × `image_size`.

    Args:
        images: float tensor or array `(batch, H, W, C)`, C in {1, 3}, values
            in [-1, 1]. Other float dtypes are cast to float32.
        image_size: int. The path's resolution S.

    Returns:
        A float32 tensor `(batch, S, S, 3)`.

    Raises:
        ValueError: (or `tf.errors.InvalidArgumentError` when the shape is
            only known at run time) for a rank other than 4, a channel count
            other than 1 or 3, or a non-float dtype.
    """
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        raise ValueError(
            "images must be floats in [-1, 1] (float32); got dtype "
            f"{images.dtype.name}."
        )
    images = tf.cast(images, tf.float32)
    rank = images.shape.rank
    if rank is not None and rank != 4:
        raise ValueError(
            "images must have shape (batch, height, width, channels); got "
            f"shape {images.shape}."
        )
    if rank is None:
        images = check_rank(images)
    images = _to_rgb(images)
    return _resize(images, image_size)


def checked(value, condition, message):
    """`value`, once `condition` holds; else an error with `message`.

    Args:
        value: a tensor.
        condition: a scalar bool tensor.
        message: list of strings and tensors, the error message.
    """
    assertion = tf.debugging.Assert(condition, message, summarize=8)
    if tf.executing_eagerly():
        return value
    # The check must run before the path does: a wrong shape would
    # otherwise fail first, deep inside a layer, with an obscure error.
    with tf.control_dependencies([assertion]):
        return tf.identity(value)


def check_rank(images):
    """Checks at run time that `images` has rank 4; gives it static rank 4."""
    is_rank_4 = tf.equal(tf.rank(images), 4)
    images = checked(
        images,
        is_rank_4,
        [
            "images must have shape (batch, height, width, channels); got "
            "shape",
            tf.shape(images),
        ],
    )
    # Not `tf.ensure_shape` alone: when TF specialises the graph to the
    # actual input shape it would fail there, before the check above runs.
    # The other branch is never taken at run time (the check fails first).
    images = tf.cond(
        is_rank_4,
        lambda: images,
        lambda: tf.reshape(images, [-1, 1, 1, 1]),
    )
    return tf.ensure_shape(images, [None, None, None, None])


def check_task_index(task_index, batch, num_tasks):
    """`task_index` once it holds one index in [0, num_tasks) per image.

    Args:
        task_index: an int32 tensor of any shape (a wrong one is named).
        batch: a scalar int32 tensor, the number of images.
        num_tasks: int.
    """
    is_vector = tf.equal(tf.rank(task_index), 1)
    task_index = checked(
        task_index,
        is_vector,
        [
            "task_index must have shape (batch,); got shape",
            tf.shape(task_index),
        ],
    )
    # Static rank 1; a no-op on the vectors that pass the check.
    task_index = tf.reshape(task_index, [-1])
    valid = tf.logical_and(
        tf.equal(tf.size(task_index), batch),
        tf.reduce_all((task_index >= 0) & (task_index < num_tasks)),
    )
    message = (
        f"task_index must hold one task index in [0, {num_tasks}) per "
        "image; got task_index, batch size:"
    )
    task_index = checked(task_index, valid, [message, task_index, batch])
    # Never taken (the check fails first); it keeps TF's shape inference
    # from failing on a bad task_index before the check can run.
    return tf.cond(
        valid, lambda: task_index, lambda: tf.zeros([batch], tf.int32)
    )


def check_channels(images):
    """Checks at run time that rank-4 `images` have 1 or 3 channels."""
    channels = tf.shape(images)[-1]
    return checked(
        images,
        tf.logical_or(tf.equal(channels, 1), tf.equal(channels, 3)),
        [
            "images must have 1 (grey) or 3 (RGB) channels; got shape",
            tf.shape(images),
        ],
    )


def check_range(images, hint=""):
    """`images` once they hold only numbers in [-1, 1]; else an error.

    NaN fails the check too. The message gives the smallest and largest
    number and the count of NaN, so that, say, an image in [0, 255] is
    recognised at once. Those are computed only when the check fails: it
    costs one comparison per value.

    Args:
        images: a float tensor of any shape.
        hint: str. Appended to the message's first sentence.
    """
    in_range = tf.reduce_all(tf.logical_and(images >= -1.0, images <= 1.0))

    def fail():
        nan = tf.math.is_nan(images)
        numbers = tf.where(nan, tf.zeros_like(images), images)
        message = [
            f"images must be float32 numbers in [-1, 1]{hint}; got min, "
            "max and NaN count:",
            tf.reduce_min(numbers),
            tf.reduce_max(numbers),
            tf.math.count_nonzero(nan),
        ]
        with tf.control_dependencies([tf.debugging.Assert(in_range, message)]):
            return tf.identity(in_range)

    passed = tf.cond(in_range, lambda: in_range, fail)
    if tf.executing_eagerly():
        return images
    with tf.control_dependencies([passed]):
        return tf.identity(images)


def from_uint8(images):
    """uint8 images in [0, 255] -> float32 in [-1, 1].

    The input pipeline's values (`mu2keras.tasks.pipeline.to_float_rgb`:
    `x / 127.5 - 1`, IEEE float32), looked up in a table of 256: in a
    graph, TF's optimizer would turn the division into a multiplication by
    the reciprocal, which differs in the last bit for 111 of the values.
    """
    table = np.arange(256, dtype=np.float32) / np.float32(127.5) - 1
    return tf.gather(tf.constant(table), tf.cast(images, tf.int32))


def _to_rgb(images):
    channels = images.shape[-1]
    if channels is not None:
        if channels not in (1, 3):
            raise ValueError(
                "images must have 1 (grey) or 3 (RGB) channels; got shape "
                f"{images.shape}."
            )
        return tf.tile(images, [1, 1, 1, 3]) if channels == 1 else images
    images = check_channels(images)
    images = tf.cond(
        tf.equal(tf.shape(images)[-1], 1),
        lambda: tf.tile(images, [1, 1, 1, 3]),
        lambda: images,
    )
    return tf.ensure_shape(images, [None, None, None, 3])


def _resize(images, image_size):
    height, width = images.shape[1], images.shape[2]
    if height is not None and width is not None:
        if (height, width) == (image_size, image_size):
            return images
        return tf.image.resize(images, (image_size, image_size))
    shape = tf.shape(images)
    same = tf.logical_and(
        tf.equal(shape[1], image_size), tf.equal(shape[2], image_size)
    )
    # Skipping the resize at the right size keeps the path's logits
    # bit-identical to running it directly.
    images = tf.cond(
        same,
        lambda: images,
        lambda: tf.image.resize(images, (image_size, image_size)),
    )
    return tf.ensure_shape(images, [None, image_size, image_size, 3])
