"""Other agents' paths and components in an agent's population (µ3Net).

`Members.sync(population)`, at the start of each cycle, reloads the newest
published state of every other agent (`layout.published_state`, read
without locks) and makes the population hold exactly their retained
paths, as read-only members: a component already held (same stable key)
is reused, a new one is read from that state's bundle. A finished state
never changes, so an agent whose newest one is the state read last time
costs one read of its `LAST` and a listing: its members stay as they are
(its structure is kept from that read, not its history). A path whose
parent its owner retired meanwhile is re-linked to the nearest ancestor
still held, else the root. Then every component is locked by the tasks
whose retained paths use it, but the active one: other agents' components
stay frozen, and what this agent clones from them is what trains.

`Members.verify(population)`, after each cycle: every other agent's path
held gives bit-identical logits to those its owner recorded when it
published it (`immutability.fingerprint`).
"""

import tensorflow as tf
from absl import logging

from mu2keras.agents import codec
from mu2keras.agents import layout
from mu2keras.storage import state as state_lib
from mu2keras.storage import state_codec
from mu2keras.system import immutability
from mu2keras.system.component import ROOT_TASK
from mu2keras.tasks.task import split_private

AGENT = "agent"  # The agent's part of its states' config.json.


class Members:
    """What one agent (or a reader of the whole system) holds of the others.

    Args:
        system: str. The shared system directory.
        name: str or None. The agent; None reads every agent (export).
        include_private: bool. Also hold private tasks' paths (for the
            export of the system; an agent never reuses them).
        tasks: iterable of str. The agent's tasks: another agent
            publishing one of them is refused.
    """

    def __init__(self, system, name=None, include_private=False, tasks=()):
        self.system = system
        self.name = name
        self.tasks = [split_private(task)[0] for task in tasks]
        self.include_private = include_private
        self.published = {}  # Path key -> sha256 its owner recorded.
        self.states = {}  # Agent -> the state directory last synced.
        # Agent -> (that directory, what `_adopt` reads of it), to skip it
        # while it stays the newest.
        self._read = {}
        self.lineages = {}  # Own path -> lineage keys, to re-link once.

    def sync(self, population):
        """Makes `population` hold every other agent's published paths."""
        index = {
            codec.component_key(population, c, self.name): c
            for c in population.components().values()
        }
        old = self._detach(population)
        adopted = dict(self.lineages)
        owners = {t: self.name for t in codec.own_pools(population)}
        owners.update({t: self.name for t in self.tasks})
        if population.active_task is not None:
            owners[population.active_task] = self.name
        read = {}
        for agent in layout.agents(self.system):
            if agent == self.name:
                continue
            directory = layout.agent_dir(self.system, agent)
            for attempt in range(2):  # Pruned while read: read again.
                known = None if attempt else self._read.get(agent)
                found = layout.published_state(directory, known)
                if found is None:
                    break
                try:
                    args = (population, index, old, owners, adopted)
                    self._adopt(agent, found, *args)
                    self.states[agent] = found[0]
                    read[agent] = _kept(found)
                    break
                except (state_lib.StateError, tf.errors.OpError) as error:
                    if attempt:
                        logging.warning("Skipping agent %s: %s", agent, error)
        self._read = read
        self._relink(population, adopted)
        self.lineages = {}
        population.garbage_collect()
        relock(population)

    def _detach(self, population):
        """Takes other agents' paths out of the pools: {key: path}."""
        old = {}
        for task in list(population.paths):
            pool = population.paths[task]
            keep = []
            for path in pool:
                key = population.foreign_paths.get(path.id)
                if key is None or layout.is_root_key(key):
                    keep.append(path)
                else:
                    old[key] = path
            if keep:
                population.paths[task] = keep
            else:
                del population.paths[task]
        return old

    def _adopt(self, agent, found, population, index, old, owners, adopted):
        """Holds `agent`'s published paths: every component is read before
        any pool changes, so a failed read leaves the pools as they were."""
        directory, parsed = found
        structure = parsed[state_lib.STRUCTURE]
        prefix, filenames = codec.files(directory)
        records = {r["id"]: r for r in structure["components"]}
        paths = {r["id"]: r for r in structure["paths"]}
        ready = []
        for task, ids in structure["tasks"].items():
            private = task in structure["private_tasks"]
            if task == ROOT_TASK or (private and not self.include_private):
                continue
            if owners.setdefault(task, agent) != agent:
                raise layout.AgentError(
                    f"Agents {owners[task]!r} and {agent!r} both grow task "
                    f"{task!r} in {self.system}; give each task one agent."
                )
            for path_id in ids:
                record = paths[path_id]
                components = [
                    self._component(
                        population, index, agent, records[i], prefix, filenames
                    )
                    for i in record["components"]
                ]
                ready.append((task, private, record, components))
        for task, private, record, components in ready:
            if private:
                population.private_tasks.add(task)
            key = layout.key(agent, record["id"])
            path = old.pop(key, None)
            if path is None or path.components != components:
                path = population.adopt_path(
                    task, components, key, record["hparams"]
                )
            else:
                population.paths.setdefault(task, []).append(path)
            path.metrics = dict(record["metrics"])
            adopted[path] = record["lineage"]
        recorded = parsed[state_lib.CONFIG].get(AGENT, {})
        self.published.update(recorded.get("fingerprints", {}))

    def _component(self, population, index, agent, record, prefix, files):
        key = record.get("origin") or layout.key(agent, record["id"])
        if key in index:
            return index[key]
        if layout.is_root_key(key):
            raise state_lib.StateError(
                f"{files[0]}: component {record['id']} is {key}, which the "
                "system's root does not hold."
            )
        loaded = state_codec.decode_component(record, prefix, files)
        component = population.adopt_component(
            loaded.layer, key, loaded.momentum
        )
        index[key] = component
        return component

    def _relink(self, population, adopted):
        """Parents from lineages: the nearest ancestor held, else the root."""
        held = {
            codec.path_key(population, p, self.name): p
            for p in population.retained_paths()
        }
        root = population.best_path(ROOT_TASK)
        for path, lineage in adopted.items():
            path.parent = next((held[k] for k in lineage if k in held), root)

    def verify(self, population):
        """Raises `ImmutabilityError` unless every other agent's path held
        gives the logits its owner published, bit for bit."""
        problems = []
        for path in population.retained_paths():
            key = population.foreign_paths.get(path.id)
            expected = self.published.get(key)
            if expected is None:
                continue
            if immutability.fingerprint(path) != expected:
                problems.append(
                    f"path {key} of task {path.task!r} gives other logits "
                    "than its agent published"
                )
        if problems:
            raise immutability.ImmutabilityError(
                "Another agent's path changed (spec §2.10): "
                + "; ".join(problems)
                + "."
            )
        return len(
            [
                k
                for k in population.foreign_paths.values()
                if k in self.published
            ]
        )


def _kept(found):
    """What `_adopt` reads of a published state, to adopt it again."""
    directory, parsed = found
    recorded = parsed[state_lib.CONFIG].get(AGENT, {})
    return directory, {
        state_lib.STRUCTURE: parsed[state_lib.STRUCTURE],
        state_lib.CONFIG: {AGENT: recorded},
    }


def relock(population):
    """Locks each component by the tasks of the retained paths using it
    (the root's permanently), but the active task."""
    users = {}
    for path in population.retained_paths():
        for component in path.components:
            users.setdefault(component.id, set()).add(path.task)
    for component in population.components().values():
        wanted = users[component.id] - {population.active_task}
        for lock in component.locks - wanted:
            component.remove_lock(lock)
        for lock in wanted - component.locks:
            component.add_lock(lock)
