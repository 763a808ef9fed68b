"""Whole runs of the controller at a tiny size (issue 5's run tests)."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from mu2keras import evaluation
from mu2keras import experiment
from mu2keras import progress as progress_lib
from mu2keras import tasks as tasks_lib
from mu2keras import training
from mu2keras.evolution import accuracy_record
from mu2keras.evolution import controller as controller_lib
from mu2keras.evolution import mutation as mutation_lib
from mu2keras.evolution import score as score_lib
from mu2keras.evolution import search_space
from mu2keras.report import transfer
from mu2keras.storage import state as state_lib
from mu2keras.system import immutability
from mu2keras.system.component import ROOT_TASK


def user_task(name, seed, classes=3, n=96, labels=None):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes if labels is None else labels
    noise = rng.uniform(0, 60, (n, 8, 8, 1))
    images = (noise + labels[:, None, None, None] * 80).astype("uint8")
    return tasks_lib.from_arrays(name, images, labels, num_classes=classes)


TASKS = {name: user_task(name, i) for i, name in enumerate("abcd")}


def tiny_config(tasks=("a", "b", "private:c"), **overrides):
    c = experiment.default_config()
    c.tasks = list(tasks)
    c.root.variant = "testing"
    c.hparams.ds_image_size = 8
    c.hparams.opt_lr = 0.1
    c.autotune = "v2"
    c.num_task_iters = 2
    c.num_samples_per_task = 4
    c.num_candidates = 2
    c.batch_size = 16
    c.max_train_examples_between_validations = 32
    c.num_validations = 2
    c.max_validation_examples = 16
    c.intermediate_state_secs = 0.0  # A state after every generation.
    c.keep_states = 50
    for key, value in overrides.items():
        c[key] = value
    return c


def run(config, workdir, **kwargs):
    controller = controller_lib.Controller.create(
        config, str(workdir), tasks=TASKS, **kwargs
    )
    return controller.run()


def summary(population):
    """Paths, parents, hparams and metrics (not timings) of every path."""
    paths, _ = population.history()
    return {
        r["id"]: (
            r["task"],
            r["origin_parent_id"],
            r["hparams"],
            {k: v for k, v in r["metrics"].items() if not k.endswith("_time")},
        )
        for r in paths
    }


@pytest.fixture(scope="module", autouse=True)
def op_determinism():
    # Issue 5: with op determinism, a resumed run repeats the metrics too.
    # Process-wide, so it is switched off again for the other modules.
    tf.config.experimental.enable_op_determinism()
    yield
    tf_config.disable_op_determinism()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    population = run(tiny_config(), workdir)
    return workdir, population


def test_whole_run_keeps_one_path_per_task(finished):
    workdir, population = finished
    assert population.tasks == ["a", "b", "c"]
    assert population.private_tasks == {"c"}
    for task in population.tasks:
        (best,) = population.paths[task]
        assert 0.0 <= best.metrics["quality"] <= 1.0
        assert 0.0 <= best.metrics["test_quality"] <= 1.0
        assert all(task in c.locks for c in best.components)
        assert best.metrics["final_accounted_params"] > 0
    # 6 loops × 2 generations × 2 children, plus the root.
    paths, _ = population.history()
    assert len(paths) == 1 + 6 * 2 * 2
    # Every trained path records the engine's timings, copies included.
    for record in paths[1:]:
        times = [record["metrics"][f"{k}_time"] for k in training.TIMINGS]
        assert all(t >= 0 for t in times), record["metrics"]
        assert record["metrics"]["train_time"] > 0
    loaded = state_lib.load_state(str(workdir))
    assert (loaded.loop, loaded.generation) == (6, 0)
    saved_model = tf.saved_model.load(str(workdir / "saved_model"))
    names = saved_model.signatures["task_names"]()["task_names"].numpy()
    assert [n.decode() for n in names] == ["a", "b", "c"]


def test_private_task_is_never_a_parent_of_another_task(finished):
    _, population = finished
    records = {r["id"]: r for r in population.history()[0]}
    for record in records.values():
        parent = records.get(record["origin_parent_id"])
        if parent is not None and parent["task"] == "c":
            assert record["task"] == "c", record["id"]
    # ... while c's own children do descend from c's paths.
    own = [
        r
        for r in records.values()
        if r["task"] == "c" and records[r["origin_parent_id"]]["task"] == "c"
    ]
    assert own


def test_immutability_check_catches_a_changed_earlier_task(tmp_path):
    config = tiny_config(tasks=("a", "b"), num_task_iters=1)
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=TASKS
    )
    original = controller._run_generation

    def tamper(task, sampler):
        original(task, sampler)
        if task.name == "b":  # Change a's frozen head while b trains.
            head = controller.population.paths["a"][0].component("head")
            head.layer.dense.bias.assign(head.layer.dense.bias + 1e-3)

    controller._run_generation = tamper
    with pytest.raises(immutability.ImmutabilityError, match="a"):
        controller.run()


def test_continue_from_adds_a_task_without_changing_the_others(
    finished, tmp_path
):
    workdir, _ = finished
    before = state_lib.load_state(str(workdir)).population
    recorded = immutability.fingerprints(before)
    config = tiny_config(tasks=("d",), num_task_iters=1)
    population = controller_lib.Controller.create(
        config, str(tmp_path), continue_from=str(workdir), tasks=TASKS
    ).run()
    assert population.tasks == ["a", "b", "c", "d"]
    immutability.verify(population, recorded, changed_tasks={"d"})
    old_ids = {r["id"] for r in before.history()[0]}
    new_ids = {p.id for p in population.paths["d"]}
    assert min(new_ids) > max(old_ids)  # Id counters continue.


def test_auto_continue_ends_in_the_same_state_as_an_uninterrupted_run(
    finished, tmp_path
):
    _, uninterrupted = finished
    config = tiny_config()
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=TASKS
    )
    original, calls = controller._run_generation, []

    def crash_on_the_eighth(task, sampler):
        calls.append(task.name)
        if len(calls) == 8:  # Loop 3 (task a again), second generation.
            raise KeyboardInterrupt("killed")
        original(task, sampler)

    controller._run_generation = crash_on_the_eighth
    with pytest.raises(KeyboardInterrupt):
        controller.run()
    saved = state_lib.load_state(str(tmp_path))
    assert (saved.loop, saved.generation) == (3, 1)
    assert len(matrix_of(tmp_path)) == 3  # The rows of loops 0 to 2.
    resumed = controller_lib.Controller.resume(
        config, str(tmp_path), tasks=TASKS
    ).run()
    assert summary(resumed) == summary(uninterrupted)
    assert matrix_of(tmp_path) == matrix_of(finished[0])
    for task in uninterrupted.tasks:
        a = uninterrupted.best_path(task)
        b = resumed.best_path(task)
        images = np.zeros((2, 8, 8, 3), "float32")
        np.testing.assert_array_equal(a(images), b(images))


@pytest.mark.parametrize(
    "method, trained",
    [
        (
            "finetune_all",
            {"embedding", "cls", "posembed_input", "encoderblock_0"}
            | {"encoderblock_1", "encoder_norm", "head"},
        ),
        ("freeze_bottom:1", {"encoderblock_1", "encoder_norm", "head"}),
        (
            "adapters:4",
            {"residual_adapter_0", "residual_adapter_1"}
            | {"encoder_norm", "head"},
        ),
    ],
)
def test_baselines_train_their_components_for_the_whole_budget(
    method, trained, tmp_path
):
    # Adapter mutation on, as in the ti3 setting: baselines mutate nothing,
    # so finetune_all gets no adapters and adapters:D only its own.
    config = tiny_config(tasks=("a",), method=method, mutate_adapters=True)
    config.hparams.num_layers = 2
    population = run(config, tmp_path)
    (best,) = population.paths["a"]
    root = population.paths[ROOT_TASK][0]
    root_ids = {c.id for c in root.components}
    own = {c.name for c in best.components if c.id not in root_ids}
    assert own == trained
    # One candidate, trained as long as µ2Net's whole run on the task:
    # N_e × iterations × generations evaluations (spec §7.4).
    assert len(best.metrics["evals"]) == 2 * 2 * 2
    assert len(population.history()[0]) == 2  # The root and one child.


def test_bad_config_fails_before_any_work(tmp_path):
    with pytest.raises(
        ValueError, match=r"config.num_candidates must be .*; got -1."
    ):
        run(tiny_config(num_candidates=-1), tmp_path)
    with pytest.raises(ValueError, match="Unknown method 'mu3net'"):
        run(tiny_config(method="mu3net"), tmp_path)
    config = tiny_config()
    config.hparams.opt_lr = 0.3
    with pytest.raises(ValueError, match="Default opt_lr=0.3 is outside"):
        run(config, tmp_path)
    assert not list(tmp_path.iterdir())


class SaveRecorder(progress_lib.Progress):
    def __init__(self):
        self.saves = []

    def state_saved(self, controller, seconds, intermediate):
        latest = state_lib.latest_state(controller.workdir)
        self.saves.append(
            (controller.loop, controller.generation, intermediate, latest)
        )
        assert seconds > 0


def test_validation_built_once_per_task_visit_and_saves_reported(tmp_path):
    # 2 tasks × 2 iterations × 2 generations; the image size does not
    # mutate (autotune off), so one validation subset per task visit.
    reads = []
    tasks = {name: user_task(name, i) for i, name in enumerate("ab")}
    for task in tasks.values():
        source = task._dataset

        def counted(split, shuffle_files, seed, source=source, name=task.name):
            if split == "validation":
                reads.append(name)
            return source(split, shuffle_files, seed)

        task._dataset = counted
    config = tiny_config(tasks=("a", "b"), autotune="off")
    recorder = SaveRecorder()
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=tasks, progress=recorder
    )
    controller.run()
    assert controller.num_generations == 2
    assert reads == ["a", "b", "a", "b"]
    # A state after each generation but a task's last (intermediate), one
    # at each task's end; each is on disk when reported.
    expected = []
    for loop in range(4):
        expected += [(loop, 1, True), (loop + 1, 0, False)]
    assert [s[:3] for s in recorder.saves] == expected
    for loop, generation, _, latest in recorder.saves:
        assert latest.endswith(state_lib.state_name(loop, generation))


# --- The accuracy matrix (mu2keras.evolution.accuracy_record). ---


def matrix_of(workdir):
    loaded = state_lib.load_state(str(workdir))
    return accuracy_record.from_config(loaded.config)


def test_accuracy_matrix_has_a_row_per_task_visit(finished):
    workdir, population = finished
    matrix = matrix_of(workdir)
    assert [row["loop"] for row in matrix] == list(range(6))
    assert [row["task"] for row in matrix] == ["a", "b", "c"] * 2
    learned = [["a"], ["a", "b"]] + [["a", "b", "c"]] * 4
    assert [list(row["accuracy"]) for row in matrix] == learned
    for task in population.tasks:
        best = population.best_path(task)
        assert matrix[-1]["accuracy"][task] == best.metrics["test_quality"]
        # From the task's last visit on, its locked path tests the same.
        last_visit = 3 + population.tasks.index(task)
        after = {row["accuracy"][task] for row in matrix[last_visit:]}
        assert after == {best.metrics["test_quality"]}
    assert transfer.backward_transfer(matrix)["mean"] == 0.0


def test_accuracy_matrix_is_measured_at_every_task_end(tmp_path):
    # Immutability check off: a's head is changed while b trains, which
    # the next row must show (a copied value would not). a's classes are
    # 4:1:1, so a constant prediction of class 2 changes its accuracy.
    config = tiny_config(
        tasks=("a", "b"),
        num_task_iters=1,
        num_samples_per_task=2,
        check_immutability=False,
        export_saved_model=False,
    )
    tasks = {
        "a": user_task("a", 0, labels=np.array([0, 0, 0, 0, 1, 2] * 16)),
        "b": TASKS["b"],
    }
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=tasks
    )
    original, tests = controller._run_generation, []
    test = controller._test

    def tamper(task, sampler):
        original(task, sampler)
        if task.name == "b":  # Every image to class 2.
            head = controller.population.paths["a"][0].component("head")
            head.layer.dense.bias.assign([0.0, 0.0, 1e4])

    def counted(path):
        tests.append(path.task)
        return test(path)

    controller._run_generation, controller._test = tamper, counted
    population = controller.run()
    # One test per new best, one more for each earlier task.
    assert tests == ["a", "b", "a"]
    (before, after) = [row["accuracy"] for row in matrix_of(tmp_path)]
    a = population.best_path("a")
    tested = evaluation.test_accuracy(a, tasks["a"], config.batch_size)
    assert after["a"] == tested != before["a"]
    assert before["a"] == a.metrics["test_quality"]  # Its end of task.
    drop = before["a"] - after["a"]
    assert transfer.forgetting(matrix_of(tmp_path))["per_task"]["a"] == drop
    bwt = transfer.backward_transfer(matrix_of(tmp_path))
    assert bwt["per_task"] == {"a": -drop, "b": None}


def test_without_retests_verified_accuracies_are_carried(tmp_path):
    """`retest_ended_tasks=False`: each best path is tested once; later
    rows carry it after the immutability check, and name it."""
    config = tiny_config(
        num_task_iters=1, retest_ended_tasks=False, export_saved_model=False
    )
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=TASKS
    )
    test, tests = controller._test, []

    def counted(path):
        tests.append(path.task)
        return test(path)

    controller._test = counted
    population = controller.run()
    assert tests == ["a", "b", "c"]
    matrix = matrix_of(tmp_path)
    assert [row.get("carried", []) for row in matrix] == [[], ["a"], ["a", "b"]]
    for task in population.tasks:
        best = population.best_path(task)
        assert {
            row["accuracy"][task] for row in matrix if task in row["accuracy"]
        } == {best.metrics["test_quality"]}
    # What a re-test would measure: the carried values hold.
    a = population.best_path("a")
    assert matrix[-1]["accuracy"]["a"] == evaluation.test_accuracy(
        a, TASKS["a"], config.batch_size
    )


def test_a_state_without_the_matrix_resumes_with_an_empty_one(
    finished, tmp_path
):
    loaded = state_lib.load_state(str(finished[0]))
    config = dict(loaded.config)
    config["controller"] = {
        k: v
        for k, v in config["controller"].items()
        if k != accuracy_record.KEY
    }
    state_lib.save_state(loaded.population, str(tmp_path), 6, config=config)
    controller = controller_lib.Controller.resume(
        tiny_config(), str(tmp_path), tasks=TASKS
    )
    assert controller.accuracy_matrix == []
    controller.run()  # Nothing left to run.
    assert matrix_of(tmp_path) == []


# --- Candidates per generation (spec §2.2, §6.1). ---


class GenerationRecorder(progress_lib.Progress):
    def __init__(self):
        self.sizes = []

    def generation_done(self, controller, task, children, results):
        self.sizes.append(len(children))


def test_candidates_per_generation_default_to_one_per_replica(tmp_path):
    # The default strategy has one replica: one candidate per generation,
    # ceil(samples / 1) generations, as the reference on one device.
    config = tiny_config(tasks=("a",), num_task_iters=1, num_candidates=0)
    config.num_samples_per_task = 3
    config.export_saved_model = False
    recorder = GenerationRecorder()
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=TASKS, progress=recorder
    )
    assert controller.replicas == 1
    assert controller.candidates_per_generation == 1
    assert controller.num_generations == 3
    population = controller.run()
    assert recorder.sizes == [1, 1, 1]
    assert len(population.history()[0]) == 1 + 3
    # An explicit K is kept whatever the devices (here fused or not).
    explicit = controller_lib.Controller.create(
        tiny_config(num_candidates=3), str(tmp_path / "k3"), tasks=TASKS
    )
    assert explicit.candidates_per_generation == 3
    assert explicit.num_generations == 2  # ceil(4 / 3).


def test_controller_ranks_paths_by_the_live_score(tmp_path):
    # Spec §2.8: size_scale's base on the run's reference parameters,
    # recomputed from the live locks (tests/evolution/score_test.py).
    config = tiny_config(method="size_scale:90")
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=TASKS
    )
    assert controller.population.scorer == score_lib.Scorer(
        0.9, config.reference_params
    )


# --- µNet (spec §8.2, §10). ---


def munet_run(tmp_path, monkeypatch):
    """A µNet run on two tasks, twice each, with what it did recorded."""
    config = tiny_config(
        tasks=("a", "b"),
        method="munet",
        setting="ti3",
        autotune="default",
        export_saved_model=False,
    )
    config.hparams.ds_image_size = 16  # In µNet's image sizes, 16..384.
    config.hparams._mu_ = 0.3  # Unused: µNet's µ is global.
    data_calls = []
    sample = mutation_lib.sample_data_hparams

    def recorded(*args, **kwargs):
        data_calls.append((args[3], kwargs["mu"]))
        return sample(*args, **kwargs)

    monkeypatch.setattr(mutation_lib, "sample_data_hparams", recorded)
    controller = controller_lib.Controller.create(
        config, str(tmp_path), tasks=TASKS
    )
    original, generations = controller._run_generation, []

    def recording(task, sampler):
        first = controller.population.next_path_id
        seeds = [p.id for p in sampler.seeds]
        phase = sampler.in_seed_phase
        original(task, sampler)
        children = range(first, controller.population.next_path_id)
        generations.append((controller.loop, seeds, phase, list(children)))

    controller._run_generation = recording
    controller.run()
    return controller, generations, data_calls


def test_munet_runs_with_its_seed_phase_global_mu_and_ranges(
    tmp_path, monkeypatch
):
    controller, generations, data_calls = munet_run(tmp_path, monkeypatch)
    population = controller.population
    records = {r["id"]: r for r in population.history()[0]}
    # µNet's search space: num_layers 1..3 (ti3), learning rates up to 0.1,
    # µNet's momentum list (None as 0.0), no µ range.
    ranges = controller.ranges
    assert ranges["num_layers"] == [1, 2, 3] and "_mu_" not in ranges
    assert max(ranges["opt_lr"]) == 0.1
    assert (
        ranges["opt_momentum"] == search_space.AUTOTUNE["munet"]["opt_momentum"]
    )
    for record in records.values():
        h = record["hparams"]
        assert h["num_layers"] in (1, 2, 3)
        assert h["opt_lr"] in ranges["opt_lr"]
        assert h["opt_momentum"] in ranges["opt_momentum"]
    # Data hyperparameters mutate with the global µ 0.1 (not `_mu_`), and
    # not in a generation that starts in the seed phase.
    assert [mu for _, mu in data_calls] == [0.1] * len(generations)
    assert [m for m, _ in data_calls] == [not g[2] for g in generations]
    # Every visit starts with each seed once, by id descending, unmutated:
    # only new components train (a head, maybe a resized position
    # embedding), not even encoder_norm (spec §10).
    for loop in range(4):
        visit = [g for g in generations if g[0] == loop]
        seeds = sorted(visit[0][1], reverse=True)
        assert len(seeds) == (1 if loop == 0 else 2)  # The root, + a or b.
        children = [i for g in visit for i in g[3]]
        assert len(children) == 4
        for seed, child in zip(seeds, children, strict=False):
            record = records[child]
            assert record["origin_parent_id"] == seed
            assert all(
                k.startswith("ds_") for k in record["metrics"]["mutations"]
            )
            assert set(record["metrics"]["cloned"]) <= {
                "head",
                "posembed_input",
            }
        for child in children[len(seeds) :]:
            parent = records[records[child]["origin_parent_id"]]
            assert parent["task"] == records[child]["task"] or (
                parent["id"] in seeds
            )
    # Momentum is not carried and acceptance is strict (spec §10).
    assert not controller.trainer.inherit_momentum
    assert controller.trainer.strict_improvement
