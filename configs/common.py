r"""What the experiment configs share: `parse_arg` and the reference's tables.

Every config file has one `get_config(arg=None)` (big_vision style). `arg`
is the text after the colon of `--config=configs/FILE.py:ARG`, a comma list
of `key=value` items and bare boolean flags:

  --config=configs/ti3_chars.py:method=adapters:16,autotune=off,runlocal

The tables below are the reference notebook's benchmark options (spec §1.3,
§2.2, §2.6-§2.8, §4), one row per setting of
`mu2keras.evolution.search_space`.
"""

import ml_collections

from mu2keras import experiment
from mu2keras.evolution import method as method_lib
from mu2keras.evolution import score
from mu2keras.evolution import search_space
from mu2keras.pretrained.augreg import AUGREG_CHECKPOINTS
from mu2keras.pretrained.augreg import AUGREG_DIR

# Spec §2.7 (batch, N_v cap in examples, N_e, validation cap), §2.2
# (samples per task), §4 (task iterations per run), §1.6 (adapter mutation).
# Candidates per generation are left to `num_candidates = 0`, one per
# replica, the reference's one per device (8 × 8 on its 8 cores, 4 × 32 on
# ViT-L's 32, and one at a time on one device; spec §2.2, §6.1).
BUDGETS = {
    "ti0": dict(
        batch_size=512,
        max_train_examples_between_validations=51_200,
        num_validations=4,
        max_validation_examples=5_120,
        num_samples_per_task=32,
        num_task_iters=2,
        mutate_adapters=False,
    ),
    "ti3": dict(
        batch_size=512,
        max_train_examples_between_validations=51_200,
        num_validations=5,
        max_validation_examples=5_120,
        num_samples_per_task=64,
        num_task_iters=2,
        mutate_adapters=True,
    ),
    "b16": dict(
        batch_size=256,
        max_train_examples_between_validations=51_200,
        num_validations=30,
        max_validation_examples=5_120,
        num_samples_per_task=64,
        num_task_iters=2,
        mutate_adapters=True,
    ),
    # "Fit HBM: TPUv4 megacore=64": N_v = 2,002 batches, ~1/10 ImageNet.
    "l16": dict(
        batch_size=64,
        max_train_examples_between_validations=128_116,
        num_validations=4,
        max_validation_examples=10_000,
        num_samples_per_task=128,
        num_task_iters=1,
        mutate_adapters=False,
    ),
}

# Spec §1.3: the root of each setting, as (variant, AugReg checkpoint name in
# `AUGREG_CHECKPOINTS` or None for a random root, blocks of a random root).
# ti0 takes only the architecture of the Ti/16 checkpoint: it grows from a
# random root without blocks (PRNG key 0).
ROOTS = {
    "ti0": ("Ti/16", None, 0),
    "ti3": ("Ti/16", "augreg_ti16_i21k_light1_wd0.1_sd0", None),
    "b16": ("B/16", "augreg_b16_i21k_medium1_wd0.1_sd0", None),
    "l16": ("L/16", "augreg_l16_i21k_medium2_wd0.03_sd0.1", None),
}

# Spec §2.8: `ref_params` of the size penalty, per ViT variant.
REFERENCE_PARAMS = score.REFERENCE_PARAMS

# Values of the `autotune=` argument ("": the setting's table, spec §2.6).
AUTOTUNE_ARGS = ("", "v1", "v2", "off")

# The `runlocal` budget: a wiring check in minutes on a CPU, with a tiny
# random root (each config also swaps the root; the data must be reachable).
RUNLOCAL = dict(
    batch_size=32,
    max_train_examples_between_validations=256,
    num_validations=2,
    max_validation_examples=64,
    num_samples_per_task=4,
    num_candidates=2,
    num_task_iters=1,
)


def parse_arg(arg, **spec):
    """Parses a config's `arg` string into a locked ConfigDict.

    Each `spec` item names an accepted key and its default; the default's
    type (bool, int, float or str) is the key's type. Items are `key=value`
    or, for a bool, a bare `key` meaning True. Bools are strict ("True",
    "true", "1", "False", "false", "0"). Unknown or repeated keys raise.

    Args:
        arg: str or None. E.g. "method=freeze_bottom:2,runlocal".
        **spec: key=default pairs.

    Returns:
        A locked `ml_collections.ConfigDict` with every key of `spec`.

    Example:

    >>> arg = parse_arg("runlocal,batch=64", runlocal=False, batch=512)
    >>> arg.batch, arg.runlocal
    (64, True)
    """
    result = ml_collections.ConfigDict(spec)
    seen = set()
    for item in (arg or "").split(","):
        if not item.strip():
            continue
        key, has_value, raw = item.partition("=")
        key = key.strip()
        if key not in spec:
            raise ValueError(
                f"Unknown config argument {key!r} in {arg!r}; known: "
                f"{', '.join(sorted(spec))}."
            )
        if key in seen:
            raise ValueError(f"Config argument {key!r} repeats in {arg!r}.")
        seen.add(key)
        result[key] = _parse_value(key, spec[key], raw, has_value)
    result.lock()
    return result


