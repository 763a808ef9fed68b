"""Small µ2Net systems for the system tests ("testing" ViT, 8 and 12 px)."""

import numpy as np

from mu2keras import architecture
from mu2keras import roots
from mu2keras.system.component import ROOT_TASK
from mu2keras.system.population import Population

VARIANT = "testing"  # Patch 4, width 16, MLP 32, 2 heads.
SIZE = 8  # Root resolution: a 2x2 patch grid.


def randomize(component, seed):
    """Random weights, so that outputs differ from the zero-init heads'."""
    rng = np.random.default_rng(seed)
    for variable in component.layer.weights:
        value = rng.normal(0.0, 0.2, tuple(variable.shape))
        variable.assign(value.astype(np.float32))


def make_child(
    population,
    task,
    parent,
    num_classes,
    clone=(),
    image_size=None,
    score=1.0,
    accept=True,
    variant=VARIANT,
):
    """A child path as µ2Net builds one (spec §2.5 step 4, simplified).

    Shares the parent's components except those named in `clone` and
    `encoder_norm` (always cloned); a new head unless the parent is of the
    same task; a resized position embedding if `image_size` differs. Every
    new or cloned component gets random weights.
    """
    components = []
    image_size = image_size or parent.image_size
    for component in parent.components:
        name = component.name
        if name == architecture.HEAD and parent.task != task:
            layer = architecture.new_component(
                name, variant, image_size, num_classes=num_classes
            )
            new = population.new_component(layer)
        elif (
            name == architecture.POSITION_EMBEDDING
            and image_size != parent.image_size
        ):
            patch_size = parent.image_size // component.layer.grid_size
            layer = component.layer.resized(image_size // patch_size)
            new = population.new_component(layer)
        elif name in clone or name in (
            architecture.ENCODER_NORM,
            architecture.HEAD,
        ):
            new = population.clone_component(component)
        else:
            components.append(component)
            continue
        randomize(new, seed=population.next_component_id)
        components.append(new)
    path = population.new_path(
        task, components, parent=parent, metrics={"score": score}
    )
    if accept:
        population.add_path(path)
    return path


def flags(path):
    """The components' trainable flags, as a string like "FFTFTTT"."""
    return "".join("T" if c.trainable else "F" for c in path.components)


def root_path(population):
    return population.paths[ROOT_TASK][0]


def make_population(num_layers=2, image_size=SIZE, variant=VARIANT):
    root = roots.make_root(variant, num_layers, image_size)
    return Population.from_root(root)


def images(batch=4, size=SIZE, seed=0, channels=3):
    rng = np.random.default_rng(seed)
    shape = (batch, size, size, channels)
    return rng.uniform(-1.0, 1.0, shape).astype(np.float32)


def two_task_system():
    """Root (2 layers) → task "a" → task "cmaterdb/b" at 12 px (see below).

    a: the root's stem and block 1 shared, block 0 cloned, 3 classes.
    cmaterdb/b: a's stem and block 0 shared, block 1 cloned from the root
    path (through a), 12 px (its position embedding resized), 2 classes.
    """
    population = make_population()
    population.start_task("a")
    a = make_child(
        population, "a", root_path(population), 3, clone=["encoderblock_0"]
    )
    population.end_task("a")
    population.start_task("cmaterdb/b")
    b = make_child(
        population, "cmaterdb/b", a, 2, clone=["encoderblock_1"], image_size=12
    )
    population.end_task("cmaterdb/b")
    return population, a, b
