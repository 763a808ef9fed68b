"""The step arithmetic of a candidate's training (spec §2.7).

N_v training batches between validations, N_e validations, T = N_v × N_e
steps. (The size of the fixed validation subset is the data pipeline's:
`mu2keras.tasks.pipeline.validation_sizes`.)
"""

import math


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1; got {value!r}.")


def steps_between_validations(
    num_train_examples, max_examples_between_validations, batch_size
):
    """N_v = ceil(min(train examples, cap) / batch size).

    For a training split smaller than the cap, one interval is one epoch.

    Example: cmaterdb/bangla (4,000 examples, cap 51,200, batch 512) → 8.
    """
    _check_positive("num_train_examples", num_train_examples)
    _check_positive(
        "max_examples_between_validations", max_examples_between_validations
    )
    _check_positive("batch_size", batch_size)
    examples = min(num_train_examples, max_examples_between_validations)
    return math.ceil(examples / batch_size)


def total_steps(steps_between_validations, num_validations):
    """T = N_v × N_e, the steps of one candidate's training."""
    _check_positive("steps_between_validations", steps_between_validations)
    _check_positive("num_validations", num_validations)
    return steps_between_validations * num_validations
