"""The µ2Net evolutionary controller (spec §2.1, §2.2, §4).

    for loop in range(num_task_iters × len(tasks)):
        task = tasks[loop % len(tasks)]      # round-robin
        start_task → generations → end_task → test evaluation of new best
        → immutability check → accuracy matrix row → save state
        → refresh the SavedModel

A generation samples one set of data hyperparameters (spec §2.3), makes K
children (spec §2.4, §2.5), trains them together (the training engine),
and accepts those whose score reached their threshold (spec §2.8).

Every random decision draws from one `numpy.random.Generator` whose state is
saved with every state, so a resumed run (`auto_continue`) makes the same
decisions as an uninterrupted one.
"""

import time

import numpy as np
from absl import logging

from mu2keras import architecture
from mu2keras import evaluation
from mu2keras import experiment
from mu2keras import progress as progress_lib
from mu2keras.evolution import accuracy_record
from mu2keras.evolution import children
from mu2keras.evolution import inputs as inputs_lib
from mu2keras.evolution import method as method_lib
from mu2keras.evolution import mutation
from mu2keras.evolution import score as score_lib
from mu2keras.evolution import selection
from mu2keras.storage import state as state_lib
from mu2keras.storage import workdir as workdir_lib
from mu2keras.storage import workdir_export
from mu2keras.system import immutability
from mu2keras.system import population as population_lib
from mu2keras.tasks import registry
from mu2keras.tasks import task as task_lib
from mu2keras.tasks import task_hook
from mu2keras.training import trainer as trainer_lib

SAVED_MODEL = workdir_export.SAVED_MODEL


