"""The offline study's config: stages, methods and the equal budget."""

import math

import pytest

from configs import study
from mu2keras import experiment
from mu2keras.evolution import method as method_lib


def grow(method, *flags):
    return study.get_config(",".join((f"method={method}",) + flags))


def test_root_stage_trains_a_mu4_vit_on_fashion_mnist_from_scratch():
    config = study.get_config("stage=root")
    assert list(config.tasks) == ["embedded/fashion_mnist"]
    assert config.method == "finetune_all"
    assert (config.root.variant, config.root.num_layers) == ("Mu/4", 4)
    assert config.root.promote_from == config.root.promote_task == ""
    defaults, _ = experiment.check_config(config)
    assert defaults["ds_image_size"] == 28
    assert defaults["opt_lr"] == 0.1


@pytest.mark.parametrize("method", [m for m in study.METHODS if m != "scratch"])
def test_every_grow_method_promotes_the_fashion_mnist_path(method):
    config = grow(method)
    assert list(config.tasks) == list(study.TASKS)
    assert config.root.promote_task == "embedded/fashion_mnist"
    # The source comes from --promote_from (or benchmarks/study.py).
    with pytest.raises(ValueError, match="promote_from"):
        experiment.check_config(config)
    config.root.promote_from = "/tmp/root"
    defaults, ranges = experiment.check_config(config)
    baseline = method_lib.parse_method(method, 4).baseline
    assert config.autotune == ("off" if baseline else "v2")
    assert bool(ranges) == (not baseline)
    # Same defaults for every method (the baselines fix depth and adapters).
    assert (defaults["opt_lr"], defaults["ds_crop"]) == (0.01, False)


def test_every_method_trains_the_same_steps_per_task():
    steps = {}
    for method in study.METHODS:
        stage = "scratch" if method == "scratch" else "grow"
        config = study.get_config(f"stage={stage},method={method}")
        parsed = method_lib.parse_method(config.method, 4)
        generations = math.ceil(
            config.num_samples_per_task / config.num_candidates
        )
        candidates = 1 if parsed.baseline else config.num_samples_per_task
        validations = config.num_validations * (
            generations if parsed.baseline else 1
        )
        steps[method] = candidates * validations * config.num_task_iters
    assert set(steps.values()) == {8 * 4}, steps


def test_scratch_trains_a_random_root_per_task():
    config = study.get_config("stage=scratch")
    assert config.method == "finetune_all"
    assert config.root.promote_from == config.root.promote_task == ""
    assert list(config.tasks) == list(study.TASKS)
    experiment.check_config(config)


def test_smoke_is_tiny_and_bad_stage_fails():
    config = study.get_config("stage=root,smoke")
    assert config.root.variant == "testing"
    assert config.batch_size <= 16
    experiment.check_config(config)
    with pytest.raises(ValueError, match="'rooot'"):
        study.get_config("stage=rooot")
