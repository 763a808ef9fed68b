import types

import numpy as np
import pytest

from mu2keras import experiment
from mu2keras import population as population_lib
from mu2keras import roots
from mu2keras.component import ROOT_TASK
from mu2keras.evolution import method as method_lib
from mu2keras.evolution import score
from mu2keras.evolution import selection


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
