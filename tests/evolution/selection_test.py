import types

import numpy as np
import pytest

from mu2keras.evolution import method
from mu2keras.evolution import selection


def path(id, task, score=0.0, children=None):
    metrics = {"score": score}
    if children is not None:
        metrics["offsprings_per_task"] = dict(children)
    return types.SimpleNamespace(id=id, task=task, metrics=metrics)


def binomial_bound(n, p, sigmas=5):
    return sigmas * np.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_acceptance_frequency_is_half_to_the_power_of_children(k):
    rng = np.random.default_rng(k)
    best = path(1, "a", score=0.9, children={"a": k})
    n = 20_000
    hits = sum(
        selection.decay_sample([best], "a", rng) is best for _ in range(n)
    )
    p = 0.5**k
    assert abs(hits - n * p) <= binomial_bound(n, p)


def test_counts_are_per_task():
    seed = path(1, "b", children={"a": 5, "c": 0})
    assert selection.offspring_count(seed, "a") == 5
    assert selection.offspring_count(seed, "c") == 0
    assert selection.offspring_count(seed, "d") == 0
    selection.record_offspring(seed, "d")
    selection.record_offspring(seed, "b")
    assert seed.metrics["offsprings_per_task"] == {
        "a": 5,
        "c": 0,
        "d": 1,
        "b": 1,
    }
    assert seed.metrics["offsprings"] == 1  # Only same-task children.


def test_own_paths_are_walked_best_first():
    rng = np.random.default_rng(0)
    low, high = path(1, "a", 0.5), path(2, "a", 0.8)
    sampler = selection.DecaySampler([path(9, "b")])
    # Neither has children: the best is accepted with probability 1.
    assert all(sampler.sample([low, high], "a", rng) is high for _ in range(20))


def test_second_best_frequency_after_the_best_has_children():
    rng = np.random.default_rng(1)
    best = path(1, "a", 0.9, children={"a": 1})
    second = path(2, "a", 0.5, children={"a": 0})
    n = 10_000
    picks = [selection.decay_sample([best, second], "a", rng) for _ in range(n)]
    # P(best) = 1/2; else second is accepted with probability 1.
    assert abs(sum(p is best for p in picks) - n / 2) <= binomial_bound(n, 0.5)
    assert all(p is not None for p in picks)


def test_seed_list_is_used_when_own_paths_refuse_and_rotates():
    rng = np.random.default_rng(2)
    s1, s2, s3 = path(11, "b"), path(12, "c"), path(13, "root")
    sampler = selection.DecaySampler([s1, s2, s3])
    # A task with no paths yet: the first seed (no children) is taken.
    assert sampler.sample([], "a", rng) is s1
    assert [s.id for s in sampler.seeds] == [12, 13, 11]
    assert sampler.sample([], "a", rng) is s2
    assert [s.id for s in sampler.seeds] == [13, 11, 12]


def test_fallback_is_uniform_over_own_paths_and_seeds():
    rng = np.random.default_rng(3)
    many = 60  # 0.5^60: nobody is ever accepted by the decay walk.
    own = [path(1, "a", 0.9, {"a": many}), path(2, "a", 0.7, {"a": many})]
    seeds = [
        path(3, "b", children={"a": many}),
        path(4, "c", children={"a": many}),
    ]
    sampler = selection.DecaySampler(seeds)
    n = 8000
    ids = [sampler.sample(own, "a", rng).id for _ in range(n)]
    for i in (1, 2, 3, 4):
        assert abs(ids.count(i) - n / 4) <= binomial_bound(n, 0.25)
    assert [s.id for s in sampler.seeds] == [3, 4]  # No rotation.


def test_no_candidates_is_an_error():
    with pytest.raises(ValueError, match="No parent candidates for task 'a'"):
        selection.DecaySampler([]).sample([], "a", np.random.default_rng(0))


def test_shuffled_seeds_is_a_seeded_permutation():
    seeds = [path(i, "t") for i in range(10)]
    one = selection.shuffled_seeds(seeds, np.random.default_rng(5))
    two = selection.shuffled_seeds(seeds, np.random.default_rng(5))
    assert [s.id for s in one] == [s.id for s in two]
    assert sorted(s.id for s in one) == list(range(10))
    assert [s.id for s in one] != list(range(10))


# --- µNet's policy (spec §10). ---


def munet_path(id, task, score=0.0, total=0, per_task=None):
    p = path(id, task, score, per_task)
    p.metrics["offsprings"] = total
    return p


def test_munet_seed_phase_takes_each_seed_once_by_id_descending():
    rng = np.random.default_rng(4)
    seeds = [path(3, "b"), path(0, "root"), path(7, "c")]
    sampler = selection.MuNetSampler(seeds)
    own = [munet_path(9, "a", 0.9)]
    picked = []
    while sampler.in_seed_phase:
        picked.append(sampler.sample(own, "a", rng).id)
    # Each visit starts over, whatever children the seeds made before.
    assert picked == [7, 3, 0]
    assert sampler.sample(own, "a", rng).id == 9  # Then evolution.
    resumed = selection.MuNetSampler(seeds, made=2)
    assert resumed.in_seed_phase and resumed.sample([], "a", rng).id == 0
    assert not resumed.in_seed_phase


def test_munet_decays_own_paths_by_total_children_never_seeds():
    rng = np.random.default_rng(5)
    # The per-task counter (µ2Net's) is ignored: µNet counts `offsprings`.
    best = munet_path(1, "a", 0.9, total=1, per_task={"a": 0})
    second = munet_path(2, "a", 0.5, total=0, per_task={"a": 9})
    seed = path(3, "b", children={"a": 0})  # Fresh: µ2Net would take it.
    sampler = selection.MuNetSampler([seed], made=1)
    n = 4000
    ids = [sampler.sample([second, best], "a", rng).id for _ in range(n)]
    assert abs(ids.count(1) - n / 2) <= binomial_bound(n, 0.5)
    assert ids.count(2) == n - ids.count(1)  # Never the seed.
    # Nobody accepted: uniform over the seeds and the task's paths.
    many = 60
    tired = [munet_path(1, "a", 0.9, many), munet_path(2, "a", 0.7, many)]
    ids = [sampler.sample(tired, "a", rng).id for _ in range(n)]
    for i in (1, 2, 3):
        assert abs(ids.count(i) - n / 3) <= binomial_bound(n, 1 / 3)


def test_make_sampler_picks_the_methods_policy():
    seeds = [path(1, "b")]
    mu2 = selection.make_sampler(method.parse_method("mu2net", 3), seeds)
    assert isinstance(mu2, selection.DecaySampler) and not mu2.in_seed_phase
    mu = selection.make_sampler(method.parse_method("munet", 3), seeds, 1)
    assert isinstance(mu, selection.MuNetSampler) and not mu.in_seed_phase