def _parse_value(key, default, raw, has_value):
    if isinstance(default, bool):
        if not has_value:
            return True
        values = {"true": True, "1": True, "false": False, "0": False}
        if raw.lower() not in values:
            raise ValueError(
                f"Config argument {key} is a bool (true/false); got {raw!r}."
            )
        return values[raw.lower()]
    if not has_value:
        raise ValueError(f"Config argument {key!r} needs a value: {key}=...")
    try:
        return type(default)(raw)
    except ValueError:
        raise ValueError(
            f"Config argument {key} is a {type(default).__name__}; got {raw!r}."
        ) from None


def augreg_path(name):
    """The gs:// path of a named AugReg checkpoint (`AUGREG_CHECKPOINTS`)."""
    if name not in AUGREG_CHECKPOINTS:
        raise ValueError(
            f"Unknown AugReg checkpoint {name!r}; known: "
            f"{sorted(AUGREG_CHECKPOINTS)}."
        )
    return f"{AUGREG_DIR}/{AUGREG_CHECKPOINTS[name][1]}"


def setting_config(setting, arg):
    """The experiment config of a reference setting, before its tasks.

    Fills `mu2keras.experiment.default_config()` from the tables above:
    budget, root, reference parameters, and the method and auto-tune of
    `arg` (its `method` and `autotune` keys).

    Args:
        setting: str. "ti0", "ti3", "b16" or "l16".
        arg: the `parse_arg` result, with `method` and `autotune`.

    Returns:
        An unlocked `ml_collections.ConfigDict`.
    """
    if setting not in BUDGETS:
        raise ValueError(
            f"Unknown setting {setting!r}; known: {sorted(BUDGETS)}."
        )
    config = experiment.default_config()
    config.setting = setting
    config.update(BUDGETS[setting])
    variant, checkpoint, num_layers = ROOTS[setting]
    config.root.variant = variant
    config.root.augreg_npz = augreg_path(checkpoint) if checkpoint else ""
    config.root.num_layers = -1 if num_layers is None else num_layers
    config.reference_params = REFERENCE_PARAMS[variant]
    set_method(config, arg.method, arg.autotune)
    return config


def set_method(config, method, autotune):
    """Sets `config.method` and `config.autotune`, checking the pair.

    Spec §7.4: auto-tune goes only with the evolutionary methods (µ2Net,
    µNet, size_scale); the baselines search nothing, so their auto-tune is
    "off".

    Args:
        config: the experiment ConfigDict (its `setting` already set).
        method: str. A method string (`mu2keras.evolution.method`).
        autotune: str. "" (the setting's table; µNet's own with
            `method=munet`, spec §8.2), "v1", "v2" or "off".
    """
    if autotune not in AUTOTUNE_ARGS:
        raise ValueError(
            f"Config argument autotune must be v1, v2 or off; got {autotune!r}."
        )
    num_layers = search_space.DEFAULT_HPARAMS[config.setting]["num_layers"]
    try:
        parsed = method_lib.parse_method(method, num_layers)
    except ValueError as error:
        raise ValueError(f"Config argument method: {error}") from None
    if parsed.baseline and autotune not in ("", "off"):
        raise ValueError(
            f"Config argument autotune={autotune} cannot go with the baseline "
            f"method={method}: baselines search no hyperparameters (spec "
            "§7.4)."
        )
    config.method = method
    if parsed.baseline:
        config.autotune = "off"
    else:
        config.autotune = (
            autotune
            or parsed.autotune
            or search_space.DEFAULT_AUTOTUNE[config.setting]
        )


def benchmark_config(setting, tasks, arg, runlocal_image_size=None):
    """A reference setting on a task list, with its `runlocal` shrink block.

    Args:
        setting: str. "ti0", "ti3", "b16" or "l16".
        tasks: list of str. The task names, in order.
        arg: str or None. The config argument (`method`, `autotune`,
            `runlocal`).
        runlocal_image_size: int or None. Image size of the tiny local run.
    """
    arg = parse_arg(arg, method="mu2net", autotune="", runlocal=False)
    config = setting_config(setting, arg)
    config.tasks = list(tasks)
    if arg.runlocal:
        config.update(RUNLOCAL)
        config.root.variant = "testing"
        config.root.augreg_npz = ""
        if runlocal_image_size:
            config.hparams.ds_image_size = runlocal_image_size
    return config
