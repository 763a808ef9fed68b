"""Every config and method variant, against the spec's tables."""

import importlib

import pytest

from configs import common
from mu2keras import experiment
from mu2keras.evolution import method as method_lib
from mu2keras.tasks import BENCHMARKS
from mu2keras.tasks import pipeline
from mu2keras.training import budget

# The reference's numbers, copied from the spec (not from configs/common.py):
# §2.7 batch, N_v cap (examples), N_e, validation cap; §2.2 samples per task
# and candidates per generation (0: one per replica, as the reference's one
# per device, §6.1); §4 iterations; §1.6 adapter mutation; §2.8 size
# reference; §2.6 auto-tune table; §1.3 root checkpoint file.
_TI = 1_484_162
SETTINGS = {
    "ti0": (512, 51_200, 4, 5_120, 32, 0, 2, False, _TI, "v2"),
    "ti3": (512, 51_200, 5, 5_120, 64, 0, 2, True, _TI, "v1"),
    "b16": (256, 51_200, 30, 5_120, 64, 0, 2, True, 85_652_738, "v1"),
    "l16": (64, 128_116, 4, 10_000, 128, 0, 1, False, 303_303_682, "v2"),
}
FIELDS = (
    "batch_size",
    "max_train_examples_between_validations",
    "num_validations",
    "max_validation_examples",
    "num_samples_per_task",
    "num_candidates",
    "num_task_iters",
    "mutate_adapters",
    "reference_params",
    "autotune",
)
# §2.7: N_v for a large training split, and the validation batches.
STEPS = {
    "ti0": (100, 10, 5_120),
    "ti3": (100, 10, 5_120),
    "b16": (200, 20, 5_120),
    "l16": (2_002, 156, 9_984),
}
ROOTS = {  # §1.3: variant and AugReg file (None: random, no blocks).
    "ti0": ("Ti/16", None),
    "ti3": (
        "Ti/16",
        "Ti_16-i21k-300ep-lr_0.001-aug_light1-wd_0.1-do_0.0-sd_0.0.npz",
    ),
    "b16": (
        "B/16",
        "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz",
    ),
    "l16": (
        "L/16",
        "L_16-i21k-300ep-lr_0.001-aug_medium2-wd_0.03-do_0.1-sd_0.1.npz",
    ),
}
# §2.6 defaults: µ, num_layers, adapter_dim, warmup, image size.
DEFAULTS = {
    "ti0": (0.2, 0, 32, 0.1, 32),
    "ti3": (0.1, 3, 32, 0.1, 32),
    "b16": (0.1, 12, 32, 0.1, 80),
    "l16": (0.2, 24, 16, 0.05, 384),
}
CONFIGS = {
    "ti0_cmaterdb": (
        "ti0",
        ["cmaterdb/bangla", "cmaterdb/devanagari", "private:cmaterdb/telugu"],
    ),
    "ti3_chars": ("ti3", BENCHMARKS["chars"]),
    "b16_vdd": ("b16", BENCHMARKS["vdd"]),
    "l16_vit": ("l16", BENCHMARKS["vit"]),
    "l16_vtab_full": ("l16", BENCHMARKS["vtab_full"]),
    "l16_vdd": ("l16", BENCHMARKS["vdd"]),
    "l16_chars": ("l16", BENCHMARKS["chars"]),
    "l16_vtab_1k": ("l16", BENCHMARKS["vtab_1k"]),
}
# §7.4 and §2.8: the baselines' and size scale's arguments.
FREEZE = (0, 1, 2, 3, 4, 12)
ADAPTERS = (8, 16, 32, 64, 128, 256, 512)
SCALES = (98, 95, 90, 70, 30, 2)


def get_config(name, arg=None):
    return importlib.import_module(f"configs.{name}").get_config(arg)


