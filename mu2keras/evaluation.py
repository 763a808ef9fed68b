"""Test accuracy of a path (spec §2.1 `run_all_test_evals`).

The controller selects on validation accuracy and reports test accuracy
only: a path's `test_quality` is measured once, after its task ends.
"""

import tensorflow as tf

from mu2keras.tasks import pipeline


def accuracy(path, eval_data):
    """Top-1 accuracy of `path` over an `EvalData` pass.

    Args:
        path: a `Path`.
        eval_data: `mu2keras.tasks.pipeline.EvalData` whose batches are
            `(images, labels, weights)`; padding has weight 0, so every
            example counts exactly once.
    """
    predict = tf.function(
        lambda images: tf.argmax(path(images), axis=-1), autograph=False
    )
    correct = total = 0.0
    for images, labels, weights in eval_data.dataset:
        hits = tf.cast(predict(images) == labels, tf.float32)
        correct += float(tf.reduce_sum(hits * weights))
        total += float(tf.reduce_sum(weights))
    if total == 0:
        raise ValueError("The evaluation data holds no example.")
    return correct / total


def test_accuracy(path, task, batch_size):
    """`path`'s accuracy on `task`'s test split, at the path's image size."""
    data = pipeline.test_dataset(task, path.image_size, batch_size)
    return accuracy(path, data)
