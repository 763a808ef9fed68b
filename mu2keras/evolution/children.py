"""A generation's children (spec §2.4, §2.5, §2.8).

Each child is made from a parent the sampler picks, handed to the trainer
as a `Candidate` with its acceptance threshold, and recorded once trained:
its metrics stored, and accepted into its task's pool if it improved.
"""

import dataclasses
import math

from absl import logging

from mu2keras.evolution import mutation
from mu2keras.system.component import ROOT_TASK
from mu2keras.training import candidate as candidate_lib
from mu2keras.training import trainer as trainer_lib


def make(population, method, task, sampler, data_hparams, options, rng):
    """One child of `task`: a baseline's from the root path (spec §7.4),
    else from the sampled parent; µNet's seed phase mutates nothing
    (spec §10)."""
    if method.baseline:
        parent = population.paths[ROOT_TASK][0]
    else:
        if sampler.in_seed_phase:
            options = dataclasses.replace(options, mutate=False)
        parent = sampler.sample(
            population.paths.get(task.name, []), task.name, rng
        )
    return mutation.make_child(
        population,
        parent,
        task.name,
        task.num_classes,
        data_hparams,
        options,
        rng,
    )


def to_candidate(population, task, child):
    """`child` as the trainer's `Candidate`. A same-task child must reach
    its parent's score now, from the live locks (spec §2.8); a cross-task
    child is always accepted."""
    parent = child.parent
    same_task = parent is not None and parent.task == task
    threshold = population.score(parent) if same_task else -math.inf
    accounted = child.accounted_params()
    child.metrics["training_accounted_params"] = accounted
    return candidate_lib.Candidate(
        child.layers,
        [c.trainable for c in child.components],
        child.hparams,
        momentum=[c.momentum for c in child.components],
        score_fn=population.scorer.for_candidate(child, accounted),
        threshold=threshold,
        name=f"path {child.id}",
    )


def record(population, task, generation, child, result):
    """Stores `result` in the child's metrics; accepts it if improved."""
    pop, m = population, child.metrics
    m["evals"] = result.evaluations
    m["quality"] = result.quality
    m["score"] = result.score
    m["improved"] = result.improved
    m["num_trainable_params"] = child.num_trainable_params
    m["trainable_params_ratio"] = child.num_trainable_params / max(
        child.num_params, 1
    )
    for key in trainer_lib.TIMINGS:
        m[f"{key}_time"] = result.timings[key] / result.group_size
    if not result.improved:
        return
    # The best snapshot is already in the layers; keep its momentum.
    for component, slots in zip(
        child.components, result.momentum(), strict=True
    ):
        if component.trainable:
            component.set_momentum(slots)
    m["score"] = result.evaluations[result.best_evaluation]["score"]
    previous = pop.best_path(task) if pop.paths.get(task) else None
    pop.add_path(child)
    m["new_best"] = pop.best_path(task) is child and previous is not child
    logging.info(
        "%s gen %d: path %d accepted, validation %.4f%s",
        task,
        generation,
        child.id,
        result.quality,
        " (new best)" if m["new_best"] else "",
    )
