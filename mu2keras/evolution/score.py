"""The µ2Net score: quality, discounted by size (spec §2.8); µ3Net's adds
compute.

    score = quality × base ^ (accounted_params / reference_params)

With base 1.0 (µ2Net's default, `method=mu2net`) there is no size penalty
and the score is the validation accuracy; `size_scale:P` uses base P/100.

A path's accounted parameters (spec §1.4) are not fixed: they fall when a
later task's retained path shares one of its components. So the score that
orders a task's paths, picks its best and sets a child's acceptance
threshold is recomputed from the live locks each time (`Scorer`), as the
reference's `ScorerDecay` does; `metrics["score"]` only records the score a
path had when it was trained.

µ3Net's score (option)
----------------------

With `config.reference_flops` F_ref > 0 the score is µ3Net's
(arXiv 2209.14745; `ScorerDecay` in mu3Net.ipynb, cell `bkRmcJgzUbwN`):

    score = quality × base ^ (accounted_params / reference_params)
                    × base ^ (flops / reference_flops)

with one base for both terms, as µ3Net's one `scale_factor`
(`config.score_base`, or P/100 under `size_scale:P`). `flops` is the
path's forward FLOPs per example at its image size, counted from its
traced forward function (`mu2keras.evolution.flops`: matmuls, einsums and
convolutions, a multiply-add = 2 FLOPs). Unlike the parameters, FLOPs are
charged whole, not divided among the tasks sharing a component: sharing
saves memory, but every task's inference still runs every component of its
path. µ3Net does the same (its `Path.get_flops`, cell `8PU5ffvd_gC9`,
counts the whole model, and `ScorerDecay` computes it once per path while
recomputing the accounted parameters on every call). A candidate records
its count in `metrics["flops"]`. With base 1.0 the FLOPs term is 1 (µ3Net's
ti3 config runs so); with F_ref = 0 (the default) there is no FLOPs term
and the score is µ2Net's, bit for bit.
"""

import dataclasses
import math

from mu2keras.evolution import flops as flops_lib

# The reference notebook's dummy models with a 2-class head (spec §1.2).
REFERENCE_PARAMS = {
    "Ti/16": 1_484_162,  # 3 layers, 32 px.
    "B/16": 85_652_738,  # 12 layers, 32 px.
    "L/16": 303_303_682,  # 24 layers, 224 px.
    "Mu/4": 206_594,  # 4 layers, 28 px: the offline study (configs/study.py).
    "dinov2_s14": 21_620_354,  # 12 layers, 224 px (as L/16): configs/demo.py.
}

# µ3Net's `ScorerDecay(flops=...)` per agent config (mu3Net.ipynb), by the
# setting of `configs/common.py` it matches. Only ti3's is a path's count
# ("Flops with Ti/16 3 layers and image size 32"; 14.5M here, see
# `mu2keras.evolution.flops`); the others are the notebook's scale choices.
REFERENCE_FLOPS = {
    "ti0": 1_000_000,
    "ti3": 15_000_000,
    "b16": 100_000_000_000,
    "l16": 3_800_000_000_000,
}


def score(
    quality,
    accounted_params,
    base=1.0,
    reference_params=1,
    flops=None,
    reference_flops=0,
):
    """Returns the score of a path with validation accuracy `quality`;
    with `reference_flops` > 0, µ3Net's, discounted by its `flops` too."""
    if not 0.0 < base <= 1.0:
        raise ValueError(f"The score base must be in (0, 1]; got {base}.")
    if reference_params <= 0:
        raise ValueError(
            f"reference_params must be positive; got {reference_params}."
        )
    check_reference_flops(reference_flops)
    result = quality * base ** (accounted_params / reference_params)
    if reference_flops:
        if not _is_number(flops) or flops < 0:
            raise ValueError(
                "A score with reference_flops needs the path's FLOPs, a "
                f"number >= 0; got {flops!r}."
            )
        result *= base ** (flops / reference_flops)
    return result


def check_reference_flops(value):
    """Raises unless `value` is a finite number >= 0 (0: no FLOPs term)."""
    if not _is_number(value) or not 0 <= value < math.inf:
        raise ValueError(
            "reference_flops must be a finite number >= 0 (0: no FLOPs "
            f"term); got {value!r}."
        )


@dataclasses.dataclass(frozen=True)
class Scorer:
    """Scores paths from their stored quality and live accounted params.

    Attributes:
        base: float in (0, 1]. The size (and compute) penalty's base.
        reference_params: number > 0. Parameters that cost one `base`.
        reference_flops: number >= 0. FLOPs per example that cost one
            `base` (µ3Net's score); 0: no FLOPs term (µ2Net's).
    """

    base: float = 1.0
    reference_params: float = 1
    reference_flops: float = 0

    def __post_init__(self):
        # Checks all three.
        score(
            0.0, 0.0, self.base, self.reference_params, 0, self.reference_flops
        )

    def __call__(self, path):
        """`path`'s score now: its `metrics["quality"]` (the best
        validation accuracy) with its accounted parameters under the
        current locks (and its FLOPs under µ3Net's score)."""
        quality = path.metrics.get("quality")
        if not _is_number(quality):
            raise ValueError(
                f"{path} has no numeric 'quality' metric; got {quality!r}."
            )
        scored = self.of_quality(path.accounted_params(), self.flops(path))
        return scored(quality)

    def flops(self, path):
        """`path`'s forward FLOPs per example (`flops.path_flops`, cached
        per structure), or None without a FLOPs term."""
        if not self.reference_flops:
            return None
        return flops_lib.path_flops(path)

    def of_quality(self, accounted_params, flops=None):
        """The score as a function of quality, for fixed accounted
        parameters (and FLOPs): a candidate's while it trains (no lock
        changes)."""
        return lambda quality: score(
            quality,
            accounted_params,
            self.base,
            self.reference_params,
            flops,
            self.reference_flops,
        )

    def for_candidate(self, path, accounted_params):
        """`of_quality` for a candidate path; under µ3Net's score it first
        records the path's FLOPs in `metrics["flops"]`."""
        flops = self.flops(path)
        if flops is not None:
            path.metrics["flops"] = flops
        return self.of_quality(accounted_params, flops)


def run_scorer(config, method):
    """The `Scorer` of a run: the method's base (size_scale:P) or the
    config's `score_base`, the config's `reference_params` and
    `reference_flops` (0 when a config has none)."""
    base = config.score_base if method.score_base == 1.0 else method.score_base
    return Scorer(
        base, config.reference_params, config.get("reference_flops", 0)
    )


def _is_number(value):
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not math.isnan(value)
    )
