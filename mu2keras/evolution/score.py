"""The µ2Net score: quality, discounted by size (spec §2.8).

    score = quality × base ^ (accounted_params / reference_params)

With base 1.0 (µ2Net's default, `method=mu2net`) there is no size penalty
and the score is the validation accuracy; `size_scale:P` uses base P/100.
"""

# The reference notebook's dummy models with a 2-class head (spec §1.2).
REFERENCE_PARAMS = {
    "Ti/16": 1_484_162,  # 3 layers, 32 px.
    "B/16": 85_652_738,  # 12 layers, 32 px.
    "L/16": 303_303_682,  # 24 layers, 224 px.
    "Mu/4": 206_594,  # 4 layers, 28 px: the offline study (configs/study.py).
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
