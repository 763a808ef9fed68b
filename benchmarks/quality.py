"""Quality: µ2Net against its baselines at equal training steps per task.

Run from the repository root (2 cores: the root system, about 4 minutes,
then 1 to 3 minutes per method and seed; 7 methods × 3 seeds):

    .venv/bin/python -m benchmarks.quality
    .venv/bin/python -m benchmarks.quality --methods mu2net,finetune_all
    .venv/bin/python -m benchmarks.quality --smoke   # CI: about a minute

Every method of `configs.study.METHODS` grows a system over the study's
embedded tasks (MNIST, digits, textures) from the same promoted root (the
Fashion-MNIST ViT of `study.root_system`; "scratch": an independent model
per task from a random root), with the same defaults and the same training
steps per task, for each seed. The table gives, per method, mean ± std over
the seeds of: the mean and per-task test accuracy of the tasks' best
paths, their accounted parameters (spec §1.4), the parameters each task
owns alone, the system's parameters, the training steps per task and the
wall time; then the verdict on the goal: µ2Net ≥ +1.0 point of mean test
accuracy over finetune_all with ≤ 0.5 × its accounted parameters per task.

Runs are resumable: each finished (method, seed) is kept as
WORKDIR/quality/runs/RUN.json and reused while its config and root are
unchanged; after a code change, `--rerun` grows them again. Writes
OUT/quality.json (every run's raw figures), .md and .png (accuracy against
parameters); `--smoke` writes quality_smoke.* and uses WORKDIR/
quality_smoke.
"""

import hashlib
import json
import time

import numpy as np

from benchmarks import quality_report
from benchmarks import study
from configs import study as study_config
from mu2keras import progress as progress_lib
from mu2keras import state as state_lib
from mu2keras import storage
from mu2keras.component import ROOT_TASK
from mu2keras.tasks import registry

NAME = "quality"
# One of each kind of system, to stay near a minute.
SMOKE_METHODS = ("mu2net", "finetune_all", "freeze_bottom:1", "scratch")
METHODS_TEXT = ",".join(study_config.METHODS)
GOAL_POINTS = 1.0  # µ2Net's mean test accuracy over finetune_all's.
GOAL_RATIO = 0.5  # µ2Net's accounted params per task / finetune_all's.


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    methods = args.methods or (SMOKE_METHODS if args.smoke else None)
    methods = list(methods or study_config.METHODS)
    unknown = sorted(set(methods) - set(study_config.METHODS))
    if unknown:
        parser.error(f"unknown --methods {unknown}; known: {METHODS_TEXT}")
    seeds = args.seeds[:1] if args.smoke else args.seeds
    root_dir = study.root_system(args.workdir, args.smoke)
    base = storage.join(args.workdir, NAME + ("_smoke" if args.smoke else ""))
    runs = [
        _run(method, seed, base, root_dir, args.smoke, args.rerun)
        for seed in seeds
        for method in methods
    ]
    rows = {
        m: summarize([r for r in runs if r["method"] == m]) for m in methods
    }
    verdict = goal_verdict(rows)
    figures = {
        "smoke": args.smoke,
        "methods": methods,
        "seeds": seeds,
        "tasks": list(study_config.TASKS),
        "root_dir": root_dir,
        "test_examples": {
            t: registry.get_task(t).num_examples("test")
            for t in study_config.TASKS
        },
        "runs": runs,
        "summary": rows,
        "goal": verdict,
    }
    study.write_outputs(
        NAME + ("_smoke" if args.smoke else ""),
        figures,
        quality_report.markdown(rows, verdict, figures),
        quality_report.figure(rows),
        args.out,
    )
    return 0


def _parser():
    parser = study.arg_parser(__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--methods",
        default=None,
        type=lambda text: [m for m in text.split(",") if m],
        help=f"Comma-separated subset of {METHODS_TEXT} (default: all; "
        f"with --smoke: {','.join(SMOKE_METHODS)}).",
    )
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="Grow every run again, even those kept under WORKDIR.",
    )
    return parser


# --- One run: a method and a seed. ---


class StepCounter(progress_lib.Progress):
    """Counts the steps and candidates trained per task, and its time."""

    def __init__(self):
        self.steps, self.candidates, self.seconds = {}, {}, {}
        self._last = None

    def run_started(self, controller):
        self._last = time.perf_counter()

    def generation_done(self, controller, task, children, results):
        # A result's losses hold one entry per step trained.
        steps = sum(len(r.losses) for r in results)
        self.steps[task] = self.steps.get(task, 0) + steps
        self.candidates[task] = self.candidates.get(task, 0) + len(results)

    def task_done(self, controller, task, best):
        now = time.perf_counter()
        self.seconds[task] = self.seconds.get(task, 0.0) + now - self._last
        self._last = now


def _run(method, seed, base, root_dir, smoke, rerun):
    """The run's record: read from `base/runs` or grown (and kept)."""
    fingerprint = _fingerprint(method, seed, root_dir, smoke)
    path = storage.join(base, "runs", study.run_name(method, seed) + ".json")
    if not rerun and storage.exists(path):
        record = json.loads(storage.read(path))
        if record.get("fingerprint") == fingerprint:
            print(f"{NAME}: {method} seed {seed}: kept from {path}")
            return record
    counter = StepCounter()
    population, seconds = study.grow(
        method, seed, base, root_dir, smoke, progress=counter
    )
    record = dict(
        run_record(population, counter),
        method=method,
        seed=seed,
        seconds=seconds,
        fingerprint=fingerprint,
    )
    _write_json(path, record)
    mean = np.mean([t["test_accuracy"] for t in record["tasks"].values()])
    print(f"{NAME}: {method} seed {seed}: {100 * mean:.2f}% in {seconds:.0f}s")
    return record


