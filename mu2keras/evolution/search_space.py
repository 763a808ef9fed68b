"""Hyperparameter defaults and search spaces of µ2Net (spec §2.6).

A path's hyperparameters are a flat dict. Keys with a *range* (an ordered
list of values) can mutate; a mutation moves the value one step up or down
the list (spec §2.3, "incremental mutation"). Keys starting with `ds_` are
data hyperparameters, sampled once per generation (spec §2.3); the others
mutate per child with probability µ (spec §2.5).

Settings are the reference notebook's benchmark options: "ti0" (ViT tiny 0
layers / cmaterdb), "ti3" (ViT tiny 3 layers / Chars), "b16" (ViT base /
VDD) and "l16" (ViT large, the 69-task system). Auto-tune tables: µ2Net's
"v1" and "v2", and µNet's "munet" (`method=munet`'s default).
"""

import copy

_COMMON_DEFAULTS = {
    "_mu_": 0.2,
    "num_layers": 0,
    "adapter_layers": "",
    "adapter_dim": 32,
    "opt_lr": 0.01,
    "opt_lr_schedule": "cosine",
    "opt_lr_warmup_ratio": 0.1,
    "opt_momentum": 0.9,
    "opt_nesterov": False,
    "ds_image_size": 32,
    "ds_crop": True,
    "ds_area_range_min": 0.05,
    "ds_aspect_ratio_range_min": 0.75,
    "ds_flip_left_right": True,
    "ds_brightness_delta": 0.0,
    "ds_contrast_delta": 0.0,
    "ds_saturation_delta": 0.0,
    "ds_hue_delta": 0.0,
    "num_classes": 1,  # Always overwritten with the task's class count.
}

# Spec §2.6, "Defaults": only the differences from _COMMON_DEFAULTS.
_DEFAULT_OVERRIDES = {
    "ti0": {},
    "ti3": {"_mu_": 0.1, "num_layers": 3},
    "b16": {"_mu_": 0.1, "num_layers": 12, "ds_image_size": 80},
    "l16": {
        "num_layers": 24,
        "adapter_dim": 16,
        "opt_lr_warmup_ratio": 0.05,
        "ds_image_size": 384,
    },
}
DEFAULT_HPARAMS = {
    setting: {**_COMMON_DEFAULTS, **overrides}
    for setting, overrides in _DEFAULT_OVERRIDES.items()
}

# Spec §2.6, "Base mutation ranges before auto-tune": ti0 grows 0..3 layers.
BASE_RANGES = {
    "ti0": {"num_layers": [0, 1, 2, 3]},
    "ti3": {},
    "b16": {},
    "l16": {},
}

_LR = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
_WARMUP = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4]
_AREA = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
_ASPECT = [0.25, 0.5, 0.75, 1.0]
_DELTA = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]
_COLOUR = {
    f"ds_{name}_delta": _DELTA
    for name in ("brightness", "contrast", "saturation", "hue")
}

