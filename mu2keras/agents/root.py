"""The shared root of a system: `SYSTEM/root`, written once, read by all.

Every agent grows from the same root path(s), so the root lives in its own
workdir, one state (`state_0_0`) with the root pool, saved by the first
agent that finds none (under that folder's lease; the others wait for its
`LAST`). On a TPU pod slice, where every host runs the same agent, only
the chief publishes it (`storage.workdir.is_chief`); the other hosts wait
too. Its components' keys are "root:ID". An agent whose config would
build a different root (another `config.root`) is refused.
"""

import json
import time

from mu2keras import experiment
from mu2keras.agents import layout
from mu2keras.storage import lease as lease_lib
from mu2keras.storage import state as state_lib
from mu2keras.system.population import Population

WAIT_SECONDS = 600.0


def ensure_root(system, config, wait=None, publish=True):
    """The root `Population` of `system`, published first if missing.

    Args:
        system: str. The shared system directory.
        config: the agent's experiment config.
        wait: float or None. Seconds to wait for another writer's root
            (None: `WAIT_SECONDS`).
        publish: bool. Whether this process may publish it (the chief of
            its hosts); if not, it only waits for it.

    Raises:
        AgentError: the root was built from another `config.root`, or the
            agent writing it did not finish within `wait` seconds.
    """
    wait = WAIT_SECONDS if wait is None else wait
    directory = layout.root_dir(system)
    if state_lib.latest_state(directory) is None:
        if publish:
            _publish(directory, config, wait)
        else:
            _wait(
                directory,
                wait,
                "no root yet, and this host is not the chief (which "
                "publishes it)",
            )
    return load_root(system, config)


def load_root(system, config=None):
    """The root `Population` of `system` (checked against `config.root`)."""
    directory = layout.root_dir(system)
    if state_lib.latest_state(directory) is None:
        raise layout.AgentError(
            f"{system} has no root ({directory} has no LAST): no agent has "
            "started there."
        )
    loaded = state_lib.load_state(directory)
    if config is not None:
        saved = loaded.config.get("root")
        given = _plain(config.root.to_dict())
        if saved != given:
            raise layout.AgentError(
                f"The root of {system} was built from config.root {saved}; "
                f"this config's is {given}. Agents of one system share one "
                "root."
            )
    return loaded.population


def _publish(directory, config, wait):
    defaults, _ = experiment.check_config(config)
    try:
        with lease_lib.acquire(directory, owner="agents.root"):
            if state_lib.latest_state(directory) is None:
                root, hparams = experiment.build_root(config, defaults)
                population = Population.from_root(root, hparams)
                payload = {"root": _plain(config.root.to_dict())}
                state_lib.save_state(population, directory, 0, config=payload)
        return
    except lease_lib.LeaseHeld:
        pass  # Another agent writes it: wait for its LAST.
    _wait(directory, wait, "another agent holds its lease but wrote no root")


def _wait(directory, wait, reason):
    deadline = time.monotonic() + wait
    while state_lib.latest_state(directory) is None:
        if time.monotonic() > deadline:
            raise layout.AgentError(
                f"{directory}: {reason}: none came within {wait:g}s."
            )
        time.sleep(0.2)


def _plain(value):
    return json.loads(json.dumps(value))
