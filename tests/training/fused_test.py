"""Fused generations: equivalence with solo training, the trie, reuse."""

import numpy as np
import pytest
import tensorflow as tf

from mu2keras import training
from mu2keras.training import data as data_lib
from mu2keras.training import fused as fused_lib
from tests.training import helpers

MASKS = [
    (),  # Only the head (new) and nothing else.
    ("encoder_norm",),
    ("encoderblock_0", "encoder_norm"),
    ("embedding", "encoder_norm"),  # Trainable from the first layer.
]


def generation(root, seed_offset=0, masks=MASKS, **hparams):
    return [
        helpers.make_candidate(
            root,
            names,
            seed=seed_offset + k,
            opt_lr=0.1 * (k + 1),
            opt_nesterov=bool(k % 2),
            **hparams,
        )
        for k, names in enumerate(masks)
    ]


def copies(cands):
    """The same candidates with fresh copies of the trainable layers."""
    return [
        training.Candidate(
            [
                helpers.clone(x) if t else x
                for x, t in zip(c.layers, c.trainable, strict=True)
            ],
            c.trainable,
            c.hparams,
        )
        for c in cands
    ]


@pytest.fixture(scope="module")
def root():
    return helpers.make_root(num_layers=1)


def final_weights(cands):
    return [
        [helpers.layer_weights([c.layers[i]]) for i in c.trainable_indices()]
        for c in cands
    ]


@pytest.mark.parametrize(
    "jit_compile, masks",
    [(False, MASKS), (True, MASKS[2:])],
    ids=["tf", "xla"],
)
def test_fused_equals_solo(root, jit_compile, masks):
    fused_cands = generation(root, masks=masks)
    solo_cands = copies(fused_cands)
    for c in fused_cands + solo_cands:
        c.score_fn = lambda q: 1.0  # Ties: the last evaluation wins.
    data = helpers.train_dataset, helpers.validation_dataset
    fused = training.Trainer(jit_compile=jit_compile, fused=True)
    solo = training.Trainer(jit_compile=jit_compile, fused=False)
    fused_results = fused.train(fused_cands, data[0](), data[1](), 3, 2)
    solo_results = solo.train(solo_cands, data[0](), data[1](), 3, 2)
    assert fused_results[0].group_size == len(masks)
    assert solo_results[0].group_size == 1
    for f, s in zip(fused_results, solo_results, strict=True):
        helpers.assert_close(f.losses, s.losses, rtol=1e-5, atol=1e-6)
        for key in ("quality", "train_loss"):
            f_values = [e[key] for e in f.evaluations]
            s_values = [e[key] for e in s.evaluations]
            helpers.assert_close(f_values, s_values, rtol=1e-5, atol=1e-6)
    for f_layers, s_layers in zip(
        final_weights(fused_cands), final_weights(solo_cands), strict=True
    ):
        for f_layer, s_layer in zip(f_layers, s_layers, strict=True):
            for f, s in zip(f_layer[0], s_layer[0], strict=True):
                helpers.assert_close(f, s, rtol=1e-5, atol=1e-6)


def test_trie_computes_shared_frozen_prefixes_once(root):
    cands = generation(root)
    structure = training.Structure(cands)
    assert sum(len(c.layers) for c in cands) == 24
    # Candidates 0-2 share the frozen embedding, cls and posembed (3 nodes);
    # 0 and 1 also the frozen block (1). Then candidate 0 has its frozen
    # norm and head (2), 1 its norm and head (2), 2 its block, norm and
    # head (3); candidate 3 clones the embedding, so all its 6 are new.
    assert len(structure.nodes) == 3 + 1 + 2 + 2 + 3 + 6
    assert structure.nodes[0] == (-1, 0)
    parents = [structure.nodes[leaf][0] for leaf in structure.leaves]
    assert len(set(parents)) == 4
    # A layer object used in several paths is one slot (one set of weights).
    frozen_norm = root.components["encoder_norm"]
    slots = [i for i, x in enumerate(structure.sources) if x is frozen_norm]
    assert len(slots) == 1


