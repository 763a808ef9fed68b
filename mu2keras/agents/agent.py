"""An agent: the controller's loop for one task of a shared system (µ3Net).

    agent = Agent.open(config, system="/shared/sys", name="digits")
    agent.run()        # config.num_task_iters cycles of config.tasks

A cycle is the controller's task visit (`Controller._run_task`), with:

* at its start, the other agents' newest published paths reloaded
  (`members.Members.sync`): frozen members, never saved as this agent's;
* its states written to `SYSTEM/agents/NAME` (`codec.encode`: its own
  paths and components, references to the others'), under that folder's
  lease; a cycle's last state is *published* with the sha256 of each own
  path's probe logits, and older states are pruned (`layout.prune`);
* at its end, the controller's immutability check, plus every other
  agent's path held checked bit for bit against what its owner published.

An agent killed and restarted (`Agent.open` again) resumes from its own
`LAST`, as `Controller.resume` does, then reloads the others.

On a TPU pod slice every host runs the same agent: only the chief
(`storage.workdir.is_chief`) publishes the root, holds the lease and
writes states (the controller's `_writes`); the others run the same
loop and write nothing.
"""

import functools
import math

import tensorflow as tf

from mu2keras.agents import codec
from mu2keras.agents import layout
from mu2keras.agents import members as members_lib
from mu2keras.agents import root as root_lib
from mu2keras.evolution import accuracy_record
from mu2keras.evolution import controller as controller_lib
from mu2keras.storage import state as state_lib
from mu2keras.storage import workdir as workdir_lib
from mu2keras.system import immutability


class Agent(controller_lib.Controller):
    """A `Controller` that grows its tasks inside a shared system.

    Make one with `Agent.open`. Args as `Controller`'s, plus:
        system: str. The shared system directory (local or gs://).
        name: str. The agent's name, its folder `SYSTEM/agents/NAME`.
        members: `members.Members`, what it holds of the other agents.
    """

    def __init__(self, config, system, name, population, members, **kwargs):
        self.system = system
        self.name = layout.check_name(name)
        self.members = members
        workdir = layout.agent_dir(system, name)
        super().__init__(config, workdir, population, **kwargs)

    @classmethod
    def open(cls, config, system, name, **kwargs):
        """The agent `name` of `system`: new, or resumed from its `LAST`.

        Publishes the system's root first if no agent has (`root`), on
        the chief host only. Other keyword arguments go to `Controller`
        (tasks, strategy, progress).
        """
        strategy = kwargs.get("strategy") or tf.distribute.get_strategy()
        chief = workdir_lib.is_chief(strategy)
        root = root_lib.ensure_root(system, config, publish=chief)
        directory = layout.agent_dir(system, name)
        members = members_lib.Members(system, name, tasks=config.tasks)
        if state_lib.latest_state(directory) is None:
            population = codec.mark_root(root)
        else:
            found, manifest, parsed = state_lib.read_verified(directory)
            population, members.lineages = codec.restore(found, parsed, root)
            saved = parsed[state_lib.CONFIG].get("controller", {})
            kwargs.update(
                loop=manifest["loop"],
                generation=manifest["generation"],
                rng_state=saved.get("rng_state"),
                seed_order=saved.get("seed_order"),
                accuracy_matrix=accuracy_record.from_config(
                    parsed[state_lib.CONFIG]
                ),
            )
        members.sync(population)
        if kwargs.get("seed_order") is not None:
            kwargs["seed_order"] = _seed_ids(
                population, name, kwargs["seed_order"]
            )
        return cls(config, system, name, population, members, **kwargs)

    # --- Hooks of the controller's loop. ---

    def _start_task(self, name):
        self.members.sync(self.population)
        if self.config.check_immutability:
            self._fingerprints = immutability.fingerprints(self.population)
        super()._start_task(name)

    def _check_immutability(self, task):
        super()._check_immutability(task)
        if self.config.check_immutability:
            self.members.verify(self.population)

    def _test(self, path):
        # Another agent's path: tested by its owner, and unchanged since
        # (the immutability checks), so its accuracy stands.
        if self.population.is_foreign(path):
            return path.metrics.get("test_quality", math.nan)
        return super()._test(path)

    def _payload(self, sampler):
        payload = super()._payload(sampler)
        if sampler is not None:
            # By stable key: other agents' paths get new local ids when
            # reloaded (`_seed_ids` maps them back).
            payload["controller"]["seed_order"] = [
                codec.path_key(self.population, path, self.name)
                for path in sampler.seeds
            ]
        fingerprints = {}
        if sampler is None:  # A cycle's end: published.
            for pool in codec.own_pools(self.population).values():
                for path in pool:
                    key = codec.path_key(self.population, path, self.name)
                    fingerprints[key] = immutability.fingerprint(path)
        payload[members_lib.AGENT] = {
            "name": self.name,
            "fingerprints": fingerprints,
        }
        return payload

    def _write_state(self, payload):
        state_lib.save_state(
            self.population,
            self.workdir,
            self.loop,
            self.generation,
            config=payload,
            encoder=functools.partial(codec.encode, agent=self.name),
        )
        if self.config.keep_states:
            layout.prune(self.workdir, max(2, self.config.keep_states))


def _seed_ids(population, name, seed_order):
    """The local ids of a saved seed order's paths, in its order.

    Saved by stable key (`Agent._payload`; plain ids, the own and the
    root's, are kept); a seed its owner retired since is no longer one.
    """
    ids = {
        codec.path_key(population, path, name): path.id
        for path in population.retained_paths()
    }
    return [
        ids[seed] if isinstance(seed, str) else seed
        for seed in seed_order
        if not isinstance(seed, str) or seed in ids
    ]
