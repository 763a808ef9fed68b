"""Child construction: µ2Net's mutations (spec §2.5, `Path.clone`).

A child of task T starts from its parent's hyperparameters and then:

1. takes T's class count and the generation's data hyperparameters;
2. mutates each other hyperparameter that has a range, in sorted key order,
   with probability µ (`_mu_` sorts first, so the new µ governs the rest);
3. adds an adapter before each layer with probability µ (if adapters are
   mutated) and drops adapters at or above `num_layers`;
4. assembles its components: each name is looked up in the closest
   ancestor that has it (subject to the head, position-embedding and adapter
   rules of spec §1.5-§1.6); a trainable find is always cloned, a frozen one
   cloned with probability µ (always for the forced fine-tune components,
   `encoder_norm` by default), else shared; what no ancestor has is made
   new (a head, an adapter, a block beyond the root's depth, or the root's
   position embedding resized to a new image size), from PRNG key 0
   (µ2Net) or the child's path id (µNet, spec §10);
5. records its mutations and counts itself in the parent's offspring.
"""

import dataclasses

from mu2keras import architecture
from mu2keras.architecture import VARIANT_KEY
from mu2keras.evolution import search_space
from mu2keras.evolution import selection
from mu2keras.system.component import ROOT_TASK
from mu2keras.system.component import in_dtype_policy


@dataclasses.dataclass(frozen=True)
class MutationOptions:
    """How children are made.

    Attributes:
        ranges: dict key -> ordered values; the mutable hyperparameters.
        mutate_adapters: bool. Whether adapters may be added (spec §1.6).
        force_finetune: tuple of component names always cloned.
        global_mu: float or None. µNet's global mutation probability, used
            instead of each path's `_mu_` (spec §10).
        mutate: bool. False makes a child without any mutation: only
            trainable finds are cloned, not even the forced components
            (µNet's seed phase, spec §10: muNet.ipynb clones a frozen find
            only if `mutate and do_mutate(name)`).
        init_from_path_id: bool. Seed new components with the child's
            path id (µNet's `Path.counter`) rather than 0 (µ2Net).
        defaults: dict. Fills hyperparameters the parent lacks (e.g. a
            system grown under an older config).
        position_source: callable or None. Returns the position embedding
            a new image size is resized from: a pretrained root's own, at
            its checkpoint's grid (as the reference reloads it). None uses
            the root path's (a random or promoted root).
    """

    ranges: dict
    defaults: dict = dataclasses.field(default_factory=dict)
    mutate_adapters: bool = False
    force_finetune: tuple = (architecture.ENCODER_NORM,)
    global_mu: float = None
    mutate: bool = True
    position_source: object = None
    init_from_path_id: bool = False


def variant_of(population):
    """The ViTVariant of the population's root (stored in its hparams)."""
    root = population.paths[ROOT_TASK][0]
    return architecture.ViTVariant(**root.hparams[VARIANT_KEY])


def dtype_policy_of(population):
    """The Keras dtype policy of the population's root: new components are
    made in it, so that a system computes in one precision."""
    root = population.paths[ROOT_TASK][0]
    return root.components[0].layer.dtype_policy.name


def adapter_layers(hparams):
    """The `adapter_layers` hparam ("0_2") as a sorted list of ints."""
    text = hparams.get("adapter_layers", "")
    return sorted(int(i) for i in text.split("_")) if text else []


def _adapter_text(indices):
    return "_".join(str(i) for i in sorted(set(indices)))


def make_child(
    population, parent, task, num_classes, data_hparams, options, rng
):
    """Builds (but does not train or accept) a child of `parent` for `task`.

    Args:
        population: the `Population`; `task` must be its active task.
        parent: the parent `Path` (any task, or the root).
        task: str. The child's task.
        num_classes: int. Classes of the task.
        data_hparams: dict of `ds_*` values sampled for this generation.
        options: `MutationOptions`.
        rng: numpy Generator (the controller's).

    Returns:
        The child `Path`, registered in the population's history.
    """
    hparams = {**options.defaults, **parent.hparams}
    hparams.pop(VARIANT_KEY, None)
    hparams["num_classes"] = num_classes
    hparams.update(data_hparams)
    if options.mutate:
        _mutate_hparams(hparams, options, rng)
        if options.mutate_adapters:
            _add_adapters(hparams, _mu(hparams, options), rng)
    kept = [i for i in adapter_layers(hparams) if i < hparams["num_layers"]]
    hparams["adapter_layers"] = _adapter_text(kept)
    components = _assemble(population, parent, task, hparams, options, rng)
    mutations = {
        key: [parent.hparams.get(key), value]
        for key, value in sorted(hparams.items())
        if parent.hparams.get(key) != value and key != "num_classes"
    }
    metrics = {
        "generation": parent.metrics.get("generation", 0) + 1,
        "mutations": mutations,
        "cloned": [c.name for c in components if c.trainable],
    }
    child = population.new_path(task, components, parent, hparams, metrics)
    selection.record_offspring(parent, task)
    return child


