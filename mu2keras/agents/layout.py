"""The shared system directory of µ3Net agents, and its stable keys.

    SYSTEM/
      root/              a workdir whose one state holds the root path(s),
                         written once by the first agent (`agents.root`)
      agents/NAME/       one agent's workdir: its states, LAST, its LEASE
        state_4_0/       a cycle's end: *published* (others read it)
        state_4_2/       mid-cycle: only the agent itself resumes from it

An agent writes only its own folder, under its lease. Others read, without
locks, its newest *finished* state (generation 0) not newer than its
`LAST`: a state being written is never seen, because `LAST` moves last,
and a finished state is never changed, only deleted once two newer ones
are finished (`prune`). Paths and components are known across agents by
a stable key, "AGENT:ID" (ID in that agent's own numbering), the root's
as "root:ID".
"""

import re

import tensorflow as tf

from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib

ROOT = "root"
AGENTS = "agents"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AgentError(ValueError):
    """A shared system or an agent that cannot work as asked; names it."""


def key(agent, item_id):
    """The stable key of an agent's path or component: "AGENT:ID"."""
    return f"{agent}:{item_id}"


def is_root_key(text):
    return isinstance(text, str) and text.startswith(ROOT + ":")


def check_name(name):
    """Raises `AgentError` unless `name` can name an agent's folder."""
    if not isinstance(name, str) or not _NAME.match(name) or name == ROOT:
        raise AgentError(
            f"Invalid agent name {name!r}: use letters, digits, '_', '.' "
            f"and '-', starting with a letter or digit (not {ROOT!r})."
        )
    return name


def agent_name(task):
    """The default agent name of a task: "embedded/digits" ->
    "embedded_digits"."""
    return check_name(re.sub(r"[^A-Za-z0-9_.-]", "_", task.split(":")[-1]))


def root_dir(system):
    return storage.join(system, ROOT)


def agent_dir(system, name):
    return storage.join(system, AGENTS, check_name(name))


def is_system(path):
    """Whether `path` is a shared system directory (it has `agents/`)."""
    try:
        return AGENTS in storage.names(path) and ROOT in storage.names(path)
    except tf.errors.OpError:
        return False


def agents(system):
    """The names of the agents with a folder in `system`, sorted."""
    folder = storage.join(system, AGENTS)
    if not storage.exists(folder):
        return []
    return sorted(n for n in storage.names(folder) if _NAME.match(n))


def _finished(directory):
    """Names of the finished states not newer than `LAST`, newest first."""
    try:
        last = state_lib.latest_state(directory)
    except state_lib.StateError:
        return []
    if last is None:
        return []
    bound = state_lib.parse_state_name(last)
    return [
        name
        for loop, generation, name in reversed(state_lib.list_states(directory))
        if generation == 0 and (loop, generation) <= bound
    ]


def published_state(directory, known=None):
    """(state directory, parsed JSON files) of an agent's newest finished
    state that verifies (checksums), or None if it has none yet.

    Args:
        directory: str. The agent's folder.
        known: (state directory, anything) or None. The state read last
            time: a finished state never changes, so if it is still the
            newest, `known` is returned as it is, and only `LAST` and the
            folder's names are read (no file hashed again).
    """
    for name in _finished(directory):
        if known is not None and storage.join(directory, name) == known[0]:
            return known
        try:
            found, _, parsed = state_lib.read_verified(
                storage.join(directory, name)
            )
        except (state_lib.StateError, tf.errors.OpError):
            continue  # Damaged, or pruned meanwhile: an older one.
        return found, parsed
    return None


def prune(directory, keep_finished=2):
    """Deletes an agent's states but its `keep_finished` newest finished
    ones and the newest state (what `LAST` names)."""
    states = state_lib.list_states(directory)
    finished = [name for _, generation, name in states if generation == 0]
    keep = set(finished[-keep_finished:]) | {states[-1][2]} if states else set()
    last = state_lib.latest_state(directory)
    if last is not None:
        keep.add(storage.split(last)[1])
    for _, _, name in states:
        if name not in keep:
            storage.rmtree(storage.join(directory, name))
