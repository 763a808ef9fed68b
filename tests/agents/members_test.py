"""Agents in one process on tiny user tasks: what an agent saves, holds
and refuses (issue 22)."""

import shutil

import pytest

from mu2keras import agents
from mu2keras.agents import layout
from mu2keras.storage import state as state_lib
from mu2keras.system.component import ROOT_TASK
from tests.evolution.controller_test import TASKS
from tests.evolution.controller_test import tiny_config


def agent_config(task, cycles=1):
    return tiny_config(
        tasks=(task,),
        num_task_iters=cycles,
        num_samples_per_task=2,
        export_saved_model=False,
        keep_states=2,
    )


def grow(system, task, cycles=1, name=None):
    agent = agents.Agent.open(
        agent_config(task, cycles), system, name or task, tasks=TASKS
    )
    agent.run()
    return agent


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Agents a then b, one cycle each: b holds a's path."""
    system = str(tmp_path_factory.mktemp("system"))
    grow(system, "a")
    return system, grow(system, "b")


def test_an_agent_saves_only_its_own_paths_and_components(system):
    directory, b = system
    _, _, parsed = state_lib.read_verified(layout.agent_dir(directory, "b"))
    structure = parsed[state_lib.STRUCTURE]
    assert structure["agent"] == "b" and list(structure["tasks"]) == ["b"]
    assert {r["task"] for r in structure["paths"]} == {"b"}
    pop = b.population
    own = {c.id for c in pop.best_path("b").components}
    for record in structure["components"]:
        origin = record.get("origin")
        assert record["id"] in own
        assert origin is None or origin.startswith(("root:", "a:"))
    # b holds a's path, frozen under a's lock, and the root.
    a_path = pop.best_path("a")
    assert pop.foreign_paths[a_path.id].startswith("a:")
    assert all("a" in c.locks and not c.trainable for c in a_path.components)
    assert layout.is_root_key(pop.foreign_paths[pop.paths[ROOT_TASK][0].id])


def test_history_holds_only_the_agents_own_paths(system):
    _, b = system
    paths, components = b.population.history()
    assert {r["task"] for r in paths} == {"b", ROOT_TASK}  # Root: shared.
    foreign = {
        i
        for i, key in b.population.foreign_components.items()
        if not layout.is_root_key(key)
    }
    assert foreign and not foreign & {r["id"] for r in components}


def test_a_retired_parent_falls_back_to_a_held_ancestor_or_the_root(system):
    directory, _ = system
    b = agents.Agent.open(agent_config("b"), directory, "b", tasks=TASKS)
    pop = b.population
    own, a_path = pop.best_path("b"), pop.best_path("a")
    a_key = pop.foreign_paths[a_path.id]
    b.members.lineages = {own: ["a:999", a_key, "root:0"]}
    b.members.sync(pop)
    assert own.parent is a_path  # a:999 is gone: the next one held.
    b.members.lineages = {own: ["a:999"]}
    b.members.sync(pop)
    assert own.parent is pop.paths[ROOT_TASK][0]


def test_a_second_agent_on_a_task_is_refused(system):
    directory, _ = system
    with pytest.raises(agents.AgentError, match="both grow task 'a'"):
        agents.Agent.open(agent_config("a"), directory, "a2", tasks=TASKS)


def test_a_different_root_is_refused(system):
    directory, _ = system
    config = agent_config("c")
    config.root.num_layers = 1
    with pytest.raises(agents.AgentError, match="share one root"):
        agents.Agent.open(config, directory, "c", tasks=TASKS)


def test_bad_agent_names_are_refused():
    for name in ("", "root", "a/b", "-x"):
        with pytest.raises(agents.AgentError, match=repr(name)):
            layout.check_name(name)
    assert agents.agent_name("private:embedded/digits") == "embedded_digits"


def test_others_read_the_newest_finished_state_not_newer_than_last(
    system, tmp_path
):
    directory, _ = system
    folder = str(tmp_path / "a")
    shutil.copytree(layout.agent_dir(directory, "a"), folder)
    # Mid-cycle (state_1_1, named by LAST), and one being written
    # (state_2_0, not yet named): neither is read by other agents.
    for name in ("state_1_1", "state_2_0"):
        shutil.copytree(f"{folder}/state_1_0", f"{folder}/{name}")
    with open(f"{folder}/LAST", "w") as f:
        f.write("state_1_1")
    found, parsed = layout.published_state(folder)
    assert found == f"{folder}/state_1_0"
    assert parsed[state_lib.CONFIG]["agent"]["fingerprints"]
    # A damaged newest finished state: the one before it, or none.
    with open(f"{folder}/state_1_0/history.json", "a") as f:
        f.write(" ")
    assert layout.published_state(folder) is None
    assert layout.published_state(str(tmp_path / "none")) is None
