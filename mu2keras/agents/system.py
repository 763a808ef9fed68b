"""The whole shared system as one population: every agent's newest
published paths over the root, for export and reports."""

from mu2keras.agents import codec
from mu2keras.agents import layout
from mu2keras.agents import members as members_lib
from mu2keras.agents import root as root_lib
from mu2keras.storage import state as state_lib


def load_system(system, verify=True):
    """Every agent's newest published paths, private tasks included.

    Args:
        system: str. The shared system directory.
        verify: bool. Check every path's probe logits, bit for bit,
            against those its agent recorded when it published it
            (`immutability.ImmutabilityError` otherwise).

    Returns:
        A `state.State`: the `Population`, loop = the cycles the agents
        published in all, generation 0, config {"agents": {agent: state
        directory read}, "path_keys": {path id: stable key},
        "component_keys": {component id: stable key, "AGENT:ID" naming the
        agent that trained it, "root:ID" the root's}}, and `system` as the
        directory.

    Raises:
        AgentError: no root, or no agent has published yet.
    """
    population = codec.mark_root(root_lib.load_root(system))
    members = members_lib.Members(system, include_private=True)
    members.sync(population)
    if not population.tasks:
        raise layout.AgentError(
            f"No agent of {system} has published a finished cycle yet "
            f"(agents: {', '.join(layout.agents(system)) or 'none'})."
        )
    if verify:
        members.verify(population)
    states = members.states.values()
    loops = sum(state_lib.parse_state_name(d)[0] for d in states)
    # A plain population from here: its paths are its own history (the
    # report's), each path's stable key kept in the config.
    keys = {str(i): key for i, key in population.foreign_paths.items()}
    components = {
        str(i): key for i, key in population.foreign_components.items()
    }
    population.foreign_paths, population.foreign_components = {}, {}
    config = {
        "agents": dict(members.states),
        "path_keys": keys,
        "component_keys": components,
    }
    return state_lib.State(population, loops, 0, config, system)
