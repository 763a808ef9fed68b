"""The value rules of the experiment config (`mu2keras.experiment`).

`check_fields(config)` checks the run's scalar fields, `check_hparams` the
default hyperparameters once `config.hparams` is applied. The rules are
those of the code that uses each value (spec §2.6): the state writer
(`keep_states`), numpy's generator (`seed`), the score (`reference_params`,
`reference_flops`), the input pipeline (`mu2keras.tasks.DataHparams`: the
`ds_*` keys), the optimizer and its schedules (`opt_*`), the mutations
(`_mu_`, layers and adapters) and the patch embedding (an image size is a
multiple of the root's patch). Both run before any work; each error is one
line naming the field and its value.
"""

import numbers

from mu2keras import architecture
from mu2keras.training import schedules


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int(low):
    return (lambda v: _is_int(v) and v >= low), f"an int >= {low}"


def _interval(low, high, low_open=False, high_open=False):
    """A number in an interval; NaN is never in one."""

    def rule(value):
        if not _is_number(value):
            return False
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below

    text = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return rule, f"a number in {text}"


def _above(low, strict):
    sign = ">" if strict else ">="
    return (
        lambda v: _is_number(v) and (v > low if strict else v >= low),
        f"a number {sign} {low}",
    )


_BOOL = (lambda v: isinstance(v, bool), "True or False")
_STR = (lambda v: isinstance(v, str), "a string")
_INF = float("inf")
_MISSING = object()  # A field an older config lacks: its default applies.

# The config's scalar fields (the others are checked in `experiment`).
FIELD_RULES = {
    "seed": _int(0),  # numpy's SeedSequence takes no negative seed.
    "root.seed": _int(0),
    "root.num_layers": (
        lambda v: _is_int(v) and v >= -1,
        "an int >= 0, or -1 (see experiment.default_config)",
    ),
    "reference_params": _above(0, strict=True),
    # µ3Net's FLOPs term of the score (`mu2keras.evolution.score`).
    "reference_flops": (
        lambda v: _is_number(v) and 0 <= v < _INF,
        "a finite number >= 0 (0: no FLOPs term)",
    ),
    "intermediate_state_secs": _above(0, strict=False),
    "keep_states": _int(1),
    "num_task_iters": _int(1),
    "num_samples_per_task": _int(1),
    "batch_size": _int(1),
    "num_validations": _int(1),
    "max_train_examples_between_validations": _int(1),
    "max_validation_examples": _int(1),
    "mutate_adapters": _BOOL,
    "check_immutability": _BOOL,
    "retest_ended_tasks": _BOOL,
    "export_saved_model": _BOOL,
    # The components' precision (`mu2keras.architecture.DTYPE_POLICIES`).
    "compute_dtype": (
        lambda v: v in architecture.DTYPE_POLICIES,
        "one of " + ", ".join(architecture.DTYPE_POLICIES),
    ),
    "data_dir": _STR,
    "user_tasks": _STR,
}

# The hyperparameters' values (spec §2.6), the rules of the code using them.
HPARAM_RULES = {
    "_mu_": _interval(0, 1),
    "num_layers": _int(0),
    "adapter_dim": _int(1),
    "opt_lr": _above(0, strict=True),
    "opt_lr_warmup_ratio": _interval(0, 1, high_open=True),
    "opt_momentum": _interval(0, 1, high_open=True),
    "opt_nesterov": _BOOL,
    "opt_lr_schedule": (
        lambda v: v in schedules.SCHEDULES,
        f"one of {', '.join(schedules.SCHEDULES)}",
    ),
    "ds_image_size": _int(1),
    "ds_crop": _BOOL,
    "ds_flip_left_right": _BOOL,
    "ds_area_range_min": _interval(0, 1, low_open=True),
    "ds_aspect_ratio_range_min": _interval(0, 1, low_open=True),
    "ds_brightness_delta": _interval(0, _INF),
    # tf.image needs a non-negative lower factor 1 - delta.
    "ds_contrast_delta": _interval(0, 1, high_open=True),
    "ds_saturation_delta": _interval(0, 1, high_open=True),
    "ds_hue_delta": _interval(0, 0.5),
}


def check_fields(config):
    """Raises ValueError naming the first field of `FIELD_RULES` that
    breaks its rule, and its value."""
    for key, (rule, text) in FIELD_RULES.items():
        value = config
        for part in key.split("."):
            value = value.get(part, _MISSING)
        if value is not _MISSING and not rule(value):
            raise ValueError(f"config.{key} must be {text}; got {value!r}.")


def check_hparams(defaults, patch_size=None):
    """Raises ValueError naming the first bad default hyperparameter.

    Args:
        defaults: dict. The search space's defaults with `config.hparams`
            (and the method's fixed values) applied.
        patch_size: int or None. The root's patch size, which divides every
            image size; None when not known before the root is loaded (a
            promoted root).
    """
    for key, (rule, text) in HPARAM_RULES.items():
        value = defaults.get(key)
        if key in defaults and not rule(value):
            raise ValueError(
                f"config.hparams.{key} must be {text}; got {value!r}."
            )
    size = defaults.get("ds_image_size")
    if patch_size and size % patch_size:
        raise ValueError(
            f"config.hparams.ds_image_size must be a multiple of the root's "
            f"patch size {patch_size}; got {size!r}."
        )
    _check_adapter_layers(defaults)


def _check_adapter_layers(defaults):
    text = defaults.get("adapter_layers", "")
    layers = defaults.get("num_layers", 0)
    parts = text.split("_") if isinstance(text, str) and text else []
    indices = [int(p) for p in parts if p.isdigit()]
    if not isinstance(text, str) or (
        len(indices) != len(parts)
        or indices != sorted(set(indices))
        or any(i >= layers for i in indices)
    ):
        raise ValueError(
            "config.hparams.adapter_layers must be '' or block indices below "
            f"num_layers={layers}, ascending, joined by '_' (e.g. '0_2'); got "
            f"{text!r}."
        )
