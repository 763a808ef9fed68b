import gc
import weakref

import keras
import numpy as np
import pytest

from mu2keras import architecture
from mu2keras.system.component import Component
from mu2keras.system.path import Path
from tests.system import systems


def test_component_order_is_checked():
    population = systems.make_population(num_layers=2)
    root = systems.root_path(population)
    swapped = list(root.components)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(ValueError, match="not in path order"):
        Path(99, "a", swapped)
    adapter = Component(
        99, architecture.new_component("residual_adapter_0", "testing", 8)
    )
    with_adapter = root.components[:3] + [adapter] + root.components[3:]
    path = Path(100, "a", with_adapter)
    assert path.num_layers == 2
    with pytest.raises(ValueError, match="not in path order"):
        Path(101, "a", root.components[:3] + root.components[4:])  # No 0.
    with pytest.raises(ValueError, match="not in path order"):
        Path(102, "a", root.components[:-1])  # No head.
    with pytest.raises(ValueError, match="repeats a component id"):
        head = architecture.new_component("head", "testing", 8)
        Path(103, "a", root.components[:-1] + [Component(0, head)])


def test_model_shares_layer_instances_and_trainable_flags(system):
    population, a, b = system
    population.start_task("cmaterdb/b")  # Unlocks b's own components.
    model = b.build_model()
    assert model is b.build_model()  # Built once.
    assert isinstance(model, keras.Model)
    assert model.input_shape == (None, 12, 12, 3)
    assert model.output_shape == (None, 2)
    for component in b.components:
        layer = model.get_layer(component.name)
        assert layer is component.layer
        assert layer.trainable == component.trainable
    # a's block 0 and the root's stem are shared, frozen; the rest is b's.
    assert b.component("encoderblock_0") is a.component("encoderblock_0")
    assert systems.flags(b) == "FFTFTTT"
    trainable_params = sum(
        int(np.prod(v.shape)) for v in model.trainable_weights
    )
    assert trainable_params == b.num_trainable_params == 2224 + 32 + 34 + 160
    x = systems.images(size=12)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), b(x).numpy(), rtol=0, atol=1e-6
    )


def test_released_model_frees_a_discarded_path():
    """Keras nodes on shared layers must not keep discarded clones alive."""
    population = systems.make_population(num_layers=1)
    root = systems.root_path(population)
    population.start_task("a")
    child = systems.make_child(
        population, "a", root, 3, clone=["encoderblock_0"], accept=False
    )
    child.build_model()
    clone = weakref.ref(child.component("encoderblock_0").layer)
    del child
    gc.collect()
    assert clone() is not None  # Held by the shared root layers' nodes.
    population.garbage_collect()
    gc.collect()
    assert clone() is None
    # The root layers still work in a new model after the release.
    keep = systems.make_child(population, "a", root, 3)
    x = systems.images()
    np.testing.assert_allclose(
        keep.build_model().predict(x, verbose=0), keep(x).numpy(), atol=1e-6
    )
    assert keep.build_model().get_config()["name"] == f"path_{keep.id}"


def test_properties(system):
    _, a, b = system
    assert (a.image_size, a.num_classes, a.num_layers) == (8, 3, 2)
    assert (b.image_size, b.num_classes, b.num_layers) == (12, 2, 2)
    assert a.num_params == 784 + 16 + 80 + 2 * 2224 + 32 + 51
    record = b.record()
    assert record["parent_id"] == a.id and record["parent_task"] == "a"
    assert record["components"] == [c.id for c in b.components]
