import pytest

from mu2keras.evolution import method


def test_mu2net_and_munet():
    mu2 = method.parse_method("mu2net", 3)
    assert not mu2.baseline and mu2.global_mu is None and not mu2.strict
    assert mu2.inherit_momentum and mu2.score_base == 1.0
    mu = method.parse_method("munet", 3)
    assert mu.global_mu == 0.1 and mu.strict and mu.seed_phase
    assert not mu.inherit_momentum


def test_baselines_train_what_their_definition_says():
    full = method.parse_method("finetune_all", 3)
    assert full.baseline and full.global_mu == 1.0
    frozen = method.parse_method("freeze_bottom:1", 3)
    assert frozen.global_mu == 0.0
    assert frozen.force_finetune == (
        "encoder_norm",
        "encoderblock_1",
        "encoderblock_2",
    )
    adapters = method.parse_method("adapters:16", 3)
    assert adapters.adapter_layers == "0_1_2" and adapters.adapter_dim == 16
    assert adapters.force_finetune == ("encoder_norm",)
    assert adapters.global_mu == 0.0


def test_size_scale():
    scaled = method.parse_method("size_scale:95", 3)
    assert scaled.score_base == 0.95 and scaled.max_layers == 3
    assert not scaled.baseline


@pytest.mark.parametrize(
    "text, message",
    [
        ("mu3net", "Unknown method 'mu3net'"),
        ("freeze_bottom", "needs an integer argument"),
        ("freeze_bottom:4", r"4 is not in \[0, 3\]"),
        ("adapters:0", "0 is not in >= 1"),
        ("size_scale:120", r"120 is not in \[1, 100\]"),
        ("munet:2", "takes no argument"),
    ],
)
def test_bad_methods_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        method.parse_method(text, 3)
