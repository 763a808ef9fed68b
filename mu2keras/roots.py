"""Roots: the seed models a µ2Net system grows from (spec §1.3).

A root is a ViT variant's components: the patch stem, class token, position
embedding, `num_layers` encoder blocks, the encoder norm and a 1-class head.
In a system they sit in the root pseudo-task, permanently frozen. They come
randomly initialised (`make_root`, e.g. the "ViT tiny 0 layers" setting that
grows layers from nothing), pretrained (`mu2keras.pretrained`), or promoted:
copied from the best path of a task of another system (`promote`,
`promote_from_state`), e.g. a small ViT trained on a first task that then
roots a new system grown over other tasks.
"""

import collections

from mu2keras import architecture
from mu2keras.architecture import VARIANT_KEY
from mu2keras.storage import state as state_lib
from mu2keras.system import component as component_lib
from mu2keras.system import population as population_lib
from mu2keras.system.component import ROOT_TASK

Root = collections.namedtuple("Root", ["variant", "image_size", "components"])
Root.__doc__ = """A root model.

Attributes:
    variant: ViTVariant. The architecture (patch size, widths, heads).
    image_size: int. The resolution its position embedding is sized for.
    components: dict name -> built component layer, in path order.
"""


def root_component_names(num_layers):
    """The components of a root with `num_layers` blocks (no adapters)."""
    return architecture.component_names(num_layers)


def make_root(variant, num_layers=None, image_size=224, seed=0):
    """Makes a randomly initialised root for a ViT variant.

    Args:
        variant: str or ViTVariant. "Ti/16", "S/16", "B/16", "L/16", "H/14"
            or "testing".
        num_layers: int or None. Encoder blocks (0 allowed); None means the
            variant's full depth.
        image_size: int. Input resolution, a multiple of the patch size.
        seed: int. The same seed gives the same weights.

    Returns:
        A `Root`.

    Example:

    >>> root = make_root("Ti/16", num_layers=0, image_size=32)
    >>> sum(c.count_params() for c in root.components.values())
    149377
    """
    v = architecture.get_variant(variant)
    if num_layers is None:
        num_layers = v.num_layers
    if isinstance(num_layers, bool) or not isinstance(num_layers, int):
        raise ValueError(f"`num_layers` must be an int; got {num_layers!r}.")
    if num_layers < 0:
        raise ValueError(f"`num_layers` must be >= 0; got {num_layers}.")
    architecture.grid_size(v, image_size)  # Validates image_size.
    components = {
        name: architecture.new_component(name, v, image_size, seed=seed)
        for name in root_component_names(num_layers)
    }
    return Root(v, image_size, components)


def with_dtype_policy(root, policy):
    """The root with every component in the Keras dtype policy `policy`
    (the same weights; components already in it are kept)."""
    components = {
        name: component_lib.in_dtype_policy(layer, policy)
        for name, layer in root.components.items()
    }
    return root._replace(components=components)


def root_hparams(root):
    """The architecture hyperparameters that describe a root's layout.

    A root path given them makes children
    (`mu2keras.evolution.mutation.make_child`) that run all its blocks and
    reuse its adapters, e.g. those of a promoted path;
    `Population.from_root` applies them by default.

    Args:
        root: `Root`.

    Returns:
        A dict: `num_layers` (its encoder blocks), `adapter_layers` (e.g.
        "0_2", "" for none), and `adapter_dim` if it has adapters.

    Raises:
        ValueError: if its adapters have different widths (a path's
            adapters share the path's `adapter_dim`).
    """
    return architecture.layout_hparams(root.components)


def promote(population, task, seed=0):
    """Makes a task's best path the root of a new system.

    The root holds independent copies (new variables, same weights) of the
    path's components in path order, adapters included, and a new 1-class
    head, zero-initialised as a random root's. Training a system grown from
    it never changes `population`.

    Args:
        population: `mu2keras.system.population.Population`. Read, never
            modified.
        task: str. A task of `population` ("private:" prefix allowed). Not
            the root pseudo-task, a private task (its weights must not be
            shared) or the active task (its best path may still change).
        seed: int. The seed the new head is made with, as `make_root`'s
            (a head is zero-initialised, so it does not change its weights).

    Returns:
        A `Root`: the ViT variant of `population`'s root, and the image
        size the path's position embedding is sized for (its
        `ds_image_size`).

    Raises:
        ValueError: naming the task and the known tasks, for a task that
            cannot be promoted.
    """
    path = population.best_path(_promotable_task(population, task))
    variant = _variant(population, path)
    image_size = path.image_size
    hparam_size = path.hparams.get("ds_image_size", image_size)
    if hparam_size != image_size:
        raise ValueError(
            f"{path}: its position embedding is sized for {image_size} px, "
            f"but its ds_image_size is {hparam_size!r}."
        )
    components = {}
    for component in path.components:
        if component.name == architecture.HEAD:
            continue
        layer = component_lib.copy_layer(component.layer)
        layer.trainable = True  # As a new root's layers; populations lock.
        components[layer.name] = layer
    components[architecture.HEAD] = architecture.new_component(
        architecture.HEAD, variant, image_size, seed=seed
    )
    return Root(variant, image_size, components)


def promote_from_state(source, task, seed=0):
    """Promotes a task's best path in a saved system (see `promote`).

    Args:
        source: str. A run's workdir (its `LAST` state) or a state
            directory, local or `gs://`. Read, never modified.
        task: str. A task of that system, not the active one of a mid-task
            state.
        seed: int. Seed of the new head.

    Returns:
        A `Root`.

    Raises:
        mu2keras.storage.state.StateError: for a missing or damaged state.
        ValueError: naming the state directory, the task and the known
            tasks, for a task that cannot be promoted.
    """
    loaded = state_lib.load_state(source)
    try:
        return promote(loaded.population, task, seed=seed)
    except ValueError as error:
        raise ValueError(f"{loaded.directory}: {error}") from None


def _promotable_task(population, task):
    """`task` without "private:", if it has a best path to promote."""
    known = population.tasks
    try:
        name, _ = population_lib.parse_task_name(task)
    except (AttributeError, TypeError, ValueError) as error:
        raise ValueError(
            f"Cannot promote task {task!r}: {error} Tasks: {known}."
        ) from None
    if name not in known:
        raise ValueError(
            f"Cannot promote task {task!r}: the system has no path for it; "
            f"tasks: {known}."
        )
    if name == population.active_task:
        raise ValueError(
            f"Cannot promote task {task!r}: it is the active task of a "
            "mid-task system, so its best path may still change; promote "
            "from a state saved after the task ended."
        )
    if name in population.private_tasks:
        raise ValueError(
            f"Cannot promote task {task!r}: it is private, and a root is "
            "shared with every task of the new system (spec §2.10)."
        )
    return name


def _variant(population, path):
    """The ViTVariant recorded in the path's hparams, or its root's."""
    candidates = [path] + population.paths.get(ROOT_TASK, [])
    for candidate in candidates:
        fields = candidate.hparams.get(VARIANT_KEY)
        if fields:
            return architecture.ViTVariant(**fields)
    raise ValueError(
        f"{path}: neither it nor the root path records its ViT variant "
        f"(hparam {VARIANT_KEY!r}); make the system's root with "
        "`mu2keras.experiment.build_root`."
    )
