"""An agent's part of a shared system, in the state format of
`mu2keras.storage.state`.

An agent's state holds what *it* grew: its tasks' retained paths, the
components it created, and its history. Its paths' other components are
records with an `origin`, the stable key ("AGENT:ID", `layout.key`) of the
component in its creator's numbering: a root component's weights are not
stored (the root state holds them for ever); another agent's are stored as
a copy, so the state stays loadable once the creator retires them (a
component never changes after its generation, so every copy is the same).
Each path record adds its `lineage`, the keys of its retained ancestors,
nearest first: a reader re-links it to the nearest one it holds, else the
root. The structure names the `agent`, which `state_codec.decode` refuses
(a lone agent state cannot be rebuilt without the system).
"""

from mu2keras.agents import layout
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib
from mu2keras.storage import state_codec
from mu2keras.storage.state_codec import StateError
from mu2keras.system.component import ROOT_TASK
from mu2keras.system.path import Path


def component_key(population, component, agent):
    """The stable key of a component of `agent`'s population."""
    found = population.foreign_components.get(component.id)
    return found or layout.key(agent, component.id)


def path_key(population, path, agent):
    found = population.foreign_paths.get(path.id)
    return found or layout.key(agent, path.id)


def lineage(population, path, agent):
    """The keys of `path`'s ancestors, nearest first."""
    keys, parent = [], path.parent
    while parent is not None:
        keys.append(path_key(population, parent, agent))
        parent = parent.parent
    return keys


def own_pools(population):
    """{task: own retained paths}: the agent's tasks, without the root."""
    pools = {}
    for task, pool in population.paths.items():
        own = [p for p in pool if not population.is_foreign(p)]
        if own and task != ROOT_TASK:
            pools[task] = own
    return pools


def encode(population, agent):
    """(structure, history, tensors) of `agent`'s part of `population`.

    The encoder `state.save_state` takes (`encoder=`)."""
    pools = own_pools(population)
    paths = [path for pool in pools.values() for path in pool]
    components = {c.id: c for path in paths for c in path.components}
    records, tensors = [], {}
    for component in (components[i] for i in sorted(components)):
        record = state_codec.component_structure(component)
        origin = population.foreign_components.get(component.id)
        if origin is not None:
            record["origin"] = origin
        if not layout.is_root_key(origin):
            for name, variable in component.variables().items():
                tensors[f"component/{component.id}/{name}"] = variable.value
            for name, value in (component.momentum or {}).items():
                tensors[f"momentum/{component.id}/{name}"] = value
        records.append(record)
    path_records = []
    for path in paths:
        record = population.path_record(path)
        if path.parent is not None and population.is_foreign(path.parent):
            record["parent_id"] = -1  # Another agent's: see `lineage`.
        record["lineage"] = lineage(population, path, agent)
        path_records.append(record)
    structure = {
        "agent": agent,
        "tasks": {task: [p.id for p in pool] for task, pool in pools.items()},
        "private_tasks": sorted(population.private_tasks & set(pools)),
        "active_task": population.active_task,
        "next_path_id": population.next_path_id,
        "next_component_id": population.next_component_id,
        "paths": path_records,
        "components": records,
    }
    path_history, component_history = population.history()
    history = {"paths": path_history, "components": component_history}
    return structure, history, tensors


def mark_root(population):
    """Marks a root population's members as the root's ("root:ID")."""
    for path in population.paths[ROOT_TASK]:
        population.foreign_paths[path.id] = layout.key(layout.ROOT, path.id)
        for component in path.components:
            population.foreign_components[component.id] = layout.key(
                layout.ROOT, component.id
            )
    return population


def files(directory):
    """(bundle prefix, (structure file, weights file)) of a state."""
    prefix = storage.join(directory, state_lib.WEIGHTS)
    structure = storage.join(directory, state_lib.STRUCTURE)
    return prefix, (structure, prefix + ".*")


def restore(directory, parsed, root):
    """Rebuilds an agent's population from its own state and the root.

    Args:
        directory: str. The agent's state directory (verified).
        parsed: dict file -> parsed JSON, from `state.read_verified`.
        root: the root `Population` (`agents.root.load_root`).

    Returns:
        (population, lineages): the agent's paths, the root's, and the
        copies of other agents' components they use (those two marked
        foreign); lineages: {path: lineage keys}, to re-link once the
        other agents are loaded (`members.Members.sync`).
    """
    structure, history = parsed[state_lib.STRUCTURE], parsed[state_lib.HISTORY]
    prefix, filenames = files(directory)
    roots = {c.id: c for c in root.components().values()}
    try:
        components, copies = {}, {}
        for record in structure["components"]:
            origin = record.get("origin")
            if layout.is_root_key(origin):
                found = roots.get(int(origin.split(":")[1]))
                if found is None:
                    raise StateError(
                        f"{filenames[0]}: component {record['id']} is "
                        f"{origin}, which the system's root does not hold."
                    )
            else:
                found = state_codec.decode_component(record, prefix, filenames)
                if origin is not None:
                    copies[found.id] = origin
            components[record["id"]] = found
        paths, lineages = {}, {}
        for record in sorted(structure["paths"], key=lambda r: r["id"]):
            path = Path(
                record["id"],
                record["task"],
                [components[i] for i in record["components"]],
                paths.get(record["parent_id"]),
                record["hparams"],
                record["metrics"],
            )
            path.origin_parent_id = record["origin_parent_id"]
            path.reloads = record["reloads"] + 1
            paths[path.id] = path
            lineages[path] = record["lineage"]
        pools = {ROOT_TASK: list(root.paths[ROOT_TASK])}
        for task, ids in structure["tasks"].items():
            pools[task] = [paths[i] for i in ids]
        population = state_codec.restore_population(pools, structure, history)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, StateError):
            raise
        raise StateError(f"{filenames[0]}: inconsistent state: {e!r}") from e
    mark_root(population)
    population.foreign_components.update(copies)
    return population, lineages
