import re

import pytest

from mu2keras import experiment
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


def test_munet_search_space_and_seeding():
    # Spec §8.2, §10: µNet's num_layers range 1..L, its own auto-tune table
    # by default, new components seeded by path id.
    mu = method.parse_method("munet", 3)
    assert mu.max_layers == 3 and mu.autotune == "munet"
    assert mu.init_from_path_id
    assert method.autotune_table(mu, "default") == "munet"
    assert method.autotune_table(mu, "v2") == "v2"  # Asked for explicitly.
    mu2 = method.parse_method("mu2net", 3)
    assert mu2.max_layers is None and not mu2.init_from_path_id
    assert method.autotune_table(mu2, "default") == "default"
    baseline = method.parse_method("adapters:8", 3)
    assert method.autotune_table(baseline, "v1") == "off"
    defaults = {"_mu_": 0.2}
    assert method.data_mu(mu, defaults) == 0.1
    assert method.data_mu(mu2, defaults) == 0.2


def budget_config(num_candidates=0):
    config = experiment.default_config()
    config.num_validations = 4
    config.num_task_iters = 2
    config.num_samples_per_task = 32
    config.num_candidates = num_candidates
    return config


def test_candidates_per_generation_follow_the_replicas():
    # Spec §2.2, §6.1: one candidate per device, ceil(samples / K)
    # generations; an explicit K is kept whatever the devices.
    mu2 = method.parse_method("mu2net", 3)
    config = budget_config()
    assert config.num_candidates == 0  # The default.
    for replicas, generations in ((1, 32), (8, 4), (32, 1)):
        assert method.candidates_per_generation(config, mu2, replicas) == (
            replicas
        )
        assert method.num_generations(config, mu2, replicas) == generations
    config = budget_config(num_candidates=3)
    assert method.candidates_per_generation(config, mu2, 8) == 3
    assert method.num_generations(config, mu2, 8) == 11
    assert method.num_generations(config, mu2) == 11


@pytest.mark.parametrize("bad", [-1, 1.5, True, "auto", None])
def test_bad_num_candidates_are_refused_naming_the_field(bad):
    config = budget_config()
    config.num_candidates = None
    config.num_candidates = bad
    message = (
        r"config.num_candidates must be an int >= 0 \(0: one per replica\); "
        f"got {re.escape(repr(bad))}."
    )
    with pytest.raises(ValueError, match=message):
        method.candidates_per_generation(
            config, method.parse_method("mu2net", 3)
        )
    with pytest.raises(ValueError, match=message):
        experiment.check_config(config)


def test_baselines_train_one_candidate_for_the_reference_budget():
    # Spec §7.4: the reference's n_devices replicas of a baseline are the
    # same computation; mu2keras trains one, on one device or N replicas,
    # for N_e × iterations × ceil(samples / K) validations.
    baseline = method.parse_method("finetune_all", 3)
    config = budget_config()
    for replicas, n_e in ((1, 4 * 2 * 32), (8, 4 * 2 * 4)):
        assert method.candidates_per_generation(config, baseline, replicas) == 1
        assert method.num_generations(config, baseline, replicas) == 1
        _, budget = method.training_budget(config, baseline, 10**6, replicas)
        assert budget == n_e
    explicit = budget_config(num_candidates=16)
    _, budget = method.training_budget(explicit, baseline, 10**6, 8)
    assert budget == 4 * 2 * 2
    mu2 = method.parse_method("mu2net", 3)
    assert method.training_budget(config, mu2, 10**6, 8)[1] == 4