class Controller:
    """Grows a population over the config's tasks.

    Make one with `Controller.create` (a new system, or `continue_from` a
    finished one) or `Controller.resume` (`auto_continue`), then `run()`.

    Args:
        config: the experiment `ConfigDict` (`mu2keras.experiment`).
        workdir: str. Where states and the SavedModel go (local or gs://).
        population: the `Population`.
        tasks: dict name -> `Task` for user tasks, each keyed by its own
            name, or None for those of the config's hook
            (`config.user_tasks`); other names are looked up in the
            registry. Checked against `config.tasks` here
            (`mu2keras.tasks.task_hook.resolve_tasks`).
        strategy: `tf.distribute.Strategy` or None (the default one).
        loop, generation: int. Where to start (0, 0 for a new run).
        rng_state: dict or None. A saved generator state to resume.
        seed_order: list of path ids or None. The active task's seed list.
        progress: `mu2keras.progress.Progress` or None (no reporting). Told
            when the run starts and after each generation and task.
        accuracy_matrix: list or None. The rows recorded so far, to resume
            (`mu2keras.evolution.accuracy_record`); one is added per task.
    """

    def __init__(
        self,
        config,
        workdir,
        population,
        tasks=None,
        strategy=None,
        loop=0,
        generation=0,
        rng_state=None,
        seed_order=None,
        progress=None,
        accuracy_matrix=None,
    ):
        self.config = config
        self.defaults, self.ranges = experiment.check_config(config)
        self.method = method_lib.parse_method(
            config.method, self.defaults["num_layers"]
        )
        self.workdir = workdir
        _check_precision(config, population)
        self.population = population
        # Scores rank paths from the live locks (spec §1.4, §2.8).
        population.scorer = score_lib.run_scorer(config, self.method)
        self.loop = loop
        self.generation = generation
        self.rng = np.random.default_rng(config.seed)
        if rng_state is not None:
            self.rng.bit_generator.state = rng_state
        self._seed_order = seed_order
        self._tasks = task_hook.resolve_tasks(config, tasks)
        self.progress = progress or progress_lib.Progress()
        self.accuracy_matrix = list(accuracy_matrix or [])
        self.trainer = trainer_lib.Trainer(
            strategy=strategy,
            jit_compile=config.jit_compile,
            fused=config.fused,
            inherit_momentum=self.method.inherit_momentum,
            strict_improvement=self.method.strict,
            momentum_dtype=config.momentum_dtype,
        )
        # Every host of a pod slice runs this loop; only the chief writes.
        self._writes = workdir_lib.is_chief(self.trainer.strategy)
        self._fingerprints = None
        self._position_layer = None
        self._last_save = time.monotonic()
        self.lease = None  # The workdir's, held while `run` runs.
        self.inputs = inputs_lib.GenerationInputs(
            config, self.method, self.replicas
        )
        self._mutation_options = self._make_mutation_options()
        self._tester = evaluation.Tester(config.batch_size)

    # --- Making and resuming. ---

    @classmethod
    def create(cls, config, workdir, continue_from=None, **kwargs):
        """A controller for a new run: from the config's root, or continuing
        the finished system in the state directory `continue_from`. A
        workdir that holds a run is refused (`Controller.resume` it)."""
        defaults, _ = experiment.check_config(config)
        workdir_lib.check_new(workdir)
        kwargs["tasks"] = task_hook.resolve_tasks(config, kwargs.get("tasks"))
        if continue_from:
            loaded = state_lib.load_state(continue_from)
            population = loaded.population
            if population.active_task is not None:
                raise ValueError(
                    f"{loaded.directory} is mid-task ({population.active_task}"
                    "); continue from a finished state, or resume it with "
                    "auto_continue."
                )
        else:
            root, hparams = experiment.build_root(config, defaults)
            population = population_lib.Population.from_root(root, hparams)
        return cls(config, workdir, population, **kwargs)

    @classmethod
    def resume(cls, config, workdir, **kwargs):
        """Resumes the run in `workdir` at its last state (auto_continue)."""
        loaded = state_lib.load_state(workdir)
        saved = loaded.config.get("controller", {})
        return cls(
            config,
            workdir,
            loaded.population,
            loop=loaded.loop,
            generation=loaded.generation,
            rng_state=saved.get("rng_state"),
            seed_order=saved.get("seed_order"),
            accuracy_matrix=accuracy_record.from_config(loaded.config),
            **kwargs,
        )

    # --- The task loop (spec §2.1). ---

    @property
    def num_loops(self):
        return self.iterations * len(self.config.tasks)

    @property
    def iterations(self):
        return 1 if self.method.baseline else self.config.num_task_iters

    @property
    def replicas(self):
        return self.trainer.strategy.num_replicas_in_sync

    @property
    def candidates_per_generation(self):
        # One per replica by default; baselines train one candidate for the
        # whole budget (spec §2.2, §7.4; see `method`).
        return method_lib.candidates_per_generation(
            self.config, self.method, self.replicas
        )

    @property
    def num_generations(self):
        return method_lib.num_generations(
            self.config, self.method, self.replicas
        )

    def run(self):
        """Runs the remaining loops; returns the population.

        Holds the workdir's lease meanwhile, and first repairs its
        SavedModel (`mu2keras.storage.workdir.writer`).
        """
        with workdir_lib.writer(self) as self.lease:
            if self.config.check_immutability:
                self._fingerprints = immutability.fingerprints(self.population)
            self.progress.run_started(self)
            while self.loop < self.num_loops:
                name = self.config.tasks[self.loop % len(self.config.tasks)]
                self._run_task(name)
        return self.population

    def task(self, name):
        task, _ = task_lib.split_private(name)
        if task not in self._tasks:
            self._tasks[task] = registry.get_task(
                task, data_dir=self.config.data_dir or None
            )
        return self._tasks[task]

    def _run_task(self, name):
        pop = self.population
        task = self.task(name)
        if pop.active_task is None:
            self._start_task(name)
        sampler = selection.make_sampler(
            self.method,
            self._seeds(task.name),
            made=self.generation * self.candidates_per_generation,
            score=pop.score,
        )
        while self.generation < self.num_generations:
            self._run_generation(task, sampler)
            self.generation += 1
            self._maybe_save_intermediate(sampler)
        best = pop.end_task(task.name)
        measured = accuracy_record.test_untested(pop, self._test)
        self._check_immutability(task.name)
        self.accuracy_matrix.append(
            accuracy_record.row(
                pop,
                self.loop,
                task.name,
                self._test,
                measured,
                self._carried_tests(task.name),
            )
        )
        self._tester.keep(pop.retained_paths())
        self.loop, self.generation = self.loop + 1, 0
        if self._writes:
            self._save(sampler=None)
            if self.config.export_saved_model:
                workdir_export.refresh(pop, self.workdir)
        logging.info(
            "Task %s done (loop %d/%d): best path %s, validation %.4f, "
            "test %.4f.",
            task.name,
            self.loop,
            self.num_loops,
            best.id,
            best.metrics["quality"],
            best.metrics["test_quality"],
        )
        self.progress.task_done(self, task.name, best)

    def _start_task(self, name):
        # A hook: an agent first reloads the other agents' members.
        self.population.start_task(name)
        self._seed_order = None

    def _seeds(self, task):
        paths = self.population.seed_paths(task)
        if self._seed_order is None:
            seeds = selection.shuffled_seeds(paths, self.rng)
            self._seed_order = [p.id for p in seeds]
        by_id = {p.id: p for p in paths}
        return [by_id[i] for i in self._seed_order if i in by_id]

    # --- A generation (spec §2.2). ---

    def _run_generation(self, task, sampler):
        # µNet's seed phase mutates no data hyperparameters (spec §10).
        data_hparams = self._sample_data_hparams(
            task.name, not sampler.in_seed_phase
        )
        pop = self.population
        made = [
            children.make(
                pop,
                self.method,
                task,
                sampler,
                data_hparams,
                self._mutation_options,
                self.rng,
            )
            for _ in range(self.candidates_per_generation)
        ]
        candidates = [children.to_candidate(pop, task.name, c) for c in made]
        seed = int(self.rng.integers(2**31))
        n_v, n_e, train_ds, val = self.inputs.generation(
            task, data_hparams, seed
        )
        results = self.trainer.train(
            candidates, train_ds, val.dataset, n_v, n_e, val.num_batches
        )
        for child, result in zip(made, results, strict=True):
            children.record(pop, task.name, self.generation, child, result)
        pop.garbage_collect()
        self.progress.generation_done(self, task.name, made, results)

    def _sample_data_hparams(self, task, mutate=True):
        pop = self.population
        best = pop.best_path(task).hparams if pop.paths.get(task) else None
        return mutation.sample_data_hparams(
            self.defaults,
            self.ranges,
            best,
            mutate and not self.method.baseline,
            self.rng,
            mu=method_lib.data_mu(self.method, self.defaults),
        )

    def _make_mutation_options(self):
        baseline = self.method.baseline
        return mutation.MutationOptions(
            # Baselines mutate nothing; adapters:D has fixed adapters.
            ranges={} if baseline else self.ranges,
            mutate_adapters=self.config.mutate_adapters and not baseline,
            force_finetune=self.method.force_finetune,
            global_mu=self.method.global_mu,
            defaults=self.defaults,
            position_source=(
                self._position_source
                if experiment.has_position_source(self.config)
                else None
            ),
            init_from_path_id=self.method.init_from_path_id,
        )

    def _position_source(self):
        """The root checkpoint's position embedding at its own grid, read
        on the first new image size only."""
        if self._position_layer is None:
            self._position_layer = experiment.position_source(self.config)
        return self._position_layer

    # --- After a task. ---

    def _test(self, path):
        """`path`'s accuracy on its task's test split."""
        return self._tester(path, self.task(path.task))

    def _carried_tests(self, task):
        # Carried only when not re-tested, and verified unchanged.
        if (
            self.config.get("retest_ended_tasks", True)
            or self._fingerprints is None
        ):
            return {}
        return accuracy_record.earlier_tests(self.population, task)

    def _check_immutability(self, task):
        """Spec §2.10: no other task's retained path changed by a bit."""
        if self._fingerprints is None:
            return
        immutability.verify(
            self.population, self._fingerprints, changed_tasks={task}
        )
        self._fingerprints = immutability.fingerprints(self.population)

    # --- State (spec §6.2, §6.3). ---

    def _maybe_save_intermediate(self, sampler):
        elapsed = time.monotonic() - self._last_save
        if (
            self._writes
            and self.generation < self.num_generations
            and elapsed >= self.config.intermediate_state_secs
        ):
            self._save(sampler)

    def _save(self, sampler):
        start = time.perf_counter()
        if self.lease is not None:  # Still this run's, or LeaseLost.
            self.lease.renew()
        self._write_state(self._payload(sampler))
        self._last_save = time.monotonic()
        self.progress.state_saved(
            self, time.perf_counter() - start, intermediate=sampler is not None
        )

    def _payload(self, sampler):
        """The state's config.json: the experiment and the loop's state."""
        return {
            "experiment": self.config.to_dict(),
            "controller": {
                "rng_state": self.rng.bit_generator.state,
                "seed_order": (
                    None if sampler is None else [p.id for p in sampler.seeds]
                ),
                accuracy_record.KEY: self.accuracy_matrix,
            },
        }

    def _write_state(self, payload):
        state_lib.save_state(
            self.population,
            self.workdir,
            self.loop,
            self.generation,
            config=payload,
            keep=self.config.keep_states,
        )


def _check_precision(config, population):
    # One system, one precision: locked components never change, so a
    # system computes in the policy it was made with.
    policy = mutation.dtype_policy_of(population)
    compute_dtype = config.get("compute_dtype", "float32")
    if policy != architecture.dtype_policy(compute_dtype):
        raise ValueError(
            f"config.compute_dtype is {compute_dtype!r}, but the system's "
            f"components compute in Keras' {policy!r} policy, set when it "
            "was made; a system keeps its precision. Set "
            "config.compute_dtype to match it."
        )
