import pytest

from mu2keras.evolution import score


def test_base_one_is_the_quality():
    assert (
        score.score(0.875, 5e6, base=1.0, reference_params=1_484_162) == 0.875
    )


def test_size_scale_discounts_by_accounted_params():
    ref = score.REFERENCE_PARAMS["Ti/16"]
    assert ref == 1_484_162
    # A path of exactly the reference size pays one factor of the base.
    assert score.score(
        0.9, ref, base=0.95, reference_params=ref
    ) == pytest.approx(0.9 * 0.95)
    half = score.score(0.9, ref / 2, base=0.95, reference_params=ref)
    assert half == pytest.approx(0.9 * 0.95**0.5)


def test_reference_counts_and_bad_arguments():
    assert score.REFERENCE_PARAMS["B/16"] == 85_652_738
    assert score.REFERENCE_PARAMS["L/16"] == 303_303_682
    with pytest.raises(ValueError, match="base must be in \\(0, 1\\]; got 1.5"):
        score.score(0.5, 10, base=1.5, reference_params=10)
    with pytest.raises(ValueError, match="reference_params must be positive"):
        score.score(0.5, 10, reference_params=0)