def methods(num_layers):
    yield from ("mu2net", "munet", "finetune_all")
    yield from (f"freeze_bottom:{n}" for n in FREEZE if n <= num_layers)
    yield from (f"adapters:{d}" for d in ADAPTERS)
    yield from (f"size_scale:{p}" for p in SCALES)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_matches_the_spec_tables(name):
    setting, tasks = CONFIGS[name]
    config = get_config(name)
    assert config.setting == setting
    assert list(config.tasks) == list(tasks)
    assert config.method == "mu2net"
    for field, expected in zip(FIELDS, SETTINGS[setting], strict=True):
        assert config[field] == expected, field
    variant, checkpoint = ROOTS[setting]
    assert config.root.variant == variant
    if checkpoint is None:
        assert (config.root.augreg_npz, config.root.num_layers) == ("", 0)
    else:
        assert config.root.augreg_npz == f"gs://vit_models/augreg/{checkpoint}"
    defaults, ranges = experiment.check_config(config)
    mu, num_layers, adapter_dim, warmup, image_size = DEFAULTS[setting]
    assert defaults["_mu_"] == mu
    assert defaults["num_layers"] == num_layers
    assert defaults["adapter_dim"] == adapter_dim
    assert defaults["opt_lr_warmup_ratio"] == warmup
    assert defaults["ds_image_size"] == image_size
    assert ("_mu_" in ranges) == (config.autotune == "v2")
    assert ("ds_image_size" in ranges) == (config.autotune == "v1")
    assert ranges.get("num_layers") == (
        [0, 1, 2, 3] if setting == "ti0" else None
    )
    n_v, val_batches, val_examples = STEPS[setting]
    assert (
        budget.steps_between_validations(
            10**7,
            config.max_train_examples_between_validations,
            config.batch_size,
        )
        == n_v
    )
    batches, size = pipeline.validation_sizes(
        10**6, config.batch_size, config.max_validation_examples
    )
    assert (batches, batches * size) == (val_batches, val_examples)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_method_variant_loads_and_checks(name):
    setting = CONFIGS[name][0]
    num_layers = DEFAULTS[setting][1]
    for method in methods(num_layers):
        config = get_config(name, f"method={method}")
        assert config.method == method
        experiment.check_config(config)
        parsed = method_lib.parse_method(method, num_layers)
        expected = "off" if parsed.baseline else SETTINGS[setting][-1]
        if method == "munet":
            expected = "munet"  # µNet's own table (spec §8.2).
        assert config.autotune == expected, method
        # The budget does not depend on the method (the controller scales it
        # for the baselines, spec §7.4).
        assert config.num_validations == SETTINGS[setting][2]
    for autotune in ("v1", "v2", "off"):
        config = get_config(name, f"autotune={autotune}")
        experiment.check_config(config)
        assert config.autotune == autotune
        config = get_config(name, f"method=munet,autotune={autotune}")
        assert (config.method, config.autotune) == ("munet", autotune)


@pytest.mark.parametrize("name", sorted(CONFIGS) + ["demo", "demo_random"])
def test_runlocal_is_small_and_valid(name):
    config = get_config(name, "runlocal")
    experiment.check_config(config)
    assert config.root.variant == "testing"
    assert config.root.augreg_npz == "" and config.root.checkpoint == ""
    assert config.batch_size <= 32
    assert config.num_samples_per_task <= 4
    assert config.max_train_examples_between_validations <= 256


def test_size_scale_of_ti0_keeps_growing_from_zero_layers():
    # ti0 paths start with 0 blocks and grow to 3 (spec §8.1); size_scale
    # keeps that range and adds the size penalty.
    config = get_config("ti0_cmaterdb", "method=size_scale:90")
    _, ranges = experiment.check_config(config)
    assert ranges["num_layers"] == [0, 1, 2, 3]


def test_baselines_refuse_autotune():
    with pytest.raises(ValueError, match="autotune=v1 cannot go with"):
        get_config("ti3_chars", "method=finetune_all,autotune=v1")


def test_bad_method_or_argument_fails_naming_it():
    with pytest.raises(ValueError, match="Unknown method 'mu3net'"):
        get_config("ti3_chars", "method=mu3net")
    with pytest.raises(ValueError, match=r"freeze_bottom:12.*not in \[0, 3\]"):
        get_config("ti3_chars", "method=freeze_bottom:12")
    with pytest.raises(ValueError, match="Unknown config argument 'lr'"):
        get_config("l16_vit", "lr=0.1")
    with pytest.raises(ValueError, match="autotune must be v1, v2 or off"):
        get_config("b16_vdd", "autotune=v3")


