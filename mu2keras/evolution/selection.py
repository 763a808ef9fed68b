"""Parent selection: µ2Net's decay sampler (spec §2.4, `PPDecay`).

For each child of task T:

1. Walk T's own paths by score, best first; accept path p with probability
   0.5^k, k = children p already produced for T (`offsprings_per_task[T]`,
   persisted in p's metrics across iterations).
2. If none is accepted, walk the seed list (other tasks' non-private
   retained paths and the root, shuffled at `start_task`) the same way; a
   chosen seed rotates the list so that the seed after it comes first.
3. If still none, pick uniformly among T's paths and the seeds.

So the best paths are exploited, each exponentially less after every child,
and other tasks' models are tried as transfer sources once T's own pool is
used up.
"""

OFFSPRINGS = "offsprings"
OFFSPRINGS_PER_TASK = "offsprings_per_task"


def offspring_count(path, task):
    """Children `path` has produced for `task` (spec §2.4)."""
    return path.metrics.get(OFFSPRINGS_PER_TASK, {}).get(task, 0)


def record_offspring(parent, task):
    """Counts a child of `parent` for `task` (spec §2.5 step 5).

    The per-task counter always grows; the total `offsprings` counter only
    for children of the parent's own task.
    """
    counts = dict(parent.metrics.get(OFFSPRINGS_PER_TASK, {}))
    counts[task] = counts.get(task, 0) + 1
    parent.metrics[OFFSPRINGS_PER_TASK] = counts
    if parent.task == task:
        parent.metrics[OFFSPRINGS] = parent.metrics.get(OFFSPRINGS, 0) + 1


def decay_sample(candidates, task, rng):
    """The first candidate accepted with probability 0.5^k, or None."""
    for path in candidates:
        if rng.random() < 0.5 ** offspring_count(path, task):
            return path
    return None


def by_score(paths):
    """Paths sorted by score, best first (stable for equal scores)."""
    return sorted(paths, key=lambda p: -p.metrics.get("score", -1.0))


class DecaySampler:
    """Samples the parents of one task's children (spec §2.4).

    Args:
        seeds: list of paths. The seed list for the task, in the shuffled
            order made at `start_task` (see `shuffled_seeds`).
    """

    def __init__(self, seeds):
        self.seeds = list(seeds)

    def sample(self, own_paths, task, rng):
        """Returns the parent of the next child of `task`.

        Args:
            own_paths: list of the task's current paths (any order).
            task: str. The task the child is for.
            rng: numpy Generator (the controller's).
        """
        own = by_score(own_paths)
        parent = decay_sample(own, task, rng)
        if parent is None:
            parent = decay_sample(self.seeds, task, rng)
            if parent is not None:
                self._rotate_after(parent)
        if parent is None:
            pool = own + self.seeds
            if not pool:
                raise ValueError(f"No parent candidates for task {task!r}.")
            parent = pool[rng.integers(len(pool))]
        return parent

    def _rotate_after(self, seed):
        i = next(j for j, s in enumerate(self.seeds) if s is seed)
        self.seeds = self.seeds[i + 1 :] + self.seeds[: i + 1]


def shuffled_seeds(seed_paths, rng):
    """The seed list of `start_task`: the given paths, randomly shuffled."""
    order = rng.permutation(len(seed_paths))
    return [seed_paths[i] for i in order]
