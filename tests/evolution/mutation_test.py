import dataclasses

import numpy as np
import pytest

from mu2keras import roots
from mu2keras.architecture import VARIANT_KEY
from mu2keras.evolution import mutation
from mu2keras.evolution import search_space
from mu2keras.system.population import Population

DATA = {
    key: value
    for key, value in search_space.DEFAULT_HPARAMS["ti0"].items()
    if key.startswith("ds_")
}
DATA["ds_image_size"] = 8


def make_population(num_layers=2, **hparams):
    root = roots.make_root("testing", num_layers=num_layers, image_size=8)
    defaults = dict(search_space.DEFAULT_HPARAMS["ti0"], ds_image_size=8)
    defaults.update(hparams, num_layers=num_layers)
    defaults[VARIANT_KEY] = root.variant._asdict()
    population = Population.from_root(root, defaults)
    return population, population.paths["NOT_TRAINABLE"][0]


def child_of(population, parent, options, rng, task="a", data=None):
    if population.active_task is None:
        population.start_task(task)
    return mutation.make_child(
        population, parent, task, 3, data or DATA, options, rng
    )


def test_mu_zero_shares_everything_but_the_forced_clones():
    population, root = make_population(num_layers=2, _mu_=0.0)
    options = mutation.MutationOptions(ranges={})
    child = child_of(population, root, options, np.random.default_rng(0))
    for name in ("embedding", "cls", "posembed_input", "encoderblock_0"):
        assert child.component(name) is root.component(name)
    assert child.component("encoder_norm") is not root.component("encoder_norm")
    assert child.component("encoder_norm").trainable
    # The root's head is frozen: a new head for the task's 3 classes.
    head = child.component("head")
    assert head.trainable and head.layer.num_classes == 3
    assert not np.any(head.layer.get_weights()[0])
    assert child.metrics["cloned"] == ["encoder_norm", "head"]
    assert child.hparams["num_classes"] == 3
    assert VARIANT_KEY not in child.hparams


def test_mu_one_clones_every_frozen_inherited_component():
    population, root = make_population(num_layers=2, _mu_=1.0)
    options = mutation.MutationOptions(ranges={})
    child = child_of(population, root, options, np.random.default_rng(0))
    for component in child.components:
        assert component.trainable
        original = root.component(component.name)
        assert component is not original
        if component.name != "head":  # Clones copy the weights.
            for a, b in zip(
                component.layer.get_weights(),
                original.layer.get_weights(),
                strict=True,
            ):
                np.testing.assert_array_equal(a, b)


def test_clone_frequency_follows_mu():
    population, root = make_population(num_layers=2, _mu_=0.25)
    options = mutation.MutationOptions(ranges={})
    rng = np.random.default_rng(1)
    population.start_task("a")
    n, cloned = 160, 0
    for _ in range(n):
        child = mutation.make_child(
            population, root, "a", 3, DATA, options, rng
        )
        cloned += child.component("encoderblock_1") is not root.component(
            "encoderblock_1"
        )
    assert abs(cloned - n * 0.25) <= 5 * np.sqrt(n * 0.25 * 0.75)


def test_trainable_finds_are_always_cloned_never_shared():
    population, root = make_population(num_layers=1, _mu_=0.0)
    options = mutation.MutationOptions(ranges={})
    rng = np.random.default_rng(2)
    first = child_of(population, root, options, rng)
    second = child_of(population, first, options, rng)
    # first's head and norm are trainable (same task): cloned, not shared.
    for name in ("head", "encoder_norm"):
        assert second.component(name) is not first.component(name)
        np.testing.assert_array_equal(
            second.component(name).layer.get_weights()[0],
            first.component(name).layer.get_weights()[0],
        )
    assert second.component("encoderblock_0") is root.component(
        "encoderblock_0"
    )
    assert second.metrics["generation"] == 2
    assert root.metrics["offsprings_per_task"] == {"a": 1}
    assert first.metrics["offsprings_per_task"] == {"a": 1}
    assert first.metrics["offsprings"] == 1


