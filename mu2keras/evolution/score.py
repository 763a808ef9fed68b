"""The µ2Net score: quality, discounted by size (spec §2.8).

    score = quality × base ^ (accounted_params / reference_params)

With base 1.0 (µ2Net's default, `method=mu2net`) there is no size penalty
and the score is the validation accuracy; `size_scale:P` uses base P/100.

A path's accounted parameters (spec §1.4) are not fixed: they fall when a
later task's retained path shares one of its components. So the score that
orders a task's paths, picks its best and sets a child's acceptance
threshold is recomputed from the live locks each time (`Scorer`), as the
reference's `ScorerDecay` does; `metrics["score"]` only records the score a
path had when it was trained.
"""

import dataclasses
import math

# The reference notebook's dummy models with a 2-class head (spec §1.2).
REFERENCE_PARAMS = {
    "Ti/16": 1_484_162,  # 3 layers, 32 px.
    "B/16": 85_652_738,  # 12 layers, 32 px.
    "L/16": 303_303_682,  # 24 layers, 224 px.
    "Mu/4": 206_594,  # 4 layers, 28 px: the offline study (configs/study.py).
    "dinov2_s14": 21_620_354,  # 12 layers, 224 px (as L/16): configs/demo.py.
}


def score(quality, accounted_params, base=1.0, reference_params=1):
    """Returns the score of a path with validation accuracy `quality`."""
    if not 0.0 < base <= 1.0:
        raise ValueError(f"The score base must be in (0, 1]; got {base}.")
    if reference_params <= 0:
        raise ValueError(
            f"reference_params must be positive; got {reference_params}."
        )
    return quality * base ** (accounted_params / reference_params)


@dataclasses.dataclass(frozen=True)
class Scorer:
    """Scores paths from their stored quality and live accounted params.

    Attributes:
        base: float in (0, 1]. The size penalty's base.
        reference_params: number > 0. Parameters that cost one `base`.
    """

    base: float = 1.0
    reference_params: float = 1

    def __post_init__(self):
        score(0.0, 0.0, self.base, self.reference_params)  # Checks both.

    def __call__(self, path):
        """`path`'s score now: its `metrics["quality"]` (the best
        validation accuracy) with its accounted parameters under the
        current locks."""
        quality = path.metrics.get("quality")
        if not _is_number(quality):
            raise ValueError(
                f"{path} has no numeric 'quality' metric; got {quality!r}."
            )
        return self.of_quality(path.accounted_params())(quality)

    def of_quality(self, accounted_params):
        """The score as a function of quality, for fixed accounted
        parameters: a candidate's while it trains (no lock changes)."""
        return lambda quality: score(
            quality, accounted_params, self.base, self.reference_params
        )


def run_scorer(config, method):
    """The `Scorer` of a run: the method's base (size_scale:P) or the
    config's `score_base`, and the config's `reference_params`."""
    base = config.score_base if method.score_base == 1.0 else method.score_base
    return Scorer(base, config.reference_params)


def _is_number(value):
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not math.isnan(value)
    )