def test_signature_ignores_weights_names_and_hparams(root):
    a = training.Structure(generation(root))
    b = training.Structure(generation(root, seed_offset=10, opt_momentum=0.5))
    assert a.signature() == b.signature()
    other = helpers.make_candidate(root, ("cls",))
    c = training.Structure(generation(root)[:3] + [other])
    assert c.signature() != a.signature()


def test_traced_functions_are_reused_across_generations(root):
    trainer = training.Trainer(fused=True)
    data = helpers.train_dataset, helpers.validation_dataset
    first = trainer.train(generation(root), data[0](), data[1](), 2, 2)
    workspace = next(iter(trainer.cache._entries.values()))
    second = trainer.train(
        generation(root, seed_offset=5, opt_lr_schedule="restarts"),
        data[0](),
        data[1](),
        3,
        1,
    )
    assert (trainer.cache.hits, trainer.cache.misses) == (1, 1)
    assert first[0].timings["compile"] > 0 and not first[0].reused
    assert second[0].timings["compile"] == 0 and second[0].reused
    assert workspace._train_fn.experimental_get_tracing_count() == 1
    assert workspace.evaluation._eval_fn.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("jit_compile", [False, True])
def test_warm_up_traces_once_and_changes_nothing_without_xla(root, jit_compile):
    cands = generation(root, masks=MASKS[1:3])
    strategy = tf.distribute.get_strategy()
    run = data_lib.GenerationData(
        strategy, helpers.train_dataset(), helpers.validation_dataset(), None
    )
    workspace = fused_lib.Workspace(
        training.Structure(cands),
        strategy,
        run.global_batch_size,
        jit_compile,
        "float32",
    )
    workspace.load(cands, 2, 2)
    before = [workspace.read(k) for k in range(2)]
    # Without XLA no step runs (no `load` needed); XLA compiles on a step.
    assert workspace.warm_up(*run.zeros_iterators()) is jit_compile
    iterations = [int(o.iterations.numpy()) for o in workspace.optimizers]
    assert iterations == [int(jit_compile)] * 2
    if not jit_compile:
        for k, (weights, momentum) in enumerate(before):
            after_weights, after_momentum = workspace.read(k)
            for index, values in weights.items():
                for path, value in values.items():
                    np.testing.assert_array_equal(
                        after_weights[index][path], value
                    )
                    np.testing.assert_array_equal(
                        after_momentum[index][path], momentum[index][path]
                    )
    # Training afterwards reuses the traced functions.
    workspace.train(run.train_iterator(), 2).numpy()
    workspace.evaluate(run.validation_iterator, run.validation_steps).numpy()
    assert workspace._train_fn.experimental_get_tracing_count() == 1
    assert workspace.evaluation._eval_fn.experimental_get_tracing_count() == 1


def test_cache_is_bounded():
    cache = training.WorkspaceCache(max_size=2)
    made = []
    for key in ["a", "b", "a", "c", "b"]:
        cache.get(key, lambda key=key: made.append(key) or key)
    assert made == ["a", "b", "c", "b"]
    assert len(cache) == 2
    with pytest.raises(ValueError, match="max_size"):
        training.WorkspaceCache(0)


def test_shared_trainable_layer_is_rejected(root):
    cand = helpers.make_candidate(root, ("encoder_norm",))
    twin = training.Candidate(cand.layers, cand.trainable, cand.hparams)
    with pytest.raises(ValueError, match="trainable and used twice"):
        training.Structure([cand, twin])


def test_trainable_layers_differ_between_candidates(root):
    cands = generation(root)
    trainer = training.Trainer(fused=True)
    results = trainer.train(
        cands, helpers.train_dataset(), helpers.validation_dataset(), 2, 1
    )
    losses = np.stack([r.losses for r in results])
    # Same data, different candidates: different losses after step 0.
    assert len({round(float(x), 6) for x in losses[:, -1]}) == 4