def test_each_range_moves_one_step_and_mu_mutates_first():
    population, root = make_population(_mu_=1.0, opt_lr=0.01)
    ranges = {"_mu_": [0.0, 1.0], "opt_lr": [0.005, 0.01, 0.02]}
    options = mutation.MutationOptions(ranges=ranges)
    rng = np.random.default_rng(3)
    population.start_task("a")
    seen = set()
    for _ in range(60):
        child = mutation.make_child(
            population, root, "a", 3, DATA, options, rng
        )
        mu, lr = child.hparams["_mu_"], child.hparams["opt_lr"]
        seen.add((mu, lr))
        # µ mutated first: once it dropped to 0, nothing else mutates.
        if mu == 0.0:
            assert lr == 0.01
            assert child.metrics["mutations"]["_mu_"] == [1.0, 0.0]
        else:
            assert lr in (0.005, 0.02)
            assert child.metrics["mutations"]["opt_lr"] == [0.01, lr]
    assert seen == {(0.0, 0.01), (1.0, 0.005), (1.0, 0.02)}


def test_growing_layers_adds_new_blocks_beyond_the_root():
    population, root = make_population(num_layers=0, _mu_=1.0)
    ranges = {"num_layers": [0, 1, 2, 3]}
    options = mutation.MutationOptions(ranges=ranges)
    rng = np.random.default_rng(4)
    population.start_task("a")
    child = None
    while child is None or child.hparams["num_layers"] != 1:
        child = mutation.make_child(
            population, root, "a", 3, DATA, options, rng
        )
    block = child.component("encoderblock_0")
    assert block.trainable and block.layer.num_heads == 2
    # New components use a fixed initialisation (spec §10): same weights.
    again = None
    while again is None or again.hparams["num_layers"] != 1:
        again = mutation.make_child(
            population, root, "a", 3, DATA, options, rng
        )
    np.testing.assert_array_equal(
        again.component("encoderblock_0").layer.get_weights()[2],
        block.layer.get_weights()[2],
    )


def test_new_image_size_resizes_the_root_position_embedding():
    population, root = make_population(num_layers=1, _mu_=0.0)
    options = mutation.MutationOptions(ranges={})
    data = dict(DATA, ds_image_size=16)
    child = child_of(
        population, root, options, np.random.default_rng(5), data=data
    )
    posembed = child.component("posembed_input")
    assert posembed.trainable and posembed.layer.grid_size == 4
    original = root.component("posembed_input").layer.get_weights()[0]
    np.testing.assert_array_equal(
        posembed.layer.get_weights()[0][:, 0], original[:, 0]
    )
    assert child.image_size == 16
    assert child.metrics["mutations"]["ds_image_size"] == [8, 16]
    # The child runs at its own size.
    logits = child(np.zeros((2, 16, 16, 3), "float32"))
    assert logits.shape == (2, 3)


def test_adapters_are_added_and_dropped_with_layers():
    population, root = make_population(num_layers=2, _mu_=1.0, adapter_dim=4)
    options = mutation.MutationOptions(ranges={}, mutate_adapters=True)
    child = child_of(population, root, options, np.random.default_rng(6))
    assert child.hparams["adapter_layers"] == "0_1"
    adapter = child.component("residual_adapter_1")
    assert adapter.trainable and adapter.layer.adapter_dim == 4
    names = [c.name for c in child.components]
    assert (
        names.index("residual_adapter_1") == names.index("encoderblock_1") - 1
    )
    # A child with fewer layers drops the adapters above them.
    parent = population.new_path(
        "a", child.components, root, dict(child.hparams), {}
    )
    shallow = mutation.make_child(
        population,
        parent,
        "a",
        3,
        DATA,
        mutation.MutationOptions(
            ranges={"num_layers": [1]}, mutate_adapters=False
        ),
        np.random.default_rng(7),
    )
    assert shallow.hparams["num_layers"] == 1
    assert shallow.hparams["adapter_layers"] == "0"
    assert shallow.component("residual_adapter_1") is None


def test_adapter_of_another_width_is_not_inherited():
    population, root = make_population(num_layers=1, _mu_=1.0, adapter_dim=4)
    options = mutation.MutationOptions(ranges={}, mutate_adapters=True)
    rng = np.random.default_rng(8)
    first = child_of(population, root, options, rng)
    assert first.component("residual_adapter_0").layer.adapter_dim == 4
    wide = dataclasses.replace(options, ranges={"adapter_dim": [4, 8]})
    child = None
    while child is None or child.hparams["adapter_dim"] != 8:
        child = mutation.make_child(population, first, "a", 3, DATA, wide, rng)
    adapter = child.component("residual_adapter_0")
    assert adapter.layer.adapter_dim == 8
    assert adapter is not first.component("residual_adapter_0")