def test_demo_config_grows_the_dinov2_root():
    config = get_config("demo")
    defaults, ranges = experiment.check_config(config)
    assert config.setting == "ti3" and config.autotune == "v2"
    assert config.tasks == get_config("demo_random").tasks
    assert config.root.checkpoint == "dinov2_s14_imgfocus"
    assert (config.root.augreg_npz, config.root.num_layers) == ("", -1)
    assert experiment.root_variant(config).name == "dinov2_s14"
    # All 12 pretrained blocks at 28 px, not mutated; adapters are.
    assert (defaults["num_layers"], defaults["ds_image_size"]) == (12, 28)
    assert "num_layers" not in ranges and "ds_image_size" not in ranges
    assert config.mutate_adapters
    # 32 candidates of at most 32 steps: minutes on 2 cores.
    candidates = config.num_task_iters * config.num_samples_per_task
    assert candidates * len(config.tasks) <= 32
    n_v = budget.steps_between_validations(
        10**7, config.max_train_examples_between_validations, config.batch_size
    )
    assert n_v * config.num_validations <= 32
    # The baselines run on the same root, searching nothing.
    baseline = get_config("demo", "method=finetune_all")
    experiment.check_config(baseline)
    assert baseline.autotune == "off"
    assert get_config("demo", "autotune=v1").autotune == "v1"


def test_demo_random_config_is_the_adapted_ti0_setting():
    config = get_config("demo_random")
    defaults, ranges = experiment.check_config(config)
    assert config.setting == "ti0" and config.autotune == "v2"
    assert all(t.startswith("embedded/") for t in config.tasks)
    assert len(config.tasks) == 4
    assert (config.root.variant, config.root.num_layers) == ("Ti/16", 0)
    assert config.root.augreg_npz == ""
    assert ranges["num_layers"] == [0, 1, 2, 3]
    assert defaults["num_layers"] == 2
    # About 40 candidates of at most 64 steps: minutes on 2 cores.
    candidates = config.num_task_iters * config.num_samples_per_task
    assert candidates * len(config.tasks) <= 48
    n_v = budget.steps_between_validations(
        10**7, config.max_train_examples_between_validations, config.batch_size
    )
    assert n_v * config.num_validations <= 64


def test_parse_arg_types_flags_and_errors():
    arg = common.parse_arg(
        "runlocal,n=3,rate=0.5,name=a:b", runlocal=False, n=1, rate=1.0, name=""
    )
    assert (arg.runlocal, arg.n, arg.rate, arg.name) == (True, 3, 0.5, "a:b")
    assert common.parse_arg(None, flag=True).flag is True
    assert common.parse_arg("flag=false", flag=True).flag is False
    with pytest.raises(ValueError, match="flag is a bool"):
        common.parse_arg("flag=yes", flag=True)
    with pytest.raises(ValueError, match="n is a int; got 'x'"):
        common.parse_arg("n=x", n=1)
    with pytest.raises(ValueError, match="'n' needs a value"):
        common.parse_arg("n", n=1)
    with pytest.raises(ValueError, match="'n' repeats"):
        common.parse_arg("n=1,n=2", n=1)
    with pytest.raises(ValueError, match="Unknown config argument 'm'.*n"):
        common.parse_arg("m=1", n=1)
    with pytest.raises(AttributeError):
        common.parse_arg("", n=1).m = 2  # Locked: no new keys.


@pytest.mark.parametrize("name", ["fused", "jit_compile"])
def test_engine_switches_accept_auto_true_false_only(name):
    config = get_config("demo", "runlocal")
    for value in ("auto", "true", "False"):
        config[name] = value
        experiment.check_config(config)
    config[name] = "sometimes"
    with pytest.raises(
        ValueError, match=f"config.{name} must be .*got 'sometimes'"
    ):
        experiment.check_config(config)
