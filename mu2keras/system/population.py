"""The population: a µ2Net multitask system (spec §1.1, §1.4, §2.9, §3).

The population holds, per task, its retained paths; the root pseudo-task
`ROOT_TASK` holds the root path(s). Between tasks each task has exactly one
retained path, its best; while a task is active its pool also holds the
children accepted so far. Components are shared between paths by reference
and frozen by locks: a component is trainable only while no retained path of
another task (nor the root) uses it, so training the active task can never
change another task's outputs (spec §2.10).
"""

import math

from mu2keras import architecture
from mu2keras.storage import routing
from mu2keras.system.component import ROOT_TASK
from mu2keras.system.component import Component
from mu2keras.system.path import Path
from mu2keras.tasks.task import PRIVATE_PREFIX
from mu2keras.tasks.task import split_private


def parse_task_name(name):
    """Splits "private:NAME" into ("NAME", True); "NAME" into ("NAME", False).

    The `private:` prefix (spec §2.10) is parsed by
    `mu2keras.tasks.task.split_private`; here the root pseudo-task's name
    and a doubled prefix are refused too.

    Raises:
        ValueError: for an empty name, or the root pseudo-task's name.
    """
    task, private = split_private(name)
    if task.startswith(PRIVATE_PREFIX):
        raise ValueError(f"Invalid task name {name!r}.")
    if task == ROOT_TASK:
        raise ValueError(
            f"{ROOT_TASK!r} is the root pseudo-task, not a task name."
        )
    return task, private


def _canonical(task):
    """The task name without "private:"; the root pseudo-task as is."""
    return task if task == ROOT_TASK else parse_task_name(task)[0]


