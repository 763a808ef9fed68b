"""Test accuracy of a path (spec §2.1 `run_all_test_evals`).

The controller selects on validation accuracy and reports test accuracy
only: a path's `test_quality` is measured once, after its task ends, and
again after each later task while `config.retest_ended_tasks` holds.
"""

import tensorflow as tf

from mu2keras.tasks import pipeline


def predictor(path):
    """`path`'s class predictions, as a traced function. Weights are read
    at each call, never baked into the trace."""
    return tf.function(
        lambda images: tf.argmax(path(images), axis=-1), autograph=False
    )


def accuracy(path, eval_data, predict=None):
    """Top-1 accuracy of `path` over an `EvalData` pass.

    Args:
        path: a `Path`.
        eval_data: `mu2keras.tasks.pipeline.EvalData` whose batches are
            `(images, labels, weights)`; padding has weight 0, so every
            example counts exactly once.
        predict: `predictor(path)` to reuse, or None for a new one.
    """
    predict = predict or predictor(path)
    correct = total = 0.0
    for images, labels, weights in eval_data.dataset:
        hits = tf.cast(predict(images) == labels, tf.float32)
        correct += float(tf.reduce_sum(hits * weights))
        total += float(tf.reduce_sum(weights))
    if total == 0:
        raise ValueError("The evaluation data holds no example.")
    return correct / total


def test_accuracy(path, task, batch_size, predict=None):
    """`path`'s accuracy on `task`'s test split, at the path's image size."""
    data = pipeline.test_dataset(task, path.image_size, batch_size)
    return accuracy(path, data, predict)


class Tester:
    """Tests paths on their tasks' test splits, each path traced once.

    A retained path is locked (spec §2.10), so its re-tests after later
    tasks reuse its trace: a 12-block path took seconds to trace again.

    Args:
        batch_size: int. The test batch size.
    """

    def __init__(self, batch_size):
        self.batch_size = batch_size
        self._traced = {}  # path id -> (path, predictor)

    def __call__(self, path, task):
        """`path`'s accuracy on `task`'s test split."""
        path_id = path.id
        kept = self._traced.get(path_id)
        if kept is None or kept[0] is not path:
            kept = self._traced[path_id] = (path, predictor(path))
        return test_accuracy(path, task, self.batch_size, kept[1])

    def keep(self, paths):
        """Forgets the traces of every path not in `paths`."""
        ids = {p.id for p in paths}
        self._traced = {i: v for i, v in self._traced.items() if i in ids}