def _fingerprint(method, seed, root_dir, smoke):
    """Identifies a run's inputs: its config and the root's state."""
    stage = "scratch" if method == "scratch" else "grow"
    c = study.config(stage, method, seed, smoke, root_dir)
    text = json.dumps(c.to_dict(), sort_keys=True, default=str)
    if stage == "grow":
        manifest = storage.join(
            state_lib.latest_state(root_dir), "MANIFEST.json"
        )
        text += storage.digest(manifest)[1]
    return hashlib.sha256(text.encode()).hexdigest()


def _write_json(path, data):
    # Written aside then renamed: a crash never leaves half a record.
    storage.makedirs(storage.split(path)[0])
    tmp = storage.temp_path(path)  # Not path + ".tmp": see temp_path.
    storage.write(tmp, json.dumps(data, indent=1))
    storage.rename(tmp, path, overwrite=True)


def run_record(population, counter):
    """Per-task figures of the grown system's best paths, and its size.

    Per task: `test_accuracy` (the controller's `test_quality`, measured
    once when the task ended), `accounted_params` (spec §1.4: each
    component's parameters divided by the tasks whose paths use it, the
    root pseudo-task not counted, in the final system), `own_params` (the
    parameters of the components no other task and not the root uses:
    what the task added), the path's `num_params`, and the `train_steps`
    and `candidates` trained for the task.
    """
    tasks = {}
    for task in population.tasks:
        path = population.best_path(task)
        tasks[task] = {
            "test_accuracy": float(path.metrics["test_quality"]),
            "validation_accuracy": float(path.metrics["quality"]),
            "accounted_params": float(path.accounted_params()),
            "own_params": sum(
                c.num_params for c in path.components if set(c.locks) == {task}
            ),
            "num_params": path.num_params,
            "num_layers": path.num_layers,
            "adapter_layers": path.hparams.get("adapter_layers", ""),
            # What the path trained (cloned or new); the rest is shared.
            "trained_components": path.metrics.get("cloned", []),
            "train_steps": counter.steps.get(task, 0),
            "candidates": counter.candidates.get(task, 0),
            "seconds": counter.seconds.get(task, 0.0),
        }
    return {"tasks": tasks, "system": system_params(population)}


def system_params(population):
    """The system's size: unique parameters of the tasks' best paths.

    `params` counts each component the tasks use once, the shared root
    parts included; `added_params` leaves out the root's (for "scratch",
    whose random root no task uses, both are its models' sum);
    `root_params` is the root path's; `unique_params` is
    `Population.num_unique_params()` (the root path included, used or not).
    """
    used = {}
    for task in population.tasks:
        for component in population.best_path(task).components:
            used[component.id] = component.num_params
    root = population.paths[ROOT_TASK][0]
    root_ids = {c.id for c in root.components}
    return {
        "params": sum(used.values()),
        "added_params": sum(n for i, n in used.items() if i not in root_ids),
        "root_params": root.num_params,
        "unique_params": population.num_unique_params(),
    }


# --- Summary over seeds. ---


def stats(values):
    """`study.mean_std` and the number of values."""
    return dict(study.mean_std(values), n=len(values))


def summarize(runs):
    """A method's figures, mean ± std over its runs (seeds)."""
    runs = sorted(runs, key=lambda r: r["seed"])
    tasks = list(runs[0]["tasks"])

    def per_task(key):
        return np.array([[r["tasks"][t][key] for t in tasks] for r in runs])

    accuracy = 100 * per_task("test_accuracy")
    system = [r["system"] for r in runs]
    return {
        "seeds": [r["seed"] for r in runs],
        "mean_accuracy": stats(accuracy.mean(axis=1)),
        "task_accuracy": {
            t: stats(accuracy[:, i]) for i, t in enumerate(tasks)
        },
        "accounted_params": stats(per_task("accounted_params").mean(axis=1)),
        "own_params": stats(per_task("own_params").mean(axis=1)),
        "system_params": stats([s["params"] for s in system]),
        "added_params": stats([s["added_params"] for s in system]),
        "train_steps": {
            t: stats(per_task("train_steps")[:, i]) for i, t in enumerate(tasks)
        },
        "seconds": stats([r["seconds"] for r in runs]),
        # Paired by seed, for the verdict.
        "run_accuracy": {
            r["seed"]: float(a)
            for r, a in zip(runs, accuracy.mean(axis=1), strict=True)
        },
    }


def goal_verdict(rows, mu2net="mu2net", baseline="finetune_all"):
    """The goal, µ2Net against finetune_all; None without both."""
    if mu2net not in rows or baseline not in rows:
        return None
    mu, ft = rows[mu2net], rows[baseline]
    seeds = sorted(set(mu["run_accuracy"]) & set(ft["run_accuracy"]))
    delta = stats(
        [mu["run_accuracy"][s] - ft["run_accuracy"][s] for s in seeds]
    )
    ratio = mu["accounted_params"]["mean"] / ft["accounted_params"]["mean"]
    accuracy_met = delta["mean"] >= GOAL_POINTS
    params_met = ratio <= GOAL_RATIO
    return {
        "delta_points": delta,
        "params_ratio": ratio,
        "accuracy_met": bool(accuracy_met),
        "params_met": bool(params_met),
        "met": bool(accuracy_met and params_met),
    }


if __name__ == "__main__":
    raise SystemExit(main())
