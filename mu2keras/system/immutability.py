"""The immutability check: earlier tasks never change (spec §2.10).

Training only updates components without locks, which no retained path of
another task uses, so every other task's outputs must stay bit-for-bit the
same. The reference notebook re-evaluates test accuracies after each task
(`TEST_MODELS_IMMUTABILITY`); here every retained path is run on fixed
probe images and its logits are compared bit by bit:

    recorded = immutability.fingerprints(population)   # after a task
    ...                                                # the next task
    immutability.verify(population, recorded, changed_tasks=[task])
"""

import hashlib

import numpy as np

from mu2keras.system.component import ROOT_TASK


class ImmutabilityError(RuntimeError):
    """A retained path's outputs changed, or it vanished, unexpectedly."""


def probe_images(image_size, num_images=4, seed=0):
    """Fixed float32 images `(num_images, S, S, 3)`, uniform in [-1, 1]."""
    rng = np.random.default_rng(seed)
    shape = (num_images, image_size, image_size, 3)
    return rng.uniform(-1.0, 1.0, shape).astype(np.float32)


def _logits(path, num_images, seed):
    images = probe_images(path.image_size, num_images, seed)
    logits = np.asarray(path(images, training=False), dtype=np.float32)
    return np.ascontiguousarray(logits)


def fingerprint(path, num_images=4, seed=0):
    """The sha256 of `path`'s float32 logits on the probe images."""
    return hashlib.sha256(_logits(path, num_images, seed).tobytes()).hexdigest()


def fingerprints(population, num_images=4, seed=0):
    """Records the outputs of every retained path on probe images.

    Returns:
        A JSON-able dict: `num_images`, `seed`, and `paths`, mapping each
        retained path id (as a str) to its `task`, the `sha256` of its
        float32 logits, and the `logits` themselves.
    """
    paths = {}
    for path in population.retained_paths():
        logits = _logits(path, num_images, seed)
        paths[str(path.id)] = {
            "task": path.task,
            "sha256": hashlib.sha256(logits.tobytes()).hexdigest(),
            "logits": logits.tolist(),
        }
    return {"num_images": num_images, "seed": seed, "paths": paths}


def verify(population, recorded, changed_tasks=()):
    """Fails loudly unless every recorded path is intact (spec §2.10).

    A recorded path that is still retained must give bit-identical logits.
    A recorded path may only have been dropped if its task is in
    `changed_tasks` (the tasks trained since: their best path may have been
    replaced, spec §2.9).

    Args:
        population: the `Population` now.
        recorded: the result of `fingerprints` taken earlier.
        changed_tasks: iterable of str. Tasks trained since `recorded`.

    Raises:
        ImmutabilityError: listing every path that changed or vanished.
    """
    changed_tasks = set(changed_tasks)
    retained = {str(p.id): p for p in population.retained_paths()}
    problems = []
    for path_id, record in recorded["paths"].items():
        path = retained.get(path_id)
        if path is None:
            if record["task"] in changed_tasks and record["task"] != ROOT_TASK:
                continue
            problems.append(
                f"path {path_id} of task {record['task']!r} is no longer "
                "retained"
            )
            continue
        logits = _logits(path, recorded["num_images"], recorded["seed"])
        if hashlib.sha256(logits.tobytes()).hexdigest() != record["sha256"]:
            before = np.asarray(record["logits"], np.float32)
            diff = "n/a: the shape changed"
            if before.shape == logits.shape:
                diff = float(np.max(np.abs(logits - before)))
            problems.append(
                f"path {path_id} of task {record['task']!r} changed its "
                f"logits (max |difference| {diff})"
            )
    if problems:
        raise ImmutabilityError(
            "Knowledge compartmentalisation violated (spec §2.10): "
            + "; ".join(problems)
            + "."
        )
