"""Promotion: a task's best path becomes the root of a new system."""

import numpy as np
import pytest

from mu2keras import architecture
from mu2keras import experiment
from mu2keras import layers
from mu2keras import roots
from mu2keras.architecture import VARIANT_KEY
from mu2keras.evolution import mutation
from mu2keras.evolution import search_space
from mu2keras.storage import state
from mu2keras.system.component import ROOT_TASK
from mu2keras.system.population import Population
from tests.system import systems

SIZE = 12  # The tasks' resolution; the source root's is systems.SIZE (8).


def data_hparams(size=SIZE):
    ti0 = search_space.DEFAULT_HPARAMS["ti0"]
    data = {k: v for k, v in ti0.items() if k.startswith("ds_")}
    return {**data, "ds_image_size": size}


def hparams(**overrides):
    """The source system's defaults: 2 blocks, an adapter before block 1,
    µ = 0 (children share every frozen component they inherit)."""
    result = dict(search_space.DEFAULT_HPARAMS["ti0"], _mu_=0.0)
    result.update(num_layers=2, adapter_layers="1", adapter_dim=8)
    result.update(overrides)
    return result


def child(population, task, parent, score, defaults=None, num_classes=3):
    """A child as the controller makes one, "trained": its trainable
    components get random weights, and it is accepted with `score`."""
    options = mutation.MutationOptions(
        ranges={}, defaults=defaults or hparams()
    )
    path = mutation.make_child(
        population,
        parent,
        task,
        num_classes,
        data_hparams(),
        options,
        np.random.default_rng(0),
    )
    for component in path.components:
        if component.trainable:
            systems.randomize(component, seed=100 + component.id)
    path.metrics["score"] = score
    population.add_path(path)
    return path


def source_system():
    """Root (2 blocks, 8 px) → task "a" at 12 px, two accepted paths.

    Returns the population and a's best path: the first child (score 0.9),
    not the newest (0.4). It shares the root's stem and blocks, and owns
    a resized position embedding, `residual_adapter_1`, a cloned norm and
    a 3-class head.
    """
    root = roots.make_root(systems.VARIANT, 2, systems.SIZE, seed=1)
    population = Population.from_root(
        root, {**hparams(), VARIANT_KEY: root.variant._asdict()}
    )
    population.start_task("a")
    best = child(population, "a", systems.root_path(population), 0.9)
    child(population, "a", best, 0.4)
    population.end_task("a")
    return population, best


def weights(layer_list):
    return [[w.copy() for w in layer.get_weights()] for layer in layer_list]


def assert_weights_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            assert np.array_equal(u, v)


def features(layer_list, images):
    """The backbone's output: every component but the head."""
    assert not isinstance(layer_list[-1], layers.TaskHead)
    return np.asarray(architecture.forward(layer_list, images))


def test_promoted_root_is_a_copy_of_the_best_path_with_a_new_head():
    population, best = source_system()
    assert population.best_path("a") is best
    assert best.component("encoderblock_0").locks == {ROOT_TASK, "a"}
    root = roots.promote(population, "a", seed=5)

    assert root.variant == architecture.get_variant(systems.VARIANT)
    assert root.image_size == SIZE == best.image_size
    assert list(root.components) == [c.name for c in best.components]
    assert "residual_adapter_1" in root.components
    assert root.components["residual_adapter_1"].adapter_dim == 8
    source_variables = {
        id(v) for c in population.components().values() for v in c.layer.weights
    }
    for component in best.components[:-1]:
        copy = root.components[component.name]
        assert type(copy) is type(component.layer)
        assert copy is not component.layer
        assert not {id(v) for v in copy.weights} & source_variables
        assert copy.trainable  # As a new root's layers.
        assert_weights_equal(weights([copy]), weights([component.layer]))
    head = root.components["head"]
    assert isinstance(head, layers.TaskHead) and head.num_classes == 1
    assert head is not best.component("head").layer
    assert all(not np.any(w) for w in head.get_weights())
    assert not {id(v) for v in head.weights} & source_variables


