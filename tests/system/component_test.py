import numpy as np
import pytest

from mu2keras import architecture
from mu2keras.system.component import ROOT_TASK
from mu2keras.system.component import Component


def make_block(seed=0):
    return architecture.new_component("encoderblock_0", "testing", 8, seed=seed)


def test_trainable_if_and_only_if_no_locks():
    component = Component(3, make_block())
    assert component.trainable and component.layer.trainable
    component.add_lock("a")
    component.add_lock("b")
    assert component.locks == {"a", "b"}
    assert not component.trainable and not component.layer.trainable
    assert all(not v.trainable for v in component.layer.weights)
    component.remove_lock("a")
    assert not component.trainable
    component.remove_lock("b")
    assert component.trainable and component.layer.trainable
    assert len(component.layer.trainable_weights) == 16


def test_root_lock_is_permanent():
    component = Component(0, make_block(), locks=[ROOT_TASK])
    with pytest.raises(ValueError, match="root lock 'NOT_TRAINABLE'"):
        component.remove_lock(ROOT_TASK)
    assert not component.trainable


def test_clone_copies_weights_and_momentum_and_is_independent():
    original = Component(4, make_block(seed=1), locks=["a"])
    momentum = {
        key: np.full(tuple(v.shape), 0.5, np.float32)
        for key, v in original.variables().items()
    }
    original.set_momentum(momentum)
    clone = original.clone(9)
    assert (clone.id, clone.name, clone.locks) == (9, "encoderblock_0", set())
    assert clone.trainable and not original.trainable
    assert clone.layer is not original.layer
    config = original.layer.get_config()
    assert clone.layer.get_config() == {**config, "trainable": True}
    for a, b in zip(original.layer.weights, clone.layer.weights, strict=True):
        assert a is not b
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert sorted(clone.momentum) == sorted(momentum)
    assert (
        clone.momentum["mlp_dense_1/kernel"]
        is not (original.momentum["mlp_dense_1/kernel"])
    )
    np.testing.assert_array_equal(
        clone.momentum["mlp_dense_1/kernel"], momentum["mlp_dense_1/kernel"]
    )
    # Updating the clone leaves the original untouched.
    before = original.layer.weights[0].numpy().copy()
    clone.layer.weights[0].assign(before + 1.0)
    clone.momentum["mlp_dense_1/kernel"] += 1.0
    np.testing.assert_array_equal(original.layer.weights[0].numpy(), before)
    assert original.momentum["mlp_dense_1/kernel"][0, 0] == 0.5


def test_new_component_has_no_momentum_and_keys_are_layer_relative():
    component = Component(0, make_block())
    assert component.momentum is None
    assert "attention/query/kernel" in component.variables()
    assert len(component.variables()) == 16


def test_momentum_is_checked_against_the_variables():
    component = Component(0, make_block())
    with pytest.raises(ValueError, match="'nope' is not a variable"):
        component.set_momentum({"nope": np.zeros(3)})
    with pytest.raises(ValueError, match=r"has shape \(3,\)"):
        component.set_momentum({"norm_1/gamma": np.zeros(3)})


def test_invalid_ids_and_locks():
    with pytest.raises(ValueError, match="got -1"):
        Component(-1, make_block())
    with pytest.raises(ValueError, match="got ''"):
        Component(0, make_block(), locks=[""])
