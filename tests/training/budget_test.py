"""The steps arithmetic of spec §2.7 on the reference's configurations."""

import pytest

from mu2keras import training


def test_rejects_bad_values():
    with pytest.raises(ValueError, match="batch_size"):
        training.steps_between_validations(10, 10, 0)
    with pytest.raises(ValueError, match="num_validations"):
        training.total_steps(3, True)
