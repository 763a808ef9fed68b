"""The engine's step against the spec written out by hand (spec §2.7)."""

import itertools
import logging

import numpy as np
import pytest
import tensorflow as tf

from mu2keras import training
from mu2keras.pretrained import weights as weights_lib
from mu2keras.training import data as data_lib
from tests.training import helpers


@pytest.fixture(scope="module")
def root():
    return helpers.make_root(num_layers=1)


@pytest.fixture(scope="module")
def trainer():
    return training.Trainer()


def trained_state(cand):
    return {
        (i, path): np.array(v.numpy())
        for i in cand.trainable_indices()
        for path, v in weights_lib.relative_variables(cand.layers[i]).items()
    }


def reference_state(cand, layers):
    return {
        (i, path): np.array(v.numpy())
        for i in cand.trainable_indices()
        for path, v in weights_lib.relative_variables(layers[i]).items()
    }


@pytest.mark.parametrize(
    "hparams",
    [
        {},
        {"opt_nesterov": True, "opt_lr_schedule": "restarts"},
        {"opt_momentum": None, "opt_lr_schedule": "constant"},
    ],
    ids=["cosine", "nesterov-restarts", "plain-sgd-constant"],
)
def test_steps_equal_hand_computed_clipped_sgd(root, trainer, hparams):
    names = ("encoderblock_0", "encoder_norm")
    cand = helpers.make_candidate(root, names, **hparams)
    # Scores that only grow: the snapshot is the final state.
    count = itertools.count()
    cand.score_fn = lambda quality: next(count)
    layers, traces, norms = helpers.reference_training(
        cand, helpers.train_dataset(), 6, 3, 2
    )
    assert max(norms) > 1.0, "clipping must be exercised"
    result = trainer.train(
        [cand], helpers.train_dataset(), helpers.validation_dataset(), 3, 2
    )[0]
    assert result.snapshot.evaluation == 1
    want = reference_state(cand, layers)
    got = trained_state(cand)
    for key in want:
        helpers.assert_close(got[key], want[key], rtol=2e-5, atol=2e-6)
    momentum = result.momentum()
    for (index, path), trace in traces.items():
        helpers.assert_close(momentum[index][path], trace, rtol=2e-5, atol=2e-6)


def test_frozen_layers_are_bit_identical_and_trainable_ones_move(root, trainer):
    cand = helpers.make_candidate(root, ("encoderblock_0",), opt_lr=0.3)
    before = helpers.layer_weights(cand.layers)
    roots_before = helpers.layer_weights(root.components.values())
    trainer.train(
        [cand], helpers.train_dataset(), helpers.validation_dataset(), 4, 2
    )
    after = helpers.layer_weights(cand.layers)
    for layer, trainable, old, new in zip(
        cand.layers, cand.trainable, before, after, strict=True
    ):
        for w_old, w_new in zip(old, new, strict=True):
            if trainable:
                assert not np.array_equal(w_old, w_new), layer.name
            else:
                assert np.array_equal(w_old, w_new), layer.name
    for old, new in zip(
        roots_before,
        helpers.layer_weights(root.components.values()),
        strict=True,
    ):
        for w_old, w_new in zip(old, new, strict=True):
            assert np.array_equal(w_old, w_new)


def test_clone_starts_from_parent_momentum_and_new_from_zeros(root, trainer):
    parent = helpers.make_candidate(root, ("encoder_norm",))
    parent_result = trainer.train(
        [parent], helpers.train_dataset(), helpers.validation_dataset(), 2, 1
    )[0]
    head_index = len(parent.layers) - 1
    norm_index = head_index - 1
    parent_momentum = parent_result.momentum()
    assert np.abs(parent_momentum[head_index]["dense/kernel"]).sum() > 0
    # The child clones the parent's trained head and encoder norm with their
    # momentum, and gets a new encoder block (zero momentum).
    child_layers = list(parent.layers)
    child_layers[norm_index] = helpers.clone(parent.layers[norm_index])
    child_layers[head_index] = helpers.clone(parent.layers[head_index])
    child_layers[3] = helpers.clone(parent.layers[3])
    momentum = [None] * len(child_layers)
    momentum[norm_index] = parent_momentum[norm_index]
    momentum[head_index] = parent_momentum[head_index]
    trainable = [False, False, False, True, True, True]
    child = training.Candidate(
        child_layers, trainable, helpers.HPARAMS, momentum=momentum
    )
    layers, _, _ = helpers.reference_training(
        child, helpers.train_dataset(), 1, 1, 1
    )
    trainer.train(
        [child], helpers.train_dataset(), helpers.validation_dataset(), 1, 1
    )
    want = reference_state(child, layers)
    got = trained_state(child)
    for key in want:
        helpers.assert_close(got[key], want[key], rtol=2e-5, atol=2e-6)
    # Without the parent's momentum the first step differs.
    zero_child = training.Candidate(
        [
            helpers.clone(x) if t else x
            for x, t in zip(child_layers, trainable, strict=True)
        ],
        trainable,
        helpers.HPARAMS,
    )
    zero_layers, _, _ = helpers.reference_training(
        zero_child, helpers.train_dataset(), 1, 1, 1
    )
    zero_want = reference_state(zero_child, zero_layers)
    head_key = (head_index, "dense/kernel")
    assert not np.allclose(zero_want[head_key], want[head_key], atol=1e-6)


