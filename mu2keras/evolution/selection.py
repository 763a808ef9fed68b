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
used up. "By score" is the live score (`mu2keras.evolution.score.Scorer`):
a path whose components another task came to share since it was trained
ranks higher than when it was accepted (spec §1.4, §2.8).

µNet's policy (`MuNetSampler`, spec §10) differs: each visit of T starts
with a seed phase, every seed once by id descending, unmutated; then only
T's own paths are walked, by their total same-task children
(`offsprings`); the fallback is the same uniform choice.
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
    return _decay_walk(candidates, lambda p: offspring_count(p, task), rng)


def _decay_walk(candidates, count, rng):
    for path in candidates:
        if rng.random() < 0.5 ** count(path):
            return path
    return None


def stored_score(path):
    """The score recorded when `path` was trained (-1 if none)."""
    return path.metrics.get("score", -1.0)


def by_score(paths, score=None):
    """Paths sorted by `score(path)` (default: `stored_score`), best first;
    stable for equal scores."""
    score = score or stored_score
    return sorted(paths, key=lambda p: -score(p))


def uniform_fallback(own, seeds, task, rng):
    """Spec §2.4 step 3: uniform over the task's paths and the seeds."""
    pool = list(own) + list(seeds)
    if not pool:
        raise ValueError(f"No parent candidates for task {task!r}.")
    return pool[rng.integers(len(pool))]


class DecaySampler:
    """Samples the parents of one task's children (spec §2.4).

    Args:
        seeds: list of paths. The seed list for the task, in the shuffled
            order made at `start_task` (see `shuffled_seeds`).
        score: callable path -> float, or None (`stored_score`). Orders
            the task's own paths: the run's live score
            (`Population.score`).
    """

    # µ2Net has no seed phase: every child may mutate.
    in_seed_phase = False

    def __init__(self, seeds, score=None):
        self.seeds = list(seeds)
        self.score = score

    def sample(self, own_paths, task, rng):
        """Returns the parent of the next child of `task`.

        Args:
            own_paths: list of the task's current paths (any order).
            task: str. The task the child is for.
            rng: numpy Generator (the controller's).
        """
        own = by_score(own_paths, self.score)
        parent = decay_sample(own, task, rng)
        if parent is None:
            parent = decay_sample(self.seeds, task, rng)
            if parent is not None:
                self._rotate_after(parent)
        if parent is None:
            parent = uniform_fallback(own, self.seeds, task, rng)
        return parent

    def _rotate_after(self, seed):
        i = next(j for j, s in enumerate(self.seeds) if s is seed)
        self.seeds = self.seeds[i + 1 :] + self.seeds[: i + 1]


def shuffled_seeds(seed_paths, rng):
    """The seed list of `start_task`: the given paths, randomly shuffled."""
    order = rng.permutation(len(seed_paths))
    return [seed_paths[i] for i in order]


class MuNetSampler:
    """µNet's parent policy for one visit of a task (spec §10).

    The first children of the visit take the seeds, one each, by id
    descending, without mutation (`in_seed_phase`); later ones walk the
    task's own paths by score, accepting each with probability 0.5^k, k
    its total same-task children (`offsprings`); if none is accepted, the
    parent is uniform over the seeds and the task's paths. Seeds are never
    decay-sampled nor rotated.

    Args:
        seeds: list of paths. The task's seed list (any order).
        made: int. Children already made in this visit (a resumed visit:
            its generations so far × candidates per generation), so the
            seed phase is a function of the child's index and needs no
            saved state.
        score: callable path -> float, or None (`stored_score`).
    """

    def __init__(self, seeds, made=0, score=None):
        self.seeds = sorted(seeds, key=lambda p: -p.id)
        self.made = made
        self.score = score

    @property
    def in_seed_phase(self):
        """Whether the next child is a seed-phase child (no mutation)."""
        return self.made < len(self.seeds)

    def sample(self, own_paths, task, rng):
        """Returns the parent of the next child of `task` (see
        `DecaySampler.sample`)."""
        if self.in_seed_phase:
            parent = self.seeds[self.made]
        else:
            own = by_score(own_paths, self.score)
            parent = _decay_walk(
                own, lambda p: p.metrics.get(OFFSPRINGS, 0), rng
            )
            if parent is None:
                parent = uniform_fallback(self.seeds, own, task, rng)
        self.made += 1
        return parent


def make_sampler(method, seeds, made=0, score=None):
    """The parent sampler of a task visit: µNet's for a method with a seed
    phase (`MuNetSampler`), else µ2Net's (`DecaySampler`)."""
    if method.seed_phase:
        return MuNetSampler(seeds, made, score)
    return DecaySampler(seeds, score)
