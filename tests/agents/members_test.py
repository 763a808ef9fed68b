"""Agents in one process on tiny user tasks: what an agent saves, holds
and refuses (issue 22)."""

import shutil

import pytest

from mu2keras import agents
from mu2keras import progress as progress_lib
from mu2keras.agents import codec
from mu2keras.agents import layout
from mu2keras.evolution import selection
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib
from mu2keras.storage import state_codec
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


@pytest.fixture
def copy(system, tmp_path):
    """A copy of the module's system, to change."""
    directory = str(tmp_path / "system")
    shutil.copytree(system[0], directory)
    return directory


def count_reads(monkeypatch):
    """{"read": files read whole, "digest": files hashed in chunks,
    "bundle": weight bundles read}, filled as they are."""
    calls = {"read": [], "digest": [], "bundle": []}
    for module, name, kind in (
        (storage, "read", "read"),
        (storage, "digest", "digest"),
        (state_codec, "_restore", "bundle"),
    ):
        monkeypatch.setattr(
            module, name, counted(getattr(module, name), calls[kind])
        )
    return calls


def counted(function, calls):
    def wrapper(path, *args, **kwargs):
        calls.append("/".join(path.split("/")[-2:]))  # FOLDER/FILE
        return function(path, *args, **kwargs)

    return wrapper


def members_held(population):
    """{stable key: (path, its components)} of other agents' paths."""
    return {
        population.foreign_paths[p.id]: (p, list(p.components))
        for p in population.retained_paths()
        if population.is_foreign(p)
    }


def component_keys(population):
    """{stable key: its components' keys} of other agents' paths."""
    return {
        key: [codec.component_key(population, c, "b") for c in components]
        for key, (_, components) in members_held(population).items()
    }


def test_a_sync_with_nothing_new_reads_only_last(copy, monkeypatch):
    b = agents.Agent.open(agent_config("b"), copy, "b", tasks=TASKS)
    held = members_held(b.population)
    assert any(key.startswith("a:") for key in held)
    calls = count_reads(monkeypatch)
    b.members.sync(b.population)
    # a's newest finished state is the one read at open: only a's LAST,
    # to find it, is read; no weights, no checksum.
    assert calls == {"read": ["a/LAST"], "digest": [], "bundle": []}
    assert members_held(b.population) == held  # The very same objects.
    assert b.members.verify(b.population) == 1  # a's path, bit for bit.


def test_a_new_publication_is_read_and_only_new_components_decoded(
    copy, monkeypatch
):
    b = agents.Agent.open(agent_config("b"), copy, "b", tasks=TASKS)
    pop = b.population
    held = set(pop.foreign_components.values())
    held |= {layout.key("b", c.id) for c in pop.best_path("b").components}
    grow(copy, "a", cycles=2)  # a's second cycle, over b's first.
    folder = layout.agent_dir(copy, "a")
    shutil.rmtree(f"{folder}/state_1_0")  # Pruned meanwhile.
    _, _, parsed = state_lib.read_verified(folder)
    structure = parsed[state_lib.STRUCTURE]
    new = [
        r
        for r in structure["components"]
        if (r.get("origin") or layout.key("a", r["id"])) not in held
    ]
    assert new  # a's second cycle made components b does not hold.
    calls = count_reads(monkeypatch)
    b.members.sync(pop)
    assert b.members.states["a"] == f"{folder}/state_2_0"
    assert len(calls["bundle"]) == sum(1 + bool(r["momentum"]) for r in new)
    assert sorted(calls["digest"]) == [
        "state_2_0/weights.data-00000-of-00001",
        "state_2_0/weights.index",
    ]
    published = [layout.key("a", i) for i in structure["tasks"]["a"]]
    assert [pop.foreign_paths[p.id] for p in pop.paths["a"]] == published
    assert b.members.verify(pop) == 1
    # As a reader that never held a's first cycle sees it.
    fresh = agents.Agent.open(agent_config("b"), copy, "b", tasks=TASKS)
    assert component_keys(fresh.population) == component_keys(pop)


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


class Interrupted(Exception):
    pass


class StopAtFirstSave(progress_lib.Progress):
    """Stops the run at its first mid-cycle state: a kill right after."""

    def state_saved(self, controller, seconds, intermediate):
        if intermediate:
            raise Interrupted()


def test_a_restarted_agent_keeps_its_seed_order_with_other_agents_seeds(
    copy, monkeypatch
):
    samplers = []  # (sampler, the seeds it was given), as made.

    def make_sampler(method, seeds, **kwargs):
        samplers.append((original(method, seeds, **kwargs), list(seeds)))
        return samplers[-1][0]

    original = selection.make_sampler
    monkeypatch.setattr(selection, "make_sampler", make_sampler)
    config = agent_config("b", cycles=2)
    config.num_candidates = 1  # Two generations a cycle.
    b = agents.Agent.open(
        config, copy, "b", tasks=TASKS, progress=StopAtFirstSave()
    )
    with pytest.raises(Interrupted):
        b.run()  # Saves state_1_1, mid-cycle 2, and stops.
    pop, a_path = b.population, b.population.best_path("a")
    saved = [codec.path_key(pop, p, "b") for p in samplers[-1][0].seeds]
    assert sorted(saved) == sorted(["root:0", pop.foreign_paths[a_path.id]])
    resumed = agents.Agent.open(config, copy, "b", tasks=TASKS)
    assert (resumed.loop, resumed.generation) == (1, 1)
    pop = resumed.population
    assert pop.best_path("a").id != a_path.id  # A new local id.
    resumed.run()
    # The rest of the cycle draws from the same seeds, in the same order.
    assert [codec.path_key(pop, p, "b") for p in samplers[-1][1]] == saved