def test_promoting_copies_are_independent_of_the_source():
    population, best = source_system()
    images = systems.images(size=SIZE)
    before_logits = np.asarray(population.predict("a", images))
    before = {i: weights([c.layer]) for i, c in population.components().items()}
    root = roots.promote(population, "a")
    # Change every variable of the promoted root, as training it would.
    rng = np.random.default_rng(7)
    for layer in root.components.values():
        for variable in layer.weights:
            shape = tuple(variable.shape)
            variable.assign(rng.normal(size=shape).astype("float32"))
    after = {i: weights([c.layer]) for i, c in population.components().items()}
    assert sorted(after) == sorted(before)
    for i in before:
        assert_weights_equal(after[i], before[i])
    assert np.array_equal(population.predict("a", images), before_logits)
    # And the other way round: the root does not follow the source.
    promoted = weights(root.components.values())
    for component in best.components:
        for variable in component.layer.weights:
            variable.assign(np.zeros(variable.shape, "float32"))
    assert_weights_equal(weights(root.components.values()), promoted)


def test_a_new_system_grows_from_the_promoted_root():
    population, best = source_system()
    root = roots.promote(population, "a")
    layout = roots.root_hparams(root)
    assert layout == {"num_layers": 2, "adapter_layers": "1", "adapter_dim": 8}
    defaults = hparams(num_layers=0, adapter_layers="", adapter_dim=32)
    new = Population.from_root(
        root, {**defaults, **layout, VARIANT_KEY: root.variant._asdict()}
    )
    root_path = systems.root_path(new)
    assert root_path.hparams["adapter_layers"] == "1"
    assert root_path.hparams["adapter_dim"] == 8
    images = systems.images(size=SIZE)
    expected = features(best.layers[:-1], images)
    assert np.array_equal(features(root_path.layers[:-1], images), expected)

    new.start_task("c")
    path = child(new, "c", root_path, 0.5, defaults=defaults, num_classes=5)
    assert [c.name for c in path.components] == list(root.components)
    # µ = 0: the root's blocks and adapter are shared (frozen), the norm
    # cloned, the head new; before training, the backbone is the old one.
    for name in ("encoderblock_0", "residual_adapter_1", "encoderblock_1"):
        assert path.component(name) is root_path.component(name)
        assert not path.component(name).trainable
    assert path.num_classes == 5
    new.end_task("c")
    assert new.tasks == ["c"]
    assert np.asarray(new.predict("c", images)).shape == (4, 5)
    # Not the norm (randomised as trained): the blocks equal the old ones.
    blocks = list(path.layers[:-2])
    assert np.array_equal(
        features(blocks, images), features(best.layers[:-2], images)
    )


def test_from_root_keeps_a_promoted_roots_adapters_by_default():
    population, _ = source_system()
    root = roots.promote(population, "a")
    new = Population.from_root(root)
    root_path = systems.root_path(new)
    assert root_path.hparams["num_layers"] == 2
    assert root_path.hparams["adapter_layers"] == "1"
    assert root_path.hparams["adapter_dim"] == 8
    # A child made with defaults that have no adapters still runs the
    # root's adapter, shared.
    new.start_task("c")
    defaults = hparams(adapter_layers="", adapter_dim=32)
    path = child(new, "c", root_path, 0.5, defaults=defaults)
    adapter = path.component("residual_adapter_1")
    assert adapter is root_path.component("residual_adapter_1")
    # A root without adapters gets no adapter hyperparameters: the search
    # space's defaults apply.
    plain = roots.make_root(systems.VARIANT, 2, systems.SIZE)
    plain_path = systems.root_path(Population.from_root(plain))
    assert plain_path.hparams == {
        "num_layers": 2,
        "ds_image_size": systems.SIZE,
        VARIANT_KEY: plain.variant._asdict(),
    }


def test_root_hparams_of_a_root_without_adapters():
    root = roots.make_root(systems.VARIANT, 2, systems.SIZE)
    assert roots.root_hparams(root) == {"num_layers": 2, "adapter_layers": ""}


@pytest.mark.parametrize(
    "task, message",
    [
        ("nope", r"'nope'.*no path for it; tasks: \['a', 'p', 'b'\]"),
        (ROOT_TASK, r"'NOT_TRAINABLE'.*pseudo-task.*\['a', 'p', 'b'\]"),
        ("p", r"'p'.*private"),
        ("b", r"'b'.*active task"),
    ],
)
def test_tasks_that_cannot_be_promoted(task, message):
    population, best = source_system()
    population.start_task("private:p")
    child(population, "p", best, 0.5)
    population.end_task("p")
    population.start_task("b")
    child(population, "b", best, 0.5)
    assert population.tasks == ["a", "p", "b"]
    with pytest.raises(ValueError, match=message):
        roots.promote(population, task)
    assert roots.promote(population, "a").image_size == SIZE


