"""The layer pool: blank layers shared by a trainer's workspaces."""

import keras
import pytest
import tensorflow as tf

from mu2keras import training
from mu2keras.system.component import layer_signature
from mu2keras.training import evaluation as evaluation_lib
from mu2keras.training import fused as fused_lib
from mu2keras.training import layer_pool as layer_pool_lib
from tests.training import fused_test
from tests.training import helpers


@pytest.fixture(scope="module")
def root():
    return helpers.make_root(num_layers=2)


def test_slots_of_one_kind_get_distinct_layers_and_kinds_are_reused(root):
    templates = list(root.components.values())
    pool = layer_pool_lib.LayerPool(tf.distribute.get_strategy())
    first = pool.take(templates)
    # The two blocks are of one kind, but a workspace needs both.
    assert layer_signature(first[3]) == layer_signature(first[4])
    assert first[3] is not first[4]
    assert len({id(layer) for layer in first}) == len(templates)
    for copy, template in zip(first, templates, strict=True):
        assert layer_signature(copy) == layer_signature(template)
    # The same kinds get the same layers; a third block is built.
    again = pool.take(templates[:4] + templates[3:5])
    assert again[:5] == first[:5]
    assert again[5] not in first
    assert len(pool) == len(templates) + 1


def test_workspaces_sharing_layers_train_as_if_alone(root):
    # Two structures with the same kinds, trained alternately by one
    # trainer: each `load` must leave nothing of the other's weights or
    # momentum (each candidate starts from zero momentum).
    masks = [(), ("encoder_norm",), (), ("encoder_norm",)]
    cands = fused_test.generation(root, masks=masks)
    alone = fused_test.copies(cands)
    data = helpers.train_dataset, helpers.validation_dataset
    trainer = training.Trainer(fused=False)
    shared = [trainer.train([c], data[0](), data[1](), 2, 2)[0] for c in cands]
    assert [r.reused for r in shared] == [False, False, True, True]
    first, second = trainer.cache._entries.values()
    assert first.layers == second.layers  # Trainable flags differ.
    head_traces = [w.optimizers[0].traces[-1] for w in (first, second)]
    assert head_traces[0] is head_traces[1]
    for result, cand in zip(shared, alone, strict=True):
        (own,) = training.Trainer(fused=False).train(
            [cand], data[0](), data[1](), 2, 2
        )
        helpers.assert_close(result.losses, own.losses, rtol=1e-6)
        assert result.quality == own.quality
        for got, want in zip(
            _flat(result.momentum()), _flat(own.momentum()), strict=True
        ):
            helpers.assert_close(got, want, rtol=1e-6, atol=1e-7)
    got, want = (_flat(fused_test.final_weights(c)) for c in (cands, alone))
    assert len(got) == len(want) > len(cands)
    for a, b in zip(got, want, strict=True):
        helpers.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_a_pool_serves_one_strategy(root):
    cands = fused_test.generation(root, masks=[()])
    pool = layer_pool_lib.LayerPool(tf.distribute.get_strategy())
    other = tf.distribute.OneDeviceStrategy("/cpu:0")
    with pytest.raises(ValueError, match="layer pool serves strategy"):
        fused_lib.Workspace(
            training.Structure(cands), other, 16, False, "float32", None, pool
        )


def _flat(nested):
    if isinstance(nested, dict):
        return _flat([nested[key] for key in sorted(nested)])
    if isinstance(nested, list):
        return [array for item in nested for array in _flat(item)]
    return [] if nested is None else [nested]


def test_a_workspace_rejects_an_evaluation_of_other_layers(root):
    strategy = tf.distribute.get_strategy()
    (cand,) = fused_test.generation(root, masks=[()])
    structure = training.Structure([cand])
    pool = layer_pool_lib.LayerPool(strategy)
    own = evaluation_lib.Evaluation(
        strategy, pool.take(structure.sources), structure, False, None
    )
    other = evaluation_lib.Evaluation(
        strategy,
        layer_pool_lib.LayerPool(strategy).take(structure.sources),
        structure,
        False,
        None,
    )
    args = (structure, strategy, 16, False, "float32", None, pool)
    assert fused_lib.Workspace(*args, own).evaluation is own
    with pytest.raises(ValueError, match="evaluation runs other layers"):
        fused_lib.Workspace(*args, other)


def test_an_optimizer_rejects_traces_that_do_not_fit():
    variable = keras.Variable(tf.zeros((2, 3)), name="kernel")
    pool = layer_pool_lib.LayerPool(tf.distribute.get_strategy())
    (fits,) = pool.momentum_traces([variable], "float32")
    (wrong,) = pool.momentum_traces([keras.Variable(tf.zeros(3))], "float32")
    optimizer = training.TraceSGD()
    with pytest.raises(ValueError, match="does not fit variable 'kernel'"):
        optimizer.build([variable], [wrong])
    optimizer = training.TraceSGD(momentum_dtype="bfloat16")
    with pytest.raises(ValueError, match="does not fit"):
        optimizer.build([variable], [fits])
    assert pool.momentum_traces([variable], "float32") == [fits]
