import math
import types

import numpy as np
import pytest

from mu2keras import experiment
from mu2keras import roots
from mu2keras.evolution import controller as controller_lib
from mu2keras.evolution import flops
from mu2keras.evolution import method as method_lib
from mu2keras.evolution import score
from mu2keras.evolution import selection
from mu2keras.system import population as population_lib
from mu2keras.system.component import ROOT_TASK
from tests.evolution import controller_test
from tests.evolution import flops_test


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


def test_scorer_needs_a_quality_and_takes_the_methods_base():
    scorer = score.Scorer(0.5, 100)
    with pytest.raises(ValueError, match="no numeric 'quality' metric"):
        scorer(types.SimpleNamespace(metrics={"score": 0.4}))
    with pytest.raises(ValueError, match="base must be in"):
        score.Scorer(0.0, 100)
    config = experiment.default_config()
    run = score.run_scorer(config, method_lib.parse_method("size_scale:90", 3))
    assert (run.base, run.reference_params) == (0.9, 1_484_162)
    plain = score.run_scorer(config, method_lib.parse_method("mu2net", 3))
    assert plain.base == 1.0


def test_score_follows_the_live_locks_under_size_scale():
    # Spec §1.4, §2.8: a's first path A1 owns a cloned block; task b's
    # retained path then shares it, so A1's accounted parameters halve and
    # its score rises above what it was accepted with. A later child A2,
    # slightly better but with a block of its own, scored higher at
    # acceptance; with live scores A1 ranks first and stays the best.
    root = roots.make_root("testing", num_layers=1, image_size=8)
    pop = population_lib.Population.from_root(root)
    block = pop.paths[ROOT_TASK][0].component("encoderblock_0").num_params
    scorer = score.Scorer(0.5, reference_params=block)

    def accept(task, parent, cloned, quality):
        components = [
            pop.clone_component(c) if c.name in cloned else c
            for c in parent.components
        ]
        path = pop.new_path(task, components, parent)
        path.metrics["quality"] = quality
        path.metrics["score"] = scorer(path)  # As at acceptance.
        pop.add_path(path)
        return path

    pop.start_task("a")
    a1 = accept("a", pop.paths[ROOT_TASK][0], {"encoderblock_0", "head"}, 0.8)
    pop.end_task("a")
    pop.start_task("b")
    b1 = accept("b", a1, {"head"}, 0.7)
    assert b1.component("encoderblock_0") is a1.component("encoderblock_0")
    pop.end_task("b")
    pop.start_task("a")
    a2 = accept("a", a1, {"encoderblock_0", "head"}, 0.81)
    assert a2.metrics["score"] > a1.metrics["score"]  # As accepted.
    # b's retained path shares A1's block (and the root's components,
    # now locked by a and b): A1 is charged less, so it scores higher.
    accounted = a1.accounted_params()
    assert accounted < a1.num_params - block / 2
    live = scorer(a1)
    assert live == pytest.approx(0.8 * 0.5 ** (accounted / block))
    assert live > scorer(a2) == pytest.approx(a2.metrics["score"])
    # Without a scorer the population ranks by the stored scores; the
    # controller's ranks by the live ones: best path and parent order.
    assert pop.best_path("a") is a2
    pop.scorer = scorer
    assert pop.best_path("a") is a1
    assert selection.by_score([a2, a1], pop.score) == [a1, a2]
    sampler = selection.DecaySampler([], score=pop.score)
    rng = np.random.default_rng(0)
    assert sampler.sample([a2, a1], "a", rng) is a1  # No children yet.
    assert pop.end_task("a") is a1


# --- µ3Net's score: quality × s^(accounted / P) × s^(FLOPs / F) (issue 22).


def test_mu3net_score_adds_a_flops_factor_of_the_same_base():
    ref = score.REFERENCE_PARAMS["Ti/16"]
    f_ref = score.REFERENCE_FLOPS["ti3"]
    assert f_ref == 15_000_000  # µ3Net's ti3 config.
    both = score.score(0.9, ref, 0.95, ref, flops=f_ref, reference_flops=f_ref)
    assert both == pytest.approx(0.9 * 0.95 * 0.95)
    half = score.score(
        0.9, 0, 0.95, ref, flops=f_ref / 2, reference_flops=f_ref
    )
    assert half == pytest.approx(0.9 * 0.95**0.5)
    # Without reference_flops (the default) it is µ2Net's, bit for bit,
    # whatever FLOPs are passed.
    for quality, accounted, base in [(0.8123, 123_457, 0.9), (0.5, 7, 0.33)]:
        mu2net = quality * base ** (accounted / ref)
        assert score.score(quality, accounted, base, ref) == mu2net
        assert score.score(quality, accounted, base, ref, flops=9e9) == mu2net
        assert score.Scorer(base, ref).of_quality(accounted)(quality) == mu2net


@pytest.mark.parametrize("value", [-1, math.inf, math.nan, "1e6", True])
def test_a_bad_reference_flops_is_refused_with_its_value(value):
    with pytest.raises(ValueError) as raised:
        score.Scorer(0.5, 100, reference_flops=value)
    assert str(raised.value) == (
        "reference_flops must be a finite number >= 0 (0: no FLOPs term); "
        f"got {value!r}."
    )


def test_mu3net_score_needs_the_paths_flops():
    with pytest.raises(ValueError) as raised:
        score.score(0.5, 10, 0.9, 10, flops=None, reference_flops=100)
    assert str(raised.value) == (
        "A score with reference_flops needs the path's FLOPs, a number >= 0; "
        "got None."
    )


