"""The offline study's config: roots, stages, methods and equal budgets."""

import math

import pytest

from configs import demo
from configs import study
from mu2keras import experiment
from mu2keras.evolution import method as method_lib

GROW_METHODS = [m for m in study.METHODS if m != "scratch"]


def config_of(method, *flags):
    """A method's config: "scratch" is `stage=scratch`."""
    arg = "stage=scratch" if method == "scratch" else f"method={method}"
    return study.get_config(",".join((arg,) + flags))


def steps_per_task(config, depth):
    """Training steps per task the budget gives (at most; the data may
    cap N_v), as the controller spends them (`method.training_budget`)."""
    parsed = method_lib.parse_method(config.method, depth)
    generations = math.ceil(config.num_samples_per_task / config.num_candidates)
    candidates = 1 if parsed.baseline else config.num_samples_per_task
    validations = config.num_validations * (
        generations if parsed.baseline else 1
    )
    n_v = config.max_train_examples_between_validations // config.batch_size
    return candidates * validations * n_v * config.num_task_iters


# --- The DINOv2 root (the default). ---


@pytest.mark.parametrize("method", GROW_METHODS)
def test_every_method_grows_from_the_dinov2_checkpoint(method):
    config = config_of(method)
    assert config.root.checkpoint == demo.CHECKPOINT == "dinov2_s14_imgfocus"
    assert config.root.augreg_npz == ""
    assert config.root.promote_from == config.root.promote_task == ""
    assert config.root.num_layers == 12
    assert list(config.tasks) == list(demo.TASKS)
    assert config.tasks[0] == "embedded/fashion_mnist"
    defaults, ranges = experiment.check_config(config)
    baseline = method_lib.parse_method(method, 12).baseline
    assert config.autotune == ("off" if baseline else "v2")
    assert bool(ranges) == (not baseline)
    # configs/demo.py's defaults, the same for every method, but the lr:
    # each method's own, one of the two the study validated.
    assert defaults["ds_image_size"] == 28
    assert defaults["_mu_"] == 0.1
    assert defaults["opt_lr"] == study.METHOD_LR[method]
    assert defaults["opt_lr"] in study.LEARNING_RATES
    assert (defaults["ds_crop"], defaults["ds_area_range_min"]) == (True, 0.5)
    assert defaults["ds_flip_left_right"] is False
    if method.startswith("freeze_bottom"):
        assert defaults["num_layers"] == 12


def test_demo_defaults_match():
    mine = experiment.check_config(study.get_config())[0]
    theirs = experiment.check_config(demo.get_config())[0]
    for key in ("_mu_", "ds_area_range_min", "ds_flip_left_right"):
        assert mine[key] == theirs[key], key
    assert mine["ds_crop"] == theirs["ds_crop"]
    # µ2Net validated best at the demo's lr.
    assert mine["opt_lr"] == theirs["opt_lr"] == study.METHOD_LR["mu2net"]


def test_lr_argument_overrides_every_method_and_is_checked():
    for method in study.METHODS[:-1]:
        config = config_of(method, "lr=0.02")
        assert experiment.check_config(config)[0]["opt_lr"] == 0.02
    assert study.get_config("stage=scratch,lr=0.5").hparams.opt_lr == 0.5
    assert study.method_lr("adapters:16") == study.METHOD_LR["adapters:8"]
    assert study.method_lr("size_scale:90") == study.METHOD_LR["mu2net"]
    with pytest.raises(ValueError, match="lr must be > 0: -0.1"):
        study.get_config("lr=-0.1")


def test_val_argument_sets_the_validation_cap_and_is_checked():
    assert study.get_config().max_validation_examples == 256
    for method in study.METHODS[:-1]:
        config = config_of(method, "val=1024")
        assert config.max_validation_examples == 1024
    scratch = study.get_config("stage=scratch,val=512")
    assert scratch.max_validation_examples == 512
    with pytest.raises(ValueError, match="val must be ≥ 0: -1"):
        study.get_config("val=-1")
    with pytest.raises(
        ValueError, match=r"val \(64\) must be at least the batch"
    ):
        study.get_config("val=64")


def test_interval_argument_sets_the_steps_between_validations():
    base = config_of("mu2net", "budget=4")
    longer = config_of("mu2net", "budget=4,interval=1024")
    assert base.max_train_examples_between_validations == 512
    assert longer.max_train_examples_between_validations == 1024
    # Twice the steps per candidate, for µ2Net and a baseline alike.
    for method in ("mu2net", "finetune_all"):
        assert steps_per_task(
            config_of(method, "budget=4,interval=1024"), 12
        ) == steps_per_task(config_of(method, "budget=8"), 12)
    with pytest.raises(ValueError, match="interval must be ≥ 0: -5"):
        study.get_config("interval=-5")
    with pytest.raises(ValueError, match=r"interval \(100\) must be at"):
        study.get_config("interval=100")