class Population:
    """A µ2Net system: retained paths per task, plus their history.

    Make one from a root with `Population.from_root(root)`, or load one with
    `mu2keras.storage.state.load_state`. Then, for each task visited (spec
    §2.1):
    `start_task(name)`, make children with `new_path` (from
    `new_component` / `clone_component` and the components of existing
    paths), accept improved ones with `add_path`, and `end_task(name)`.

    Attributes:
        paths: dict task -> list of `Path`, the retained paths (the pool),
            the root pseudo-task first, then tasks in order of introduction.
        private_tasks: set of str, the private tasks.
        active_task: str or None. The task between `start_task` and
            `end_task`.
        scorer: callable path -> score, or None (the score stored at
            acceptance). What `score` ranks a task's paths by; the
            controller's recomputes it from the live locks (spec §2.8).
        path_history: dict id -> record of every generated path no longer
            live (see `history` for all of them).
        component_history: dict id -> record, likewise for components.
    """

    def __init__(self):
        self.paths = {}
        self.private_tasks = set()
        self.active_task = None
        self.scorer = None
        self.next_path_id = 0
        self.next_component_id = 0
        self.path_history = {}
        self.component_history = {}
        # Members adopted from other agents of a shared system (local id ->
        # stable key "AGENT:ID", see `mu2keras.agents`): read-only, never
        # in this population's history.
        self.foreign_paths = {}
        self.foreign_components = {}
        # Paths and components that may still be referenced: the retained
        # ones and those generated since the last garbage collection.
        self._live_paths = {}
        self._live_components = {}

    @classmethod
    def from_root(cls, root, hparams=None):
        """A population holding just `root` (a `mu2keras.roots.Root`)."""
        population = cls()
        population.add_root(root, hparams)
        return population

    @classmethod
    def restore(cls, paths, private_tasks, active_task, counters, history):
        """Reassembles a population from its parts (see
        `mu2keras.storage.state`).

        Args:
            paths: dict task -> list of `Path`, the retained paths.
            private_tasks: iterable of str.
            active_task: str or None.
            counters: (next_path_id, next_component_id). Ids continue from
                there (spec §4, "Counters").
            history: (path_history, component_history), dicts id -> record.
        """
        population = cls()
        population.paths = {task: list(pool) for task, pool in paths.items()}
        population.private_tasks = set(private_tasks)
        population.active_task = active_task
        population.next_path_id, population.next_component_id = counters
        population.path_history = dict(history[0])
        population.component_history = dict(history[1])
        for path in population.retained_paths():
            population._live_paths[path.id] = path
            for component in path.components:
                population._live_components[component.id] = component
        used = set(population._live_paths) | set(population.path_history)
        used_components = set(population._live_components)
        used_components |= set(population.component_history)
        if (
            max(used, default=-1) >= population.next_path_id
            or max(used_components, default=-1) >= population.next_component_id
        ):
            raise ValueError(
                f"Id counters {tuple(counters)} do not exceed the ids in use "
                f"(paths up to {max(used, default=-1)}, components up to "
                f"{max(used_components, default=-1)})."
            )
        return population

    def add_root(self, root, hparams=None):
        """Adds a root path to the root pseudo-task (spec §1.3).

        Its components get the permanent lock `ROOT_TASK`.

        Args:
            root: `mu2keras.roots.Root`.
            hparams: dict or None. Updates the root path's hyperparameters
                (by default its `num_layers`, `ds_image_size`, ViT variant
                and, for a root with adapters such as a promoted path, its
                `adapter_layers` and `adapter_dim`, so that children keep
                them).

        Returns:
            The root `Path`.
        """
        components = [
            self.new_component(layer, locks=[ROOT_TASK])
            for layer in root.components.values()
        ]
        path = self.new_path(ROOT_TASK, components)
        layout = architecture.layout_hparams(root.components)
        if not layout["adapter_layers"]:
            del layout["adapter_layers"]  # The search space's default.
        path.hparams.update(layout, ds_image_size=root.image_size)
        path.hparams[architecture.VARIANT_KEY] = root.variant._asdict()
        path.hparams.update(hparams or {})
        self.paths.setdefault(ROOT_TASK, []).append(path)
        return path

    # --- Members of other agents (`mu2keras.agents`). ---

    def adopt_component(self, layer, key, momentum=None):
        """Registers another agent's component, known everywhere as `key`,
        under a fresh local id. Its locks are the tasks using it."""
        component = self.new_component(layer, momentum=momentum)
        self.foreign_components[component.id] = key
        return component

    def adopt_path(self, task, components, key, hparams=None, metrics=None):
        """Retains another agent's path (stable `key`) under a fresh id."""
        path = self.new_path(task, components, None, hparams, metrics)
        self.foreign_paths[path.id] = key
        self.paths.setdefault(path.task, []).append(path)
        return path

    def is_foreign(self, path):
        return path.id in self.foreign_paths

    # --- Making components and paths. ---

    def new_component(self, layer, locks=(), momentum=None):
        """Registers a built layer as a new component with a fresh id."""
        component = Component(self.next_component_id, layer, locks, momentum)
        self.next_component_id += 1
        self._live_components[component.id] = component
        return component

    def clone_component(self, component):
        """A trainable clone (new id, copied weights and momentum; §2.5)."""
        clone = component.clone(self.next_component_id)
        self.next_component_id += 1
        self._live_components[clone.id] = clone
        return clone

    def new_path(
        self, task, components, parent=None, hparams=None, metrics=None
    ):
        """Creates a path with a fresh id; it enters the history.

        It is not retained until `add_path` puts it in its task's pool.
        """
        for component in components:
            if self._live_components.get(component.id) is not component:
                raise ValueError(
                    f"{component} is not a live component of this population."
                )
        task = _canonical(task)
        path = Path(self.next_path_id, task, components, parent, hparams)
        path.metrics.update(metrics or {})
        self.next_path_id += 1
        self._live_paths[path.id] = path
        return path

    def add_path(self, path):
        """Accepts a path of the active task into its pool (spec §2.2)."""
        if self._live_paths.get(path.id) is not path:
            raise ValueError(
                f"{path} is not a live path of this population (it may have "
                "been garbage-collected)."
            )
        if path.task != self.active_task:
            raise ValueError(
                f"{path} is not of the active task {self.active_task!r}."
            )
        pool = self.paths.setdefault(path.task, [])
        if path not in pool:
            pool.append(path)

    # --- Queries. ---

    @property
    def tasks(self):
        """The tasks with retained paths, in order of introduction."""
        return [task for task in self.paths if task != ROOT_TASK]

    def retained_paths(self):
        """Every retained path, root paths first."""
        return [path for pool in self.paths.values() for path in pool]

    def components(self):
        """Every component of a retained path, once each, by id."""
        result = {}
        for path in self.retained_paths():
            for component in path.components:
                result[component.id] = component
        return dict(sorted(result.items()))

    def is_private(self, task):
        return parse_task_name(task)[0] in self.private_tasks

    def score(self, path):
        """`path`'s score among its task's paths (spec §2.8): `scorer(path)`,
        or without a scorer its stored `metrics["score"]`."""
        if self.scorer is not None:
            return self.scorer(path)
        score = path.metrics.get("score")
        if not isinstance(score, (int, float)) or math.isnan(score):
            raise ValueError(
                f"{path} has no numeric 'score' metric; got {score!r}."
            )
        return score

    def best_path(self, task):
        """The highest `score`, ties to the newest (spec §2.8)."""
        task = _canonical(task)
        pool = self.paths.get(task)
        if not pool:
            raise ValueError(
                f"Task {task!r} has no retained path; tasks: {self.tasks}."
            )
        if task == ROOT_TASK:
            return max(pool, key=lambda path: path.id)
        scores = {path.id: self.score(path) for path in pool}
        return max(pool, key=lambda path: (scores[path.id], path.id))

    def seed_paths(self, task):
        """Parent candidates from other tasks (spec §2.4), by id.

        The retained paths of every non-private task other than `task`,
        and the root paths. The controller shuffles them.
        """
        task = parse_task_name(task)[0]
        return sorted(
            (
                path
                for other, pool in self.paths.items()
                if other != task and other not in self.private_tasks
                for path in pool
            ),
            key=lambda path: path.id,
        )

    def system_size(self):
        """Accounted parameters summed over the tasks' best paths (§1.4)."""
        return sum(self.best_path(t).accounted_params() for t in self.tasks)

    def num_unique_params(self):
        """Parameters of the retained components, each counted once."""
        return sum(c.num_params for c in self.components().values())

    def predict(self, task, images):
        """Logits of `task`'s best path; runs only that path (spec §3).

        Args:
            task: str. A task name.
            images: `(batch, H, W, 1 or 3)` float images in [-1, 1]; resized
                to the path's resolution, grey images tiled to RGB.

        Returns:
            A float32 tensor `(batch, num_classes of task)`.
        """
        path = self.best_path(task)
        return path(routing.prepare_images(images, path.image_size))

    # --- The task loop (spec §2.1, §1.4, §2.9). ---

    def start_task(self, name):
        """Makes `name` the active task and unlocks its own components.

        Every component of the task's retained paths loses the task's lock
        (spec §1.4): those used by no other task become trainable, so the
        children that reuse them clone them (spec §2.5). A "private:" prefix
        makes the task private (and it stays private).

        Returns:
            The task name, without any "private:" prefix.
        """
        task, private = parse_task_name(name)
        if self.active_task is not None:
            raise ValueError(
                f"Cannot start {task!r}: task {self.active_task!r} is active."
            )
        if private:
            self.private_tasks.add(task)
        for path in self.paths.get(task, []):
            for component in path.components:
                component.remove_lock(task)
        self.active_task = task
        return task

    def end_task(self, name):
        """Keeps the best path, locks it, garbage-collects (spec §2.9).

        Returns:
            The retained best `Path` of the task, or None if it has none.
        """
        task = parse_task_name(name)[0]
        if task != self.active_task:
            raise ValueError(
                f"Cannot end {task!r}: the active task is {self.active_task!r}."
            )
        best = self.best_path(task) if self.paths.get(task) else None
        if best is None:
            self.paths.pop(task, None)
        else:
            self.paths[task] = [best]
            for component in best.components:
                component.add_lock(task)
        self.active_task = None
        self.garbage_collect()
        for path in self.retained_paths():
            if path.task != ROOT_TASK:
                path.metrics["final_accounted_params"] = path.accounted_params()
        return best

    def garbage_collect(self):
        """Drops paths and components no retained path references (§2.9).

        Their final records go to the history, their models are released,
        and every retained path's parent is re-pointed to its nearest
        retained ancestor. `end_task` calls it; calling it mid-task frees
        the rejected children early, but also drops any child not yet in a
        pool, so only call it when no candidate is being trained.
        """
        retained = {path.id: path for path in self.retained_paths()}
        used = {c.id for path in retained.values() for c in path.components}
        for path in list(self._live_paths.values()):
            if path.id not in retained:
                if self.foreign_paths.pop(path.id, None) is None:
                    self.path_history[path.id] = self.path_record(path)
                path.release_model()
                del self._live_paths[path.id]
        for component in list(self._live_components.values()):
            if component.id not in used:
                if self.foreign_components.pop(component.id, None) is None:
                    self.component_history[component.id] = component.record()
                del self._live_components[component.id]
        for path in retained.values():
            parent = path.parent
            while parent is not None and parent.id not in retained:
                parent = parent.parent
            path.parent = parent

    # --- History (spec §6.2). ---

    def path_record(self, path):
        """The path's record, with the population's private flag."""
        record = path.record()
        record["private"] = path.task in self.private_tasks
        return record

    def history(self):
        """Records of every path and component ever generated.

        Returns:
            (paths, components): two lists of JSON-able dicts sorted by id;
            live ones reflect their current metrics and locks.
        """
        paths = dict(self.path_history)
        paths.update(
            {
                p.id: self.path_record(p)
                for p in self._live_paths.values()
                if p.id not in self.foreign_paths
            }
        )
        components = dict(self.component_history)
        components.update(
            {
                c.id: c.record()
                for c in self._live_components.values()
                if c.id not in self.foreign_components
            }
        )
        return (
            [paths[i] for i in sorted(paths)],
            [components[i] for i in sorted(components)],
        )