def test_run_scorer_takes_the_configs_reference_flops():
    config = experiment.default_config()
    mu2net = method_lib.parse_method("mu2net", 3)
    assert config.reference_flops == 0
    assert score.run_scorer(config, mu2net) == score.Scorer(1.0, 1_484_162)
    config.reference_flops = 15e6
    config.score_base = 0.99
    run = score.run_scorer(config, mu2net)
    assert run == score.Scorer(0.99, 1_484_162, 15e6)
    # size_scale:P's base is the FLOPs term's base too (µ3Net has one).
    sized = score.run_scorer(
        config, method_lib.parse_method("size_scale:90", 3)
    )
    assert (sized.base, sized.reference_flops) == (0.9, 15e6)
    del config["reference_flops"]  # A config from before the option.
    assert score.run_scorer(config, mu2net).reference_flops == 0


def two_depths():
    """Task a's paths of 1 and 2 blocks over a 2-block root: the deeper
    one slightly better."""
    root = roots.make_root("testing", num_layers=2, image_size=8)
    pop = population_lib.Population.from_root(root)
    parent = pop.paths[ROOT_TASK][0]
    pop.start_task("a")

    def accept(blocks, quality):
        components = [
            pop.clone_component(c) if c.name == "head" else c
            for c in parent.components
            if c.name != "encoderblock_1" or blocks == 2
        ]
        path = pop.new_path("a", components, parent)
        path.metrics["quality"] = quality
        pop.add_path(path)
        return path

    return pop, accept(1, 0.80), accept(2, 0.82)


def test_mu3net_scorer_ranks_by_flops_and_records_them():
    pop, shallow, deep = two_depths()
    f_shallow, f_deep = flops.path_flops(shallow), flops.path_flops(deep)
    assert f_shallow < f_deep
    # Parameters barely count (P huge); FLOPs do: F = the shallow path's.
    plain = score.Scorer(0.5, reference_params=1e12)
    mu3net = score.Scorer(0.5, reference_params=1e12, reference_flops=f_shallow)
    for path, count in [(shallow, f_shallow), (deep, f_deep)]:
        accounted = path.accounted_params()
        quality = path.metrics["quality"]
        assert mu3net(path) == score.score(
            quality, accounted, 0.5, 1e12, count, f_shallow
        )
        assert mu3net(path) == pytest.approx(
            quality * 0.5 ** (count / f_shallow)
        )
    pop.scorer = plain
    assert pop.best_path("a") is deep
    assert selection.by_score([shallow, deep], pop.score) == [deep, shallow]
    pop.scorer = mu3net
    assert pop.best_path("a") is shallow
    assert selection.by_score([deep, shallow], pop.score) == [shallow, deep]
    # A candidate records its FLOPs only under µ3Net's score.
    fn = plain.for_candidate(deep, deep.accounted_params())
    assert "flops" not in deep.metrics
    assert fn(0.82) == plain(deep)
    fn = mu3net.for_candidate(deep, deep.accounted_params())
    assert deep.metrics["flops"] == f_deep
    assert fn(0.82) == mu3net(deep)


def test_a_run_with_mu3nets_score_records_flops_and_ranks_by_it(
    tmp_path, monkeypatch
):
    # One task, 2 generations of 2 candidates over a 0-block "testing"
    # root; with µ = 0.3 children take 0-2 blocks (ti0's range is 0-3), so
    # their FLOPs differ. F = a 1-block path's.
    f_ref = flops_test.hand_count("testing", 8, 1, classes=3)
    config = controller_test.tiny_config(
        tasks=("a",),
        num_task_iters=1,
        score_base=0.5,
        reference_flops=f_ref,
        export_saved_model=False,
    )
    config.hparams._mu_ = 0.3
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=controller_test.TASKS
    )
    pop = controller.population
    assert pop.scorer == score.Scorer(0.5, config.reference_params, f_ref)

    def expected_score(path):
        m = path.metrics
        return score.score(
            m["quality"],
            path.accounted_params(),
            0.5,
            config.reference_params,
            hand_flops(path.hparams),
            f_ref,
        )

    ranked = []
    end_task = pop.end_task

    def end_task_recorded(name):
        pool = list(pop.paths["a"])
        ranked.append(max(pool, key=lambda p: (expected_score(p), p.id)))
        ranked.append(len(pool))
        return end_task(name)

    monkeypatch.setattr(pop, "end_task", end_task_recorded)
    controller.run()
    best, size = ranked
    assert size >= 2  # The first generation's children are all accepted.
    assert pop.paths["a"] == [best]
    records = [r for r in pop.history()[0] if r["task"] == "a"]
    assert len(records) == 4
    layers = set()
    for record in records:
        m = record["metrics"]
        assert m["flops"] == hand_flops(record["hparams"])
        layers.add(record["hparams"]["num_layers"])
        if m["improved"]:  # Scored at acceptance with its FLOPs.
            assert m["score"] == pytest.approx(
                score.score(
                    m["quality"],
                    m["training_accounted_params"],
                    0.5,
                    config.reference_params,
                    m["flops"],
                    f_ref,
                )
            )
    assert len(layers) > 1, layers  # Paths of several FLOPs counts.


def hand_flops(hparams):
    adapters = hparams.get("adapter_layers", "")
    return flops_test.hand_count(
        "testing",
        hparams["ds_image_size"],
        hparams["num_layers"],
        adapters.split("_") if adapters else (),
        hparams.get("adapter_dim", 0),
        classes=3,
    )