def sample_data_hparams(defaults, ranges, best, mutate, rng, mu=None):
    """A generation's data hyperparameters (spec §2.3).

    The defaults, then the task's best path's, then each mutated with the
    config's default µ (not a path's), or `mu` (µNet's global µ).

    Args:
        defaults: dict. The search space's defaults, with "_mu_".
        ranges: dict key -> list of allowed values.
        best: dict or None. The hparams of the task's best path.
        mutate: bool. Whether to mutate (not in a seed phase or baseline).
        rng: `numpy.random.Generator`.
        mu: float or None. The mutation probability (None: the defaults'
            "_mu_").
    """
    mu = defaults["_mu_"] if mu is None else mu
    hparams = {k: v for k, v in defaults.items() if k.startswith("ds_")}
    if best is not None:
        hparams.update({k: v for k, v in best.items() if k.startswith("ds_")})
    if not mutate:
        return hparams
    for key in sorted(ranges):
        if key.startswith("ds_") and rng.random() < mu:
            hparams[key] = search_space.incremental_mutation(
                ranges[key], hparams[key], rng
            )
    return hparams


def _mu(hparams, options):
    return (
        options.global_mu
        if options.global_mu is not None
        else (hparams["_mu_"])
    )


def _mutate_hparams(hparams, options, rng):
    # Spec §2.5 step 2: sorted keys, so `_mu_` first; `ds_*` keys were set
    # per generation (spec §2.3) and are skipped here.
    for key in sorted(options.ranges):
        if key.startswith("ds_"):
            continue
        if rng.random() < _mu(hparams, options):
            hparams[key] = search_space.incremental_mutation(
                options.ranges[key], hparams[key], rng
            )


def _add_adapters(hparams, mu, rng):
    # Spec §1.6/§2.5 step 3: never removed, added with probability µ each.
    indices = set(adapter_layers(hparams))
    for i in range(hparams["num_layers"]):
        if rng.random() < mu:
            indices.add(i)
    hparams["adapter_layers"] = _adapter_text(indices)


def _assemble(population, parent, task, hparams, options, rng):
    variant = variant_of(population)
    image_size = hparams["ds_image_size"]
    names = architecture.component_names(
        hparams["num_layers"], adapter_layers(hparams)
    )
    mu = _mu(hparams, options)
    components = []
    for name in names:
        found = _find(parent, name, variant, image_size, hparams)
        if found is None:
            layer = _new_layer(population, name, variant, hparams, options)
            components.append(population.new_component(layer))
        elif found.trainable or (
            options.mutate
            and (name in options.force_finetune or rng.random() < mu)
        ):
            components.append(population.clone_component(found))
        else:
            components.append(found)
    return components


def _ancestors(path):
    while path is not None:
        yield path
        path = path.parent


def _find(parent, name, variant, image_size, hparams):
    """The closest ancestor's component `name` that fits (spec §1.5-1.6)."""
    grid = architecture.grid_size(variant, image_size)
    for ancestor in _ancestors(parent):
        component = ancestor.component(name)
        if component is None:
            continue
        layer = component.layer
        if name == architecture.HEAD and not component.trainable:
            continue  # Another task's (or the root's) head.
        if name == architecture.POSITION_EMBEDDING and layer.grid_size != grid:
            continue
        if (
            name.startswith("residual_adapter_")
            and layer.adapter_dim != hparams["adapter_dim"]
        ):
            continue
        return component
    return None


def _new_layer(population, name, variant, hparams, options):
    """A fresh layer for what no ancestor has (spec §2.5 step 4)."""
    image_size = hparams["ds_image_size"]
    policy = dtype_policy_of(population)
    if name == architecture.POSITION_EMBEDDING:
        # The pretrained embedding resized to the new grid from the
        # checkpoint's own grid, not from a grid already resized once.
        if options.position_source is not None:
            posembed = options.position_source()
        else:
            root = population.paths[ROOT_TASK][0]
            posembed = root.component(name).layer
        posembed = posembed.resized(architecture.grid_size(variant, image_size))
        # A checkpoint's own embedding is read in float32.
        return in_dtype_policy(posembed, policy)
    if name in (
        architecture.EMBEDDING,
        architecture.CLASS_TOKEN,
        architecture.ENCODER_NORM,
    ):
        raise ValueError(f"No ancestor of the child has a {name!r}.")
    # µ2Net initialises new components with a fixed PRNG key, µNet with the
    # new path's id, the id `new_path` gives the child next (spec §10).
    seed = population.next_path_id if options.init_from_path_id else 0
    return architecture.new_component(
        name,
        variant,
        image_size,
        num_classes=hparams["num_classes"],
        adapter_dim=hparams["adapter_dim"],
        seed=seed,
        dtype=policy,
    )