def test_munet_mode_starts_at_zero_and_returns_no_momentum(root):
    cand = helpers.make_candidate(root, ())
    head = len(cand.layers) - 1
    shapes = {
        p: v.shape
        for p, v in weights_lib.relative_variables(cand.layers[head]).items()
    }
    cand.momentum[head] = {p: np.ones(s, "float32") for p, s in shapes.items()}
    zero = training.Candidate(
        [
            helpers.clone(x) if t else x
            for x, t in zip(cand.layers, cand.trainable, strict=True)
        ],
        cand.trainable,
        helpers.HPARAMS,
    )
    layers, _, _ = helpers.reference_training(
        zero, helpers.train_dataset(), 2, 2, 1
    )
    munet = training.Trainer(inherit_momentum=False)
    result = munet.train(
        [cand], helpers.train_dataset(), helpers.validation_dataset(), 2, 1
    )[0]
    assert result.snapshot.momentum is None
    assert result.momentum() == [None] * len(cand.layers)
    want, got = reference_state(zero, layers), trained_state(cand)
    for key in want:
        helpers.assert_close(got[key], want[key], rtol=2e-5, atol=2e-6)


def test_bfloat16_trace_is_rounded_on_store_only():
    variable = tf.Variable(np.zeros(3, "float32"))
    optimizer = training.TraceSGD(
        learning_rate=0.1, momentum=0.5, momentum_dtype="bfloat16"
    )
    optimizer.build([variable])
    grad = np.array([0.3, 1e-3 + 1e-6, 0.1], "float32")  # norm < 1
    optimizer.apply([tf.constant(grad)], [variable])
    np.testing.assert_allclose(variable.numpy(), -0.1 * grad, rtol=1e-6)
    stored = optimizer.traces[0].numpy().astype("float32")
    rounded = tf.cast(tf.cast(grad, tf.bfloat16), tf.float32).numpy()
    np.testing.assert_array_equal(stored, rounded)
    assert optimizer.traces[0].dtype == "bfloat16"


def test_candidate_rejects_bad_inputs(root):
    layers = list(root.components.values())
    with pytest.raises(ValueError, match="no trainable layer"):
        training.Candidate(layers, [False] * len(layers), helpers.HPARAMS)
    with pytest.raises(ValueError, match="flags for"):
        training.Candidate(layers, [True], helpers.HPARAMS)
    with pytest.raises(ValueError, match="hparams lack"):
        training.Candidate(layers, [True] * len(layers), {"opt_lr": 0.1})
    bad = dict(helpers.HPARAMS, opt_momentum=1.5)
    with pytest.raises(ValueError, match="opt_momentum"):
        training.Candidate(layers, [True] * len(layers), bad)
    with pytest.raises(ValueError, match="not variables of"):
        training.Candidate(
            layers,
            [True] * len(layers),
            helpers.HPARAMS,
            momentum=[{"nope": np.zeros(1)}] + [None] * (len(layers) - 1),
        )


def test_engine_iterators_skip_autotuning_and_keep_other_options():
    # Deleting an autotuned iterator waits for tf.data's optimization
    # thread (up to 1.7 s per group measured); the engine opens one per
    # group, so it turns autotuning off, and only that.
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    train = helpers.train_dataset().with_options(options)
    run = data_lib.GenerationData(
        tf.distribute.get_strategy(), train, helpers.validation_dataset(), 1
    )
    engine_options = run.train_iterator()._dataset.options()
    assert engine_options.autotune.enabled is False
    assert engine_options.threading.private_threadpool_size == 1
    assert train.options().autotune.enabled is None
    images, _ = next(run.train_iterator())
    expected, _ = next(iter(train))
    np.testing.assert_array_equal(images.numpy(), expected.numpy())


