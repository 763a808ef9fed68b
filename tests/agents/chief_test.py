"""On a TPU pod slice every host runs the same agent; only the chief (host
0) publishes the root and writes the agent's states (issue 22)."""

import os

import pytest

from mu2keras import agents
from mu2keras.agents import layout
from mu2keras.agents import root as root_lib
from tests.agents.members_test import agent_config
from tests.agents.members_test import grow
from tests.evolution.controller_test import TASKS


def tree(directory):
    """{relative path: bytes} of every file under `directory`."""
    files = {}
    for parent, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, directory)] = f.read()
    return files


def test_a_host_that_is_not_the_chief_never_publishes_the_root(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TPU_WORKER_ID", "1")  # Host 1 of a pod slice.
    monkeypatch.setattr(root_lib, "WAIT_SECONDS", 0.5)
    system = str(tmp_path / "system")
    with pytest.raises(agents.AgentError) as raised:
        agents.Agent.open(agent_config("a"), system, "a", tasks=TASKS)
    assert str(raised.value) == (
        f"{system}/root: no root yet, and this host is not the chief (which "
        "publishes it): none came within 0.5s."
    )
    assert not os.path.exists(system)


def test_a_host_that_is_not_the_chief_grows_in_step_and_writes_nothing(
    tmp_path, monkeypatch
):
    system = str(tmp_path / "system")
    grow(system, "a")  # The chief of agent a: the root and a's cycle.
    before = tree(system)
    monkeypatch.setenv("TPU_WORKER_ID", "1")
    b = grow(system, "b")
    # It ran b's cycle over a's published path, as its chief would...
    assert b.loop == 1 and b.population.tasks == ["a", "b"]
    assert b.population.is_foreign(b.population.best_path("a"))
    # ...but wrote nothing: no folder of b, no lease, no state, no root.
    assert tree(system) == before
    assert layout.agents(system) == ["a"]
