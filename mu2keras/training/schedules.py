"""Learning-rate schedules of a candidate's training (spec §2.7).

The three schedules of the reference (`constant`, `cosine`, `restarts`) are
one Keras `CosineDecay` (linear warmup, then cosine decay) restarted every
`cycle_steps` for `num_cycles` cycles, with its numbers set per candidate:

| schedule | warmup     | peak     | cosine decay       | cycle | cycles |
|----------|------------|----------|--------------------|-------|--------|
| constant | none       | 0.5 × lr | alpha = 1 (flat)   | T     | 1      |
| cosine   | lr/100→lr  | lr       | to 0 at T          | T     | 1      |
| restarts | lr/100→lr  | lr       | to 0 at N_v        | N_v   | N_e    |

with T = N_v × N_e steps and `warmup = int(warmup_ratio × cycle)` steps, as
optax's `warmup_cosine_decay_schedule` / `sgdr_schedule` in the reference.

The numbers live in non-trainable variables rather than in Python floats, so
that one traced (and compiled) training step serves every hyperparameter
combination: a Python float would be baked into the trace as a constant, and
each new value would need a new trace and leave a compiled executable behind.
"""

import keras
from keras import ops

SCHEDULES = ("constant", "cosine", "restarts")


def schedule_numbers(
    schedule, lr, warmup_ratio, steps_between_validations, num_validations
):
    """The schedule's numbers for one candidate (spec §2.7).

    Args:
        schedule: str. One of "constant", "cosine", "restarts".
        lr: float. The peak learning rate `opt_lr`.
        warmup_ratio: float. `opt_lr_warmup_ratio`, in [0, 1).
        steps_between_validations: int. N_v.
        num_validations: int. N_e.

    Returns:
        dict with keys `initial`, `peak`, `warmup_steps`, `decay_steps`,
        `alpha`, `cycle_steps` and `num_cycles` (all floats).
    """
    if schedule not in SCHEDULES:
        raise ValueError(
            f"Unknown opt_lr_schedule {schedule!r}; known: {SCHEDULES}."
        )
    if not lr > 0:
        raise ValueError(f"opt_lr must be > 0; got {lr!r}.")
    if not 0 <= warmup_ratio < 1:
        raise ValueError(
            f"opt_lr_warmup_ratio must be in [0, 1); got {warmup_ratio!r}."
        )
    for name, value in (
        ("steps_between_validations", steps_between_validations),
        ("num_validations", num_validations),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an int >= 1; got {value!r}.")
    total = steps_between_validations * num_validations
    if schedule == "constant":
        # Half the peak, "so that the average lr matches the others".
        peak = 0.5 * lr
        return dict(
            initial=peak,
            peak=peak,
            warmup_steps=0.0,
            decay_steps=float(total),
            alpha=1.0,
            cycle_steps=float(total),
            num_cycles=1.0,
        )
    cycles = 1 if schedule == "cosine" else num_validations
    cycle = total // cycles
    warmup = int(warmup_ratio * cycle)
    return dict(
        initial=lr / 100.0,
        peak=float(lr),
        warmup_steps=float(warmup),
        decay_steps=float(cycle - warmup),
        alpha=0.0,
        cycle_steps=float(cycle),
        num_cycles=float(cycles),
    )


class CandidateSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A settable warmup + cosine schedule with restarts (spec §2.7).

    A Keras `CosineDecay` with warmup whose numbers are variables, restarted
    every `cycle_steps` steps; after the last cycle it stays at its end
    value (as optax's `sgdr_schedule`). Create it (and the optimizer using
    it) under the distribution strategy's scope; call `set` before each
    training.

    Args:
        name: str. Prefix of the variables' names.
    """

    def __init__(self, name="candidate_schedule"):
        super().__init__()
        self.name = name
        self.variables = {
            key: keras.Variable(
                value, dtype="float32", trainable=False, name=f"{name}_{key}"
            )
            for key, value in schedule_numbers(
                "constant", 1.0, 0.0, 1, 1
            ).items()
        }
        v = self.variables
        # CosineDecay documents Python numbers, but only does arithmetic
        # with them: variables make the values run-time inputs.
        self._cosine = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=v["initial"],
            decay_steps=v["decay_steps"],
            alpha=v["alpha"],
            warmup_target=v["peak"],
            warmup_steps=v["warmup_steps"],
            name=name,
        )

    def set(self, numbers):
        """Assigns the numbers of `schedule_numbers`."""
        for key, variable in self.variables.items():
            variable.assign(float(numbers[key]))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        cycle_steps = self.variables["cycle_steps"]
        cycle = ops.minimum(
            ops.floor(step / cycle_steps), self.variables["num_cycles"] - 1
        )
        return self._cosine(step - cycle * cycle_steps)

    def get_config(self):
        return {"name": self.name}
