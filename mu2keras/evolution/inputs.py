"""A generation's input data (spec §2.3, §2.7).

Every generation trains on a new stream (its own seed and data
hyperparameters) and evaluates on the task's fixed validation subset. The
subset depends only on the task and the image size, so it is built once
and kept while they stay the same: read and decoded once, not once a
generation, and the trainer keeps reading its one iterator.
"""

from mu2keras.evolution import method as method_lib
from mu2keras.tasks import pipeline


class GenerationInputs:
    """Makes each generation's datasets for the controller.

    Args:
        config: the experiment `ConfigDict` (batch size, budget, validation
            size).
        method: the run's `Method` (its training budget).
        replicas: int. The strategy's replicas (a baseline's budget
            follows the candidates per generation, see `Method`).
    """

    def __init__(self, config, method, replicas=1):
        self.config = config
        self.method = method
        self.replicas = replicas
        self._validation = (None, None)  # (task name, image size), EvalData.

    def generation(self, task, data_hparams, seed):
        """Returns `(N_v, N_e, training dataset, validation EvalData)`."""
        c = self.config
        n_v, n_e = method_lib.training_budget(
            c, self.method, task.num_train_examples, self.replicas
        )
        train = pipeline.train_dataset(
            task, data_hparams, c.batch_size, seed, num_steps=n_v * n_e
        )
        size = data_hparams["ds_image_size"]
        return n_v, n_e, train, self.validation(task, size)

    def validation(self, task, image_size):
        """The validation subset of `task` at `image_size` (kept; one at a
        time, so it holds no more memory than a generation's copy)."""
        key = (task.name, image_size)
        if self._validation[0] != key:
            self._validation = (None, None)  # Free the old one first.
            subset = pipeline.validation_dataset(
                task,
                image_size,
                self.config.batch_size,
                self.config.max_validation_examples,
            )
            self._validation = (key, subset)
        return self._validation[1]
