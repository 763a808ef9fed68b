"""Learning-rate schedules against the spec's definitions (spec §2.7)."""

import math

import numpy as np
import pytest

from mu2keras import training
from mu2keras.training import schedules


def values(schedule, steps, lr=0.1, warmup_ratio=0.1, n_v=10, n_e=4):
    sched = schedules.CandidateSchedule()
    sched.set(training.schedule_numbers(schedule, lr, warmup_ratio, n_v, n_e))
    return [float(sched(step)) for step in steps]


def test_constant_is_half_the_peak_everywhere():
    np.testing.assert_allclose(
        values("constant", [0, 1, 20, 39, 40]), [0.05] * 5, rtol=1e-7
    )


def test_cosine_warmup_start_end_midpoint_and_end():
    # T = 40, warmup int(0.1 * 40) = 4 steps from lr/100 to lr, then a
    # cosine over the remaining 36 steps: half of lr at 4 + 18, 0 at 40.
    got = values("cosine", [0, 2, 4, 22, 40])
    expected = [0.001, 0.001 + 0.099 / 2, 0.1, 0.05, 0.0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_cosine_between_points_follows_the_cosine():
    step = 13  # 9 of 36 decay steps: 0.5 * (1 + cos(pi / 4)).
    expected = 0.1 * 0.5 * (1 + math.cos(math.pi / 4))
    np.testing.assert_allclose(values("cosine", [step]), [expected], rtol=1e-6)


def test_restarts_repeat_warmup_and_decay_every_interval():
    # N_v = 11: each cycle warms up over int(0.1 * 11) = 1 step, then
    # decays over 10: half of lr at step 6 of each cycle.
    for cycle in range(3):
        start = 11 * cycle
        got = values("restarts", [start, start + 1, start + 6], n_v=11)
        np.testing.assert_allclose(
            got, [0.001, 0.1, 0.05], rtol=1e-6, atol=1e-8
        )
    # The end of the last cycle: 0, no fifth restart.
    np.testing.assert_allclose(
        values("restarts", [44, 50], n_v=11), [0.0, 0.0], atol=1e-8
    )


def test_zero_warmup_starts_at_the_peak():
    # int(0.01 * 40) = 0 warmup steps, as optax: the cosine from step 0.
    got = values("cosine", [0, 20], warmup_ratio=0.01)
    np.testing.assert_allclose(got, [0.1, 0.05], rtol=1e-6)


def test_schedule_numbers_match_the_reference_arithmetic():
    numbers = training.schedule_numbers("cosine", 0.01, 0.3, 8, 4)
    assert numbers["warmup_steps"] == 9.0  # int(0.3 * 32)
    assert numbers["decay_steps"] == 23.0
    assert numbers["initial"] == pytest.approx(1e-4)
    numbers = training.schedule_numbers("restarts", 0.01, 0.3, 8, 4)
    assert (numbers["warmup_steps"], numbers["cycle_steps"]) == (2.0, 8.0)


@pytest.mark.parametrize(
    "args, match",
    [
        (("linear", 0.1, 0.1, 1, 1), "Unknown opt_lr_schedule"),
        (("cosine", 0.0, 0.1, 1, 1), "opt_lr must be > 0"),
        (("cosine", 0.1, 1.0, 1, 1), "warmup_ratio"),
        (("cosine", 0.1, 0.1, 0, 1), "steps_between_validations"),
    ],
)
def test_schedule_numbers_reject_bad_values(args, match):
    with pytest.raises(ValueError, match=match):
        training.schedule_numbers(*args)