def test_promote_from_state_round_trips(tmp_path):
    population, best = source_system()
    workdir = str(tmp_path / "run")
    directory = state.save_state(population, workdir, loop=1)
    expected = roots.promote(population, "a")
    for source in (workdir, directory):
        root = roots.promote_from_state(source, "a")
        assert list(root.components) == list(expected.components)
        assert root.variant == expected.variant
        assert root.image_size == expected.image_size
        assert_weights_equal(
            weights(root.components.values()),
            weights(expected.components.values()),
        )
    # A mid-task state: its active task is refused, an ended one is fine.
    population.start_task("b")
    child(population, "b", best, 0.5)
    state.save_state(population, workdir, loop=1, generation=1)
    with pytest.raises(ValueError, match=r"state_1_1: .*'b'.*active task"):
        roots.promote_from_state(workdir, "b")
    with pytest.raises(ValueError, match=r"state_1_1: .*'x'.*\['a', 'b'\]"):
        roots.promote_from_state(workdir, "x")
    assert roots.promote_from_state(workdir, "a").image_size == SIZE
    with pytest.raises(state.StateError, match="No state at"):
        roots.promote_from_state(str(tmp_path / "nothing"), "a")


def promotion_config(source, task="a", method="mu2net"):
    config = experiment.default_config()
    config.root.variant = "Ti/16"  # Unused: the variant is the path's.
    config.root.promote_from = source
    config.root.promote_task = task
    config.method = method
    return config


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"promote_from": "/x"}, r"go together; got promote_from='/x'"),
        ({"promote_task": "a"}, r"go together; .*promote_task='a'"),
        (
            {"promote_from": "/x", "promote_task": "a", "augreg_npz": "r.npz"},
            r"promote_from='/x', augreg_npz='r.npz' each make the root",
        ),
        (
            {
                "promote_from": "/x",
                "promote_task": "a",
                "keras_hub_preset": "v",
            },
            r"promote_from='/x', keras_hub_preset='v' each make the root",
        ),
        (
            {"checkpoint": "dinov2_s14_imgfocus", "augreg_npz": "r.npz"},
            r"checkpoint='dinov2_s14_imgfocus', augreg_npz='r.npz' each",
        ),
        ({"checkpoint": "dinov3"}, r"Unknown checkpoint 'dinov3'; known: "),
    ],
)
def test_config_checks(fields, message):
    config = experiment.default_config()
    config.root.update(fields)
    with pytest.raises(ValueError, match=message):
        experiment.check_config(config)


def test_build_root_promotes(tmp_path):
    population, best = source_system()
    state.save_state(population, str(tmp_path), loop=1)
    config = promotion_config(str(tmp_path))
    config.root.seed = 3
    defaults, _ = experiment.check_config(config)
    root, root_hparams = experiment.build_root(config, defaults)
    assert root.variant.name == systems.VARIANT
    assert_weights_equal(
        weights(list(root.components.values())[:-1]),
        weights(best.layers[:-1]),
    )
    assert root_hparams[VARIANT_KEY] == root.variant._asdict()
    assert root_hparams["num_layers"] == 2  # The path's, not ti0's 0.
    assert root_hparams["adapter_layers"] == "1"
    assert root_hparams["adapter_dim"] == 8
    new = Population.from_root(root, root_hparams)
    assert systems.root_path(new).hparams == root_hparams
    # A baseline fixes its own depth and adapters.
    config = promotion_config(str(tmp_path), method="finetune_all")
    defaults, _ = experiment.check_config(config)
    _, root_hparams = experiment.build_root(config, defaults)
    assert root_hparams["num_layers"] == defaults["num_layers"] == 0
    assert root_hparams["adapter_layers"] == ""
    # The task is checked when the root is built.
    config = promotion_config(str(tmp_path), task="zzz")
    defaults, _ = experiment.check_config(config)
    with pytest.raises(ValueError, match=r"'zzz'.*tasks: \['a'\]"):
        experiment.build_root(config, defaults)


def test_a_path_without_a_recorded_variant_or_a_mismatched_size():
    population, _, _ = systems.two_task_system()
    # A system whose root path does not record its variant (made with
    # hparams that dropped it).
    systems.root_path(population).hparams.pop(VARIANT_KEY)
    with pytest.raises(ValueError, match=r"records its ViT variant"):
        roots.promote(population, "a")
    population, best = source_system()
    best.hparams["ds_image_size"] = 16
    with pytest.raises(ValueError, match=r"sized for 12 px, .* is 16"):
        roots.promote(population, "a")
