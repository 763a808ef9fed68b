"""The data hyperparameters of a path (spec §2.6): the `ds_*` keys.

µ2Net samples these once per generation (spec §2.3) and stores them with
each path's other hyperparameters, so the pipeline accepts either a
`DataHparams` or the path's plain dict (whose non-`ds_` keys it ignores).
"""

import dataclasses
import numbers

import numpy as np

DATA_HPARAM_PREFIX = "ds_"


@dataclasses.dataclass(frozen=True)
class DataHparams:
    """Input size and augmentation of one path (spec §2.6, §5.3).

    The defaults are the reference's for the ti0/ti3 configs.

    Attributes:
        ds_image_size: int. Images are resized to this square size.
        ds_crop: bool. Inception-style random crop in training.
        ds_area_range_min: float in (0, 1]. Smallest crop area, as a share
            of the image; 1 turns cropping off.
        ds_aspect_ratio_range_min: float in (0, 1]. Crop aspect ratios lie in
            `[r, 1 / r]`.
        ds_flip_left_right: bool. Random horizontal flip in training.
        ds_brightness_delta: float >= 0. Random brightness shift in
            `[-delta, delta]` (on the [-1, 1] scale); 0 turns it off.
        ds_contrast_delta: float in [0, 1). Contrast factor in
            `[1 - delta, 1 + delta]`; 0 turns it off.
        ds_saturation_delta: float in [0, 1). Saturation factor in
            `[1 - delta, 1 + delta]`; 0 turns it off.
        ds_hue_delta: float in [0, 0.5]. Random hue shift; 0 turns it off.
    """

    ds_image_size: int = 32
    ds_crop: bool = True
    ds_area_range_min: float = 0.05
    ds_aspect_ratio_range_min: float = 0.75
    ds_flip_left_right: bool = True
    ds_brightness_delta: float = 0.0
    ds_contrast_delta: float = 0.0
    ds_saturation_delta: float = 0.0
    ds_hue_delta: float = 0.0

    def __post_init__(self):
        size = self.ds_image_size
        if not _is_int(size) or size < 1:
            raise ValueError(
                f"`ds_image_size` must be a positive int; got {size!r}."
            )
        for key in ("ds_crop", "ds_flip_left_right"):
            value = getattr(self, key)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"`{key}` must be a bool; got {value!r}.")
        _check_range(self, "ds_area_range_min", 0.0, 1.0, low_open=True)
        _check_range(self, "ds_aspect_ratio_range_min", 0.0, 1.0, low_open=True)
        _check_range(self, "ds_brightness_delta", 0.0, float("inf"))
        # tf.image needs a non-negative lower factor 1 - delta.
        _check_range(self, "ds_contrast_delta", 0.0, 1.0, high_open=True)
        _check_range(self, "ds_saturation_delta", 0.0, 1.0, high_open=True)
        _check_range(self, "ds_hue_delta", 0.0, 0.5)

    @classmethod
    def from_dict(cls, hparams):
        """Builds `DataHparams` from a path's hyperparameter dict.

        Args:
            hparams: dict. Must hold every `ds_*` key and no unknown one;
                keys without the `ds_` prefix are ignored.
        """
        given = {
            k: v for k, v in hparams.items() if k.startswith(DATA_HPARAM_PREFIX)
        }
        keys = set(DATA_HPARAM_KEYS)
        unknown, missing = sorted(set(given) - keys), sorted(keys - set(given))
        if unknown or missing:
            raise ValueError(
                f"Data hparams must have exactly the keys {DATA_HPARAM_KEYS}; "
                f"unknown: {unknown}, missing: {missing}."
            )
        return cls(**given)

    def to_dict(self):
        """Returns the `ds_*` keys and values as a plain dict."""
        return dataclasses.asdict(self)


DATA_HPARAM_KEYS = tuple(f.name for f in dataclasses.fields(DataHparams))


def as_data_hparams(hparams):
    """Returns `hparams` as `DataHparams`.

    Args:
        hparams: `DataHparams` or dict (see `DataHparams.from_dict`).
    """
    if isinstance(hparams, DataHparams):
        return hparams
    if isinstance(hparams, dict):
        return DataHparams.from_dict(hparams)
    raise ValueError(
        f"Expected DataHparams or a dict of ds_* hparams; got {hparams!r}."
    )


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_range(hparams, key, low, high, low_open=False, high_open=False):
    value = getattr(hparams, key)
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"`{key}` must be a number; got {value!r}.")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low}, {high}"
        interval += ")" if high_open else "]"
        raise ValueError(f"`{key}` must lie in {interval}; got {value!r}.")