AUTOTUNE = {
    # Spec §2.6, auto-tune v1 (ti3 Chars, base VDD). The notebook's first
    # momentum value, None, crashes it (spec §9.1); 0.0 means what None
    # meant, plain SGD without momentum.
    "v1": {
        "adapter_dim": [8, 16, 32, 64, 128],
        "opt_lr": _LR,
        "opt_lr_schedule": ["constant", "cosine", "restarts"],
        "opt_lr_warmup_ratio": _WARMUP,
        "opt_momentum": [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
        + [0.95, 0.98, 0.99],
        "opt_nesterov": [True, False],
        "ds_image_size": list(range(16, 385, 16)),
        "ds_area_range_min": _AREA,
        "ds_aspect_ratio_range_min": _ASPECT,
        "ds_flip_left_right": [True, False],
        **_COLOUR,
    },
    # Spec §2.6, auto-tune v2 (ti0 cmaterdb, every ViT-L benchmark).
    "v2": {
        "_mu_": [round(0.10 + 0.02 * i, 2) for i in range(11)],
        "opt_lr": _LR,
        "opt_lr_warmup_ratio": _WARMUP,
        "opt_momentum": [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99],
        "opt_nesterov": [True, False],
        "ds_area_range_min": _AREA,
        "ds_crop": [True, False],
        "ds_aspect_ratio_range_min": _ASPECT,
        "ds_flip_left_right": [True, False],
        **_COLOUR,
    },
}

# Spec §8.2, µNet's auto-tune (muNet.ipynb `exp_config_add_auto_tune`): v1
# with learning rates only up to 0.1 and µNet's momentum list, whose None
# is 0.0 here as in v1.
AUTOTUNE["munet"] = {
    **AUTOTUNE["v1"],
    "opt_lr": _LR[: _LR.index(0.1) + 1],
    "opt_momentum": [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
}

# Which auto-tune table each setting uses when auto-tune is on (spec §2.6).
DEFAULT_AUTOTUNE = {"ti0": "v2", "ti3": "v1", "b16": "v1", "l16": "v2"}


def search_space(setting, autotune="default", max_layers=None, num_layers=None):
    """Returns `(defaults, ranges)` for a benchmark setting.

    Args:
        setting: str. "ti0", "ti3", "b16" or "l16".
        autotune: str. "default" (the setting's table), "v1", "v2",
            "munet" or "off".
        max_layers: int or None. Adds a `num_layers` range 1..max_layers
            (0..top for a setting that grows from 0 layers), as the `Size
            scale:P` configurations do (spec §2.8).
        num_layers: int or None. The paths' depth when a config overrides
            the setting's, so that the range and its check use it.

    Returns:
        Two new dicts: default hyperparameters, and key -> ordered values.
    """
    if setting not in DEFAULT_HPARAMS:
        raise ValueError(
            f"Unknown setting {setting!r}; known: {sorted(DEFAULT_HPARAMS)}."
        )
    if autotune == "default":
        autotune = DEFAULT_AUTOTUNE[setting]
    if autotune not in ("off", *AUTOTUNE):
        raise ValueError(
            f"Unknown autotune {autotune!r}; use 'default', 'v1', 'v2', "
            "'munet' or 'off'."
        )
    defaults = copy.deepcopy(DEFAULT_HPARAMS[setting])
    if num_layers is not None:
        defaults["num_layers"] = num_layers
    ranges = copy.deepcopy(BASE_RANGES[setting])
    if autotune != "off":
        ranges.update(copy.deepcopy(AUTOTUNE[autotune]))
    if max_layers is not None:
        # Size scale lets layers be dropped down to 1 (spec §2.8); a setting
        # that grows from 0 (ti0) keeps 0 and its own top.
        top = max([max_layers] + ranges.get("num_layers", []))
        low = min(1, defaults["num_layers"])
        ranges["num_layers"] = list(range(low, top + 1))
    validate(defaults, ranges)
    return defaults, ranges


def validate(defaults, ranges):
    """Checks every range and that each default lies inside its range."""
    for key, values in ranges.items():
        if key not in defaults:
            raise ValueError(f"Range for unknown hyperparameter {key!r}.")
        if not values or any(v is None for v in values):
            raise ValueError(f"Range of {key!r} is empty or has None: {values}")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"Range of {key!r} repeats a value: {values}")
        if defaults[key] not in values:
            raise ValueError(
                f"Default {key}={defaults[key]!r} is outside its range "
                f"{values}."
            )
    for key, value in defaults.items():
        if value is None:
            raise ValueError(f"Default {key!r} is None.")


def incremental_mutation(values, current, rng):
    """Moves `current` one step up or down `values`, clipped at the ends.

    Spec §2.3: +1 or -1 index with probability 1/2 each. A numeric value
    that is not in the list (e.g. from a system grown with other ranges)
    starts from the nearest listed value.
    """
    index = _index_of(values, current)
    step = 1 if rng.random() < 0.5 else -1
    return values[min(max(index + step, 0), len(values) - 1)]


def _index_of(values, current):
    if current in values:
        return values.index(current)
    numeric = all(isinstance(v, (int, float)) for v in values + [current])
    if not numeric or isinstance(current, bool):
        raise ValueError(f"{current!r} is not one of {values}.")
    return min(range(len(values)), key=lambda i: abs(values[i] - current))