@pytest.mark.parametrize("scale", [0.1, 10.0, np.inf], ids=str)
def test_clipping_equals_keras_clip_by_global_norm(scale):
    from keras.src.optimizers.base_optimizer import clip_by_global_norm

    rng = np.random.default_rng(0)
    grads = [
        tf.constant(scale * rng.normal(size=shape).astype("float32"))
        for shape in [(3, 4), (4,), (2, 2, 5)]
    ]
    norm = np.sqrt(
        sum(np.sum(np.square(g.numpy(), dtype="float64")) for g in grads)
    )
    optimizer = training.TraceSGD(global_clipnorm=1.0)
    got = optimizer._clip_gradients(grads + [None])
    assert got[-1] is None
    for g, w in zip(got, clip_by_global_norm(grads, 1.0), strict=False):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=0)
    got = [g.numpy() for g in got[:-1]]
    if norm < 1:  # Unchanged.
        for g, original in zip(got, grads, strict=True):
            np.testing.assert_array_equal(g, original)
    elif np.isfinite(norm):  # Scaled to norm 1.
        clipped = np.sqrt(sum(np.sum(np.square(g)) for g in got))
        assert clipped == pytest.approx(1.0, rel=1e-5)
    else:  # As Keras: NaN, not a silent step.
        assert all(np.isnan(g).all() for g in got)


def test_later_generations_take_over_the_validation_stream():
    strategy = tf.distribute.get_strategy()
    val = helpers.validation_dataset()
    first = data_lib.GenerationData(
        strategy, helpers.train_dataset(), val, None
    )
    same = data_lib.GenerationData(
        strategy, helpers.train_dataset(), val, None, first.validation
    )
    assert same.validation_iterator is first.validation_iterator
    for steps, other in ((1, val), (None, helpers.validation_dataset())):
        fresh = data_lib.GenerationData(
            strategy, helpers.train_dataset(), other, steps, first.validation
        )
        assert fresh.validation_iterator is not first.validation_iterator
        assert fresh.validation.serves(strategy, other, fresh.validation_steps)


@pytest.mark.parametrize("cache_bytes", [None, 0])
def test_small_validation_batches_are_preprocessed_once(
    root, monkeypatch, cache_bytes
):
    # Every evaluation reads the same batches: a small set is kept as the
    # model reads it after the first pass, a large one is made again.
    if cache_bytes is not None:
        monkeypatch.setattr(data_lib, "VALIDATION_CACHE_MAX_BYTES", cache_bytes)
    calls = []

    def preprocess(images, labels):
        def count(x):
            calls.append(1)
            return x

        images = tf.py_function(count, [images], tf.float32)
        return tf.ensure_shape(images, (32, 8, 8, 3)), labels

    val = helpers.validation_dataset().map(preprocess)
    cand = helpers.make_candidate(root, ("encoder_norm",))
    result = training.Trainer().train(
        [cand], helpers.train_dataset(), val, 1, 3
    )
    qualities = [e["quality"] for e in result[0].evaluations]
    batches = int(helpers.validation_dataset().cardinality())
    if cache_bytes is None:
        assert len(calls) == batches
    else:  # At least once per evaluation (an iterator may read ahead).
        assert len(calls) >= 3 * batches
    assert len(qualities) == 3


def test_reused_validation_iterator_evaluates_the_same_batches(root):
    val = helpers.validation_dataset()

    def generation(trainer, seed):
        cand = helpers.make_candidate(root, ("encoder_norm",), seed=seed)
        result = trainer.train([cand], helpers.train_dataset(), val, 2, 2)
        return [e["quality"] for e in result[0].evaluations]

    kept = training.Trainer()
    got = [generation(kept, seed) for seed in (1, 2, 3)]
    assert kept._validation.dataset is val
    want = [generation(training.Trainer(), seed) for seed in (1, 2, 3)]
    assert got == want


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_new_structures_are_traced_once_without_retracing_warnings(root):
    # TF warns of "retracing" when calls of one Python function's code
    # trace again and again; new workspaces' traces must not add up.
    names = [n for n in root.components if n != "head"]
    trainer = training.Trainer()
    warnings = _Warnings()
    tf.get_logger().addHandler(warnings)
    try:
        for size in (1, 2):
            for trainable in itertools.combinations(names, size):
                cand = helpers.make_candidate(root, trainable)
                trainer.train(
                    [cand],
                    helpers.train_dataset(),
                    helpers.validation_dataset(),
                    1,
                    1,
                )
    finally:
        tf.get_logger().removeHandler(warnings)
    assert trainer.cache.misses >= 8
    assert not [m for m in warnings.messages if "retracing" in m]
    for workspace in trainer.cache._entries.values():
        assert workspace._train_fn.experimental_get_tracing_count() == 1
