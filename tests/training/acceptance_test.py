"""Evaluation, best snapshot and acceptance (spec §2.7, §2.8)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from mu2keras import training
from tests.training import helpers


def test_running_best_starts_at_the_threshold_and_ties_win():
    tracker = training.BestTracker(threshold=0.5)
    assert [tracker.update(q, q) for q in (0.4, 0.5, 0.7, 0.7, 0.6)] == [
        False,
        True,  # >= the parent's score: improved.
        True,
        True,  # A tie with the best moves the snapshot to the later one.
        False,
    ]
    assert tracker.improved and tracker.best_evaluation == 3
    assert tracker.best_score == 0.7 and tracker.quality == 0.7


def test_munet_needs_a_strictly_better_score():
    tracker = training.BestTracker(threshold=0.5, strict=True)
    assert [tracker.update(q, q) for q in (0.5, 0.6, 0.6)] == [
        False,
        True,
        False,
    ]
    assert tracker.best_evaluation == 1


def test_cross_task_threshold_accepts_the_first_evaluation():
    tracker = training.BestTracker(threshold=-math.inf)
    assert tracker.update(0.0, 0.0)
    assert tracker.improved and tracker.best_evaluation == 0


def test_never_reaching_the_threshold_is_not_improved():
    tracker = training.BestTracker(threshold=0.9)
    for q in (0.1, 0.8, 0.3):
        tracker.update(q, q)
    assert not tracker.improved and tracker.best_evaluation is None
    assert tracker.quality == 0.8 and tracker.score == 0.8


@pytest.fixture(scope="module")
def root():
    return helpers.make_root(num_layers=0)


def test_trainer_scores_snapshots_and_writes_back_only_improved(root):
    scores = iter([0.2, 0.9, 0.4, 0.1, 0.1, 0.1])

    def score_fn(quality):
        # A size penalty stand-in: a different score than the quality.
        return next(scores)

    winner = helpers.make_candidate(root, (), seed=1)
    loser = helpers.make_candidate(root, (), seed=2)
    winner.score_fn, loser.score_fn = score_fn, score_fn
    winner.threshold, loser.threshold = 0.5, 0.5
    loser_before = helpers.layer_weights(loser.layers)
    results = training.Trainer(fused=True).train(
        [winner, loser],
        helpers.train_dataset(),
        helpers.validation_dataset(),
        2,
        3,
    )
    won, lost = results
    # Fused, evaluations are scored in candidate order at each evaluation.
    assert [e["score"] for e in won.evaluations] == [0.2, 0.4, 0.1]
    assert [e["score"] for e in lost.evaluations] == [0.9, 0.1, 0.1]
    assert not won.improved and won.snapshot is None
    assert lost.improved and lost.best_evaluation == 0
    assert lost.snapshot.evaluation == 0
    for e in won.evaluations + lost.evaluations:
        assert 0.0 <= e["quality"] <= 1.0 and np.isfinite(e["train_loss"])
    # The improved candidate's layers hold its snapshot (evaluation 0).
    head = len(lost.candidate.layers) - 1
    np.testing.assert_array_equal(
        lost.candidate.layers[head].get_weights()[0],
        lost.snapshot.weights[head]["dense/kernel"],
    )
    assert not np.array_equal(
        loser_before[head][0], lost.snapshot.weights[head]["dense/kernel"]
    )
    # The other one is untouched: training happened in a workspace.
    winner_before = helpers.make_candidate(root, (), seed=1)
    for a, b in zip(
        helpers.layer_weights(won.candidate.layers),
        helpers.layer_weights(winner_before.layers),
        strict=True,
    ):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    assert won.losses.shape == (6,)
    for key in ("prep", "compile", "train", "eval", "copy"):
        assert won.timings[key] >= 0.0


def test_quality_is_the_mean_of_per_batch_accuracies(root):
    # A zero head predicts class 0 everywhere: each batch's accuracy is its
    # share of label 0; quality is their mean (spec §2.7).
    trained = helpers.make_candidate(root, ("encoder_norm",))
    head = trained.layers[-1]
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    # The zero head frozen: it stays zero while the norm trains.
    cand = training.Candidate(
        trained.layers, trained.trainable[:-1] + [False], helpers.HPARAMS
    )
    result = training.Trainer(write_back=False).train(
        [cand], helpers.train_dataset(), helpers.validation_dataset(), 1, 1
    )[0]
    _, labels = helpers.arrays(seed=1)
    per_batch = [np.mean(labels[i : i + 32] == 0) for i in (0, 32)]
    assert result.quality == pytest.approx(np.mean(per_batch), abs=1e-6)


def test_trainer_validates_its_inputs(root):
    cand = helpers.make_candidate(root, ())
    trainer = training.Trainer()
    train, val = helpers.train_dataset(), helpers.validation_dataset()
    with pytest.raises(ValueError, match="No candidates"):
        trainer.train([], train, val, 1, 1)
    with pytest.raises(ValueError, match="num_validations"):
        trainer.train([cand], train, val, 1, 0)
    unbatched = train.unbatch().batch(16)
    with pytest.raises(ValueError, match="static shapes"):
        trainer.train([cand], unbatched, val, 1, 1)
    with pytest.raises(ValueError, match="validation_steps"):
        trainer.train([cand], train, val.repeat(), 1, 1)
    with pytest.raises(ValueError, match="jit_compile"):
        training.Trainer(jit_compile="yes")
    with pytest.raises(ValueError, match="fused must be .*; got 'yes'"):
        training.Trainer(fused="yes")


def test_workspace_cache_size_follows_the_mode():
    # One by one, structures recur (keep many); fused groups rarely do.
    assert training.Trainer(fused=False).cache.max_size == 32
    assert training.Trainer(fused=True).cache.max_size == 8
    assert training.Trainer(max_cached_structures=3).cache.max_size == 3
    with pytest.raises(ValueError, match="max_size must be >= 1; got 0"):
        training.Trainer(max_cached_structures=0)


def test_weighted_validation_batches_ignore_padding(root):
    # mu2keras.tasks pads a last batch with weight-0 examples: they must not
    # count. Batch 2 holds 20 real examples and 12 padded ones.
    trained = helpers.make_candidate(root, ("encoder_norm",))
    head = trained.layers[-1]
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    cand = training.Candidate(
        trained.layers, trained.trainable[:-1] + [False], helpers.HPARAMS
    )
    images, labels = helpers.arrays(seed=1)
    weights = np.ones(64, "float32")
    weights[52:] = 0.0
    labels[52:] = 0  # Padding that a zero head would count as correct.
    val = tf.data.Dataset.from_tensor_slices((images, labels, weights))
    result = training.Trainer(write_back=False).train(
        [cand],
        helpers.train_dataset(),
        val.batch(32, drop_remainder=True),
        1,
        1,
    )[0]
    per_batch = [np.mean(labels[:32] == 0), np.mean(labels[32:52] == 0)]
    assert result.quality == pytest.approx(np.mean(per_batch), abs=1e-6)
