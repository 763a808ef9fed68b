"""Config values are checked up front, each refused in one line (issue 21,
item 7): by `experiment.check_config`, and through `launch.evolve` before
anything is written in the workdir."""

import concurrent.futures
import os

import pytest

from configs import demo
from mu2keras import experiment
from tests.launch import launchers_test

DEMO = "--config=configs/demo.py:runlocal"
METHODS = (
    "mu2net, munet, finetune_all, freeze_bottom:N, adapters:D or size_scale:P"
)

# field, bad value, the message naming both (the demo's runlocal config:
# 2-block "testing" root with 4-pixel patches, autotune v2).
FIELD_CASES = [
    ("seed", -1, "config.seed must be an int >= 0; got -1."),
    ("keep_states", 0, "config.keep_states must be an int >= 1; got 0."),
    (
        "intermediate_state_secs",
        -5.0,
        "config.intermediate_state_secs must be a number >= 0; got -5.0.",
    ),
    (
        "reference_params",
        0,
        "config.reference_params must be a number > 0; got 0.",
    ),
    *[
        (
            "reference_flops",
            value,
            "config.reference_flops must be a finite number >= 0 (0: no "
            f"FLOPs term); got {value!r}.",
        )
        for value in (-1.0, float("inf"), float("nan"))
    ],
    # The demo carries verified test accuracies: the check must stay on.
    (
        "check_immutability",
        False,
        "config.retest_ended_tasks=False carries test accuracies that the "
        "immutability check verified; it needs config.check_immutability="
        "True.",
    ),
    ("root.seed", -3, "config.root.seed must be an int >= 0; got -3."),
    (
        "root.num_layers",
        -2,
        "config.root.num_layers must be an int >= 0, or -1 (see "
        "experiment.default_config); got -2.",
    ),
]
HPARAM_CASES = [
    ("ds_image_size", 0, "must be an int >= 1; got 0."),
    (
        "ds_image_size",
        18,
        "must be a multiple of the root's patch size 4; got 18.",
    ),
    ("_mu_", 1.5, "must be a number in [0, 1]; got 1.5."),
    ("num_layers", -1, "must be an int >= 0; got -1."),
    ("adapter_dim", 0, "must be an int >= 1; got 0."),
    ("opt_lr", -0.1, "must be a number > 0; got -0.1."),
    ("opt_lr_warmup_ratio", 1.0, "must be a number in [0, 1); got 1.0."),
    ("opt_momentum", 1.0, "must be a number in [0, 1); got 1.0."),
    (
        "opt_lr_schedule",
        "linear",
        "must be one of constant, cosine, restarts; got 'linear'.",
    ),
    ("ds_area_range_min", 0.0, "must be a number in (0, 1]; got 0.0."),
    ("ds_aspect_ratio_range_min", 1.5, "must be a number in (0, 1]; got 1.5."),
    ("ds_brightness_delta", -0.1, "must be a number in [0, inf]; got -0.1."),
    ("ds_contrast_delta", 1.0, "must be a number in [0, 1); got 1.0."),
    ("ds_saturation_delta", 1.0, "must be a number in [0, 1); got 1.0."),
    ("ds_hue_delta", 0.6, "must be a number in [0, 0.5]; got 0.6."),
]
ADAPTERS = (
    "config.hparams.adapter_layers must be '' or block indices below "
    "num_layers=2, ascending, joined by '_' (e.g. '0_2'); got {!r}."
)


def set_field(config, key, value):
    *parents, name = key.split(".")
    for parent in parents:
        config = config[parent]
    config[name] = value


@pytest.mark.parametrize("key,value,message", FIELD_CASES)
def test_a_bad_field_is_named_with_its_value(key, value, message):
    config = demo.get_config("runlocal")
    set_field(config, key, value)
    with pytest.raises(ValueError) as raised:
        experiment.check_config(config)
    assert str(raised.value) == message


@pytest.mark.parametrize("key,value,problem", HPARAM_CASES)
def test_a_bad_hyperparameter_is_named_with_its_value(key, value, problem):
    config = demo.get_config("runlocal")
    config.hparams[key] = value
    with pytest.raises(ValueError) as raised:
        experiment.check_config(config)
    assert str(raised.value) == f"config.hparams.{key} {problem}"


