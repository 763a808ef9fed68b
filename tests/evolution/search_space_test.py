import numpy as np
import pytest

from mu2keras.evolution import search_space as ss


def test_defaults_match_spec_table():
    d = ss.DEFAULT_HPARAMS
    # Spec §2.6, per setting: µ, layers, adapter_dim, warmup, image size.
    expected = {
        "ti0": (0.2, 0, 32, 0.1, 32),
        "ti3": (0.1, 3, 32, 0.1, 32),
        "b16": (0.1, 12, 32, 0.1, 80),
        "l16": (0.2, 24, 16, 0.05, 384),
    }
    for setting, (mu, layers, adapter, warmup, size) in expected.items():
        h = d[setting]
        assert (
            h["_mu_"],
            h["num_layers"],
            h["adapter_dim"],
            h["opt_lr_warmup_ratio"],
            h["ds_image_size"],
        ) == (mu, layers, adapter, warmup, size)
        assert h["opt_lr"] == 0.01 and h["opt_lr_schedule"] == "cosine"
        assert h["opt_momentum"] == 0.9 and h["opt_nesterov"] is False
        assert h["ds_crop"] and h["ds_flip_left_right"]
        assert h["ds_area_range_min"] == 0.05
        assert h["ds_aspect_ratio_range_min"] == 0.75
        assert h["adapter_layers"] == ""
        for colour in ("brightness", "contrast", "saturation", "hue"):
            assert h[f"ds_{colour}_delta"] == 0.0


def test_autotune_tables():
    v1, v2 = ss.AUTOTUNE["v1"], ss.AUTOTUNE["v2"]
    assert v2["_mu_"] == [0.1, 0.12, 0.14, 0.16, 0.18, 0.2] + [
        0.22,
        0.24,
        0.26,
        0.28,
        0.3,
    ]
    assert len(v2["_mu_"]) == 11 and v2["_mu_"][-1] == 0.3
    assert "_mu_" not in v1  # µ is not tuned in v1.
    assert len(v1["ds_image_size"]) == 24
    assert v1["ds_image_size"][0] == 16 and v1["ds_image_size"][-1] == 384
    assert len(v1["opt_lr"]) == 12 and v1["opt_lr"] == v2["opt_lr"]
    # v2 keeps schedule, image size and adapter width fixed.
    for key in ("opt_lr_schedule", "ds_image_size", "adapter_dim"):
        assert key not in v2
    assert None not in v1["opt_momentum"] and None not in v2["opt_momentum"]
    assert v2["opt_momentum"][0] == 0.5 and v1["opt_momentum"][0] == 0.0


@pytest.mark.parametrize("setting", sorted(ss.DEFAULT_HPARAMS))
@pytest.mark.parametrize("autotune", ["default", "v1", "v2", "munet", "off"])
def test_every_default_is_inside_its_range(setting, autotune):
    defaults, ranges = ss.search_space(setting, autotune)
    for key, values in ranges.items():
        assert defaults[key] in values, key


def test_munet_table_is_v1_with_munets_lr_and_momentum_lists():
    # Spec §8.2 (muNet.ipynb `exp_config_add_auto_tune`): learning rates up
    # to 0.1 only; momentum None (0.0 here, plain SGD), .2, .4, .5, .6, .7,
    # .8, .9, .95, .99.
    munet, v1 = ss.AUTOTUNE["munet"], ss.AUTOTUNE["v1"]
    assert munet["opt_lr"] == [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3] + [
        0.01,
        0.02,
        0.05,
        0.1,
    ]
    assert munet["opt_momentum"] == [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8] + [
        0.9,
        0.95,
        0.99,
    ]
    assert "_mu_" not in munet  # µNet's µ is global.
    for key in set(v1) - {"opt_lr", "opt_momentum"}:
        assert munet[key] == v1[key], key
    assert set(munet) == set(v1)
    _, ranges = ss.search_space("ti3", "munet", max_layers=3)
    assert ranges["num_layers"] == [1, 2, 3]
    assert max(ranges["opt_lr"]) == 0.1


def test_settings_pick_their_autotune_and_base_ranges():
    _, ti0 = ss.search_space("ti0")
    assert ti0["num_layers"] == [0, 1, 2, 3] and "_mu_" in ti0
    _, ti3 = ss.search_space("ti3")
    assert "adapter_dim" in ti3 and "num_layers" not in ti3
    _, off = ss.search_space("ti3", "off")
    assert off == {}
    _, scaled = ss.search_space("ti3", "off", max_layers=3)
    assert scaled == {"num_layers": [1, 2, 3]}
    _, grown = ss.search_space("ti0", "off", max_layers=1)
    assert grown == {"num_layers": [0, 1, 2, 3]}
    # A config's shallower depth (size_scale, µNet): 1..2, not 1..3.
    defaults, shallow = ss.search_space("ti3", "off", 2, num_layers=2)
    assert shallow == {"num_layers": [1, 2]} and defaults["num_layers"] == 2


def test_ranges_are_copies():
    _, ranges = ss.search_space("ti3")
    ranges["opt_lr"].append(9.0)
    assert 9.0 not in ss.search_space("ti3")[1]["opt_lr"]


def test_validation_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"Default opt_lr=0.3 is outside"):
        ss.validate({"opt_lr": 0.3}, {"opt_lr": [0.1, 0.2]})
    with pytest.raises(ValueError, match="has None"):
        ss.validate({"opt_momentum": 0.9}, {"opt_momentum": [None, 0.9]})
    with pytest.raises(ValueError, match="unknown hyperparameter 'x'"):
        ss.validate({}, {"x": [1]})
    with pytest.raises(ValueError, match="Unknown setting 'ti9'"):
        ss.search_space("ti9")
    with pytest.raises(ValueError, match="Unknown autotune 'v3'"):
        ss.search_space("ti0", "v3")


def test_incremental_mutation_moves_one_step_and_clips():
    rng = np.random.default_rng(0)
    values = [1, 2, 3, 4]
    moves = [ss.incremental_mutation(values, 2, rng) for _ in range(4000)]
    counts = {v: moves.count(v) for v in set(moves)}
    assert set(counts) == {1, 3}
    # ±1 with probability 1/2: binomial sd of the count is sqrt(4000)/2 ≈ 32.
    assert abs(counts[3] - 2000) < 5 * 32
    ends = {ss.incremental_mutation(values, 1, rng) for _ in range(200)}
    assert ends == {1, 2}  # Clipped at the bottom.
    top = {ss.incremental_mutation(values, 4, rng) for _ in range(200)}
    assert top == {3, 4}
    flips = {
        ss.incremental_mutation([True, False], True, rng) for _ in range(50)
    }
    assert flips == {True, False}


def test_incremental_mutation_of_unlisted_values():
    rng = np.random.default_rng(1)
    moved = {
        ss.incremental_mutation([0.1, 0.2, 0.4], 0.21, rng) for _ in range(99)
    }
    assert moved == {0.1, 0.4}  # From 0.2, the nearest listed value.
    with pytest.raises(ValueError, match="'sgdr' is not one of"):
        ss.incremental_mutation(["constant", "cosine"], "sgdr", rng)