def test_forced_fine_tune_list_and_no_mutation_mode():
    population, root = make_population(num_layers=2, _mu_=0.0)
    options = mutation.MutationOptions(
        ranges={"opt_lr": [0.001, 0.01, 0.1]},
        force_finetune=("encoder_norm", "encoderblock_1"),
    )
    rng = np.random.default_rng(9)
    child = child_of(population, root, options, rng)
    assert child.component("encoderblock_1").trainable
    assert child.component("encoderblock_0") is root.component("encoderblock_0")
    # No mutation (µNet's seed phase, spec §10): with µ = 1 nothing frozen
    # is cloned, not even the forced components; only the new head trains.
    population, root = make_population(num_layers=2, _mu_=1.0)
    still = dataclasses.replace(options, mutate=False)
    child = child_of(population, root, still, rng)
    for name in ("embedding", "encoderblock_1", "encoder_norm"):
        assert child.component(name) is root.component(name)
    assert child.metrics["cloned"] == ["head"]
    assert child.hparams["opt_lr"] == 0.01
    assert child.metrics["mutations"] == {}
    # A trainable find is still cloned: the parent is never modified.
    grandchild = mutation.make_child(
        population, child, "a", 3, DATA, still, rng
    )
    assert grandchild.component("head") is not child.component("head")
    assert grandchild.component("head").trainable


def test_new_components_are_seeded_by_path_id_in_munet_mode():
    population, _ = make_population(num_layers=1, _mu_=0.0)
    options = mutation.MutationOptions(ranges={}, mutate_adapters=True)
    munet = dataclasses.replace(options, init_from_path_id=True)
    hparams = dict(DATA, num_classes=3, adapter_dim=4)
    variant = mutation.variant_of(population)

    def adapter_kernel(opts):
        layer = mutation._new_layer(
            population, "residual_adapter_0", variant, hparams, opts
        )
        return layer.get_weights()[2]  # The first Dense's kernel.

    # µ2Net: PRNG key 0 whatever the path; µNet: the next path's id.
    first = adapter_kernel(options)
    population.next_path_id += 1
    np.testing.assert_array_equal(adapter_kernel(options), first)
    assert not np.array_equal(adapter_kernel(munet), first)
    population.next_path_id = 0
    np.testing.assert_array_equal(adapter_kernel(munet), first)


def test_global_mu_overrides_the_path_mu():
    population, root = make_population(num_layers=2, _mu_=0.0)
    options = mutation.MutationOptions(ranges={}, global_mu=1.0)
    child = child_of(population, root, options, np.random.default_rng(10))
    assert all(c.trainable for c in child.components)


def test_missing_stem_is_an_error():
    population, _ = make_population(num_layers=0)
    with pytest.raises(ValueError, match="No ancestor of the child has"):
        mutation._new_layer(
            population,
            "cls",
            mutation.variant_of(population),
            dict(DATA, num_classes=3, adapter_dim=4),
            mutation.MutationOptions(ranges={}),
        )


def test_data_hparams_start_from_the_best_path_and_move_one_step():
    defaults = {"_mu_": 1.0, "ds_image_size": 32, "ds_crop": True, "lr": 0.1}
    ranges = {"ds_image_size": [16, 32, 64, 128], "lr": [0.1, 0.2]}
    best = {"ds_image_size": 64, "ds_crop": False, "lr": 0.2}
    rng = np.random.default_rng(0)
    kept = mutation.sample_data_hparams(defaults, ranges, best, False, rng)
    # Only data hyperparameters, the best path's over the defaults.
    assert kept == {"ds_image_size": 64, "ds_crop": False}
    sizes = {
        mutation.sample_data_hparams(defaults, ranges, best, True, rng)[
            "ds_image_size"
        ]
        for _ in range(50)
    }
    assert sizes == {32, 128}  # µ = 1: always one step from 64.
    none = dict(defaults, _mu_=0.0)
    assert mutation.sample_data_hparams(none, ranges, None, True, rng) == {
        "ds_image_size": 32,
        "ds_crop": True,
    }


def test_data_hparams_take_a_global_mu_over_the_defaults():
    # µNet mutates data hyperparameters with its global µ (spec §10).
    defaults = {"_mu_": 0.0, "ds_image_size": 32}
    ranges = {"ds_image_size": [16, 32, 64]}
    rng = np.random.default_rng(1)
    sizes = {
        mutation.sample_data_hparams(defaults, ranges, None, True, rng, mu=1.0)[
            "ds_image_size"
        ]
        for _ in range(50)
    }
    assert sizes == {16, 64}