def test_scratch_is_a_random_root_of_the_same_architecture():
    scratch = config_of("scratch")
    grown = config_of("mu2net")
    assert scratch.method == "finetune_all"
    assert scratch.root.checkpoint == scratch.root.augreg_npz == ""
    assert scratch.root.variant == "dinov2_s14"
    assert experiment.root_variant(scratch) == experiment.root_variant(grown)
    assert scratch.root.num_layers == 12
    assert list(scratch.tasks) == list(grown.tasks)
    defaults, _ = experiment.check_config(scratch)
    assert defaults["opt_lr"] == study.METHOD_LR["scratch"]


@pytest.mark.parametrize("budget", study.BUDGET_SIZES)
def test_every_method_trains_the_same_steps_per_task(budget):
    steps = {
        m: steps_per_task(config_of(m, f"budget={budget}"), 12)
        for m in study.METHODS
    }
    # 2 validations × 4 steps of 128 per µ2Net candidate.
    assert set(steps.values()) == {budget * 2 * 4}, steps
    assert config_of("mu2net", f"budget={budget}").num_samples_per_task == (
        budget
    )


def test_methods_are_meaningful_for_twelve_blocks():
    for method in study.METHODS:
        if method != "scratch":
            method_lib.parse_method(method, 12)
    assert "freeze_bottom:6" in study.METHODS
    assert "freeze_bottom:11" in study.METHODS
    assert study.BUDGET_SIZES == (4, 8, 16)


def test_no_root_stage_for_dinov2_and_bad_arguments_fail():
    with pytest.raises(ValueError, match="'root'"):
        study.get_config("stage=root")
    with pytest.raises(ValueError, match="'rooot'"):
        study.get_config("stage=rooot")
    with pytest.raises(ValueError, match="'vit'"):
        study.get_config("root=vit")
    with pytest.raises(ValueError, match="budget"):
        study.get_config("budget=0")


def test_smoke_is_tiny_and_random():
    for method in ("mu2net", "scratch"):
        config = config_of(method, "smoke")
        assert config.root.variant == "testing"
        assert config.root.checkpoint == ""
        assert config.batch_size <= 16
        assert config.num_samples_per_task == 2
        # No Fashion-MNIST: its 57k images would dominate a smoke run.
        assert list(config.tasks) == list(study.tasks(smoke=True))
        assert "embedded/fashion_mnist" not in config.tasks
        experiment.check_config(config)


# --- The Mu/4 root (issue 8's figures). ---


def test_mu4_root_stage_trains_a_mu4_vit_on_fashion_mnist():
    config = study.get_config("root=mu4,stage=root")
    assert list(config.tasks) == ["embedded/fashion_mnist"]
    assert config.method == "finetune_all"
    assert (config.root.variant, config.root.num_layers) == ("Mu/4", 4)
    assert config.root.promote_from == config.root.promote_task == ""
    defaults, _ = experiment.check_config(config)
    assert defaults["ds_image_size"] == 28
    assert defaults["opt_lr"] == 0.1


@pytest.mark.parametrize(
    "method", [m for m in study.MU4_METHODS if m != "scratch"]
)
def test_every_mu4_method_promotes_the_fashion_mnist_path(method):
    config = study.get_config(f"root=mu4,method={method}")
    assert list(config.tasks) == list(study.MU4_TASKS)
    assert config.root.promote_task == "embedded/fashion_mnist"
    # The source comes from --promote_from (or benchmarks/study.py).
    with pytest.raises(ValueError, match="promote_from"):
        experiment.check_config(config)
    config.root.promote_from = "/tmp/root"
    defaults, ranges = experiment.check_config(config)
    baseline = method_lib.parse_method(method, 4).baseline
    assert config.autotune == ("off" if baseline else "v2")
    assert bool(ranges) == (not baseline)
    assert (defaults["opt_lr"], defaults["ds_crop"]) == (0.01, False)


def test_mu4_methods_train_the_same_steps_per_task():
    steps = {
        m: steps_per_task(config_of(m, "root=mu4"), 4)
        for m in study.MU4_METHODS
    }
    assert set(steps.values()) == {8 * 4 * 10}, steps


def test_mu4_smoke_is_tiny():
    config = study.get_config("root=mu4,stage=root,smoke")
    assert config.root.variant == "testing"
    assert config.batch_size <= 16
    experiment.check_config(config)