@pytest.mark.parametrize("layers", ["0_2", "1_0", "0_0", "a", "_"])
def test_adapter_layers_must_be_ascending_blocks_of_the_path(layers):
    config = demo.get_config("runlocal")
    config.hparams.adapter_layers = layers
    with pytest.raises(ValueError) as raised:
        experiment.check_config(config)
    assert str(raised.value) == ADAPTERS.format(layers)


def test_the_shipped_configs_and_edge_values_pass():
    config = demo.get_config("runlocal")
    experiment.check_config(config)
    config.autotune = "off"  # No ranges: the values' own rules only.
    config.hparams.adapter_layers = "0_1"
    config.hparams._mu_ = 1.0
    config.hparams.opt_momentum = 0.0
    config.hparams.ds_area_range_min = 1.0
    config.hparams.ds_brightness_delta = 0.3
    config.hparams.ds_hue_delta = 0.5
    config.intermediate_state_secs = 0.0
    config.root.num_layers = -1
    config.reference_flops = 3.8e12  # µ3Net's large config.
    experiment.check_config(config)


# --- Through the launcher: one line, exit 1, the workdir left empty. ---

# name -> (arguments besides --workdir, the exact last line of stderr).
LAUNCHES = {
    "image size": (
        [DEMO, "--config.hparams.ds_image_size=0"],
        "evolve: --config: config.hparams.ds_image_size must be an int >= 1; "
        "got 0.",
    ),
    "seed": (
        [DEMO, "--seed=-1"],
        "evolve: --seed must be an int >= 0; got -1.",
    ),
    "keep_states": (
        [DEMO, "--config.keep_states=0"],
        "evolve: --config: config.keep_states must be an int >= 1; got 0.",
    ),
    "intermediate_state_secs": (
        [DEMO, "--config.intermediate_state_secs=-5"],
        "evolve: --config: config.intermediate_state_secs must be a number "
        ">= 0; got -5.0.",
    ),
    "method": (
        [DEMO + ",method=bogus"],
        "evolve: --config: Config argument method: Unknown method 'bogus'; "
        f"use {METHODS}.",
    ),
    "method argument": (
        [DEMO + ",method=freeze_bottom:x"],
        "evolve: --config: Config argument method: Method 'freeze_bottom:x' "
        "needs an integer argument.",
    ),
    "config argument": (
        [DEMO + ",bogus=1"],
        "evolve: --config: Unknown config argument 'bogus' in "
        "'runlocal,bogus=1'; known: autotune, method, runlocal.",
    ),
    # The resolver asks the GCE metadata server for the project; here a
    # closed local port refuses it at once.
    "tpu": (
        [DEMO, "--tpu=nosuch"],
        "evolve: --tpu=nosuch: cannot reach this TPU (URLError: <urlopen "
        "error [Errno 111] Connection refused>).",
    ),
}
ENV = dict(
    os.environ,
    TF_CPP_MIN_LOG_LEVEL="2",
    GCE_METADATA_HOST="127.0.0.1:9",
)


def evolve(args, workdir):
    args = (*args, f"--workdir={workdir}")
    return launchers_test.launch("evolve", *args, check=False, env=ENV)


@pytest.fixture(scope="module")
def launches(tmp_path_factory):
    """name -> (result, workdir): each LAUNCHES case on an empty workdir."""
    root = tmp_path_factory.mktemp("checks")
    workdirs = {name: root / f"w{i}" for i, name in enumerate(LAUNCHES)}
    for workdir in workdirs.values():
        workdir.mkdir()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = {
            name: pool.submit(evolve, LAUNCHES[name][0], workdirs[name])
            for name in LAUNCHES
        }
        return {
            name: (f.result(), workdirs[name]) for name, f in futures.items()
        }


@pytest.mark.parametrize("name", sorted(LAUNCHES))
def test_evolve_refuses_in_one_line_before_any_write(launches, name):
    result, workdir = launches[name]
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == LAUNCHES[name][1]
    assert os.listdir(workdir) == []
