"""Quality: µ2Net against its baselines at equal training steps per task.

Run from the repository root (2 shared cores, the DINOv2 root: 6 to
14.5 minutes per 4-task system at budget 8, measured; docs/benchmarks.md):

    .venv/bin/python -m benchmarks.quality --budgets 8 --seeds 0
    .venv/bin/python -m benchmarks.quality --budgets 4,8,16 \
        --methods mu2net,finetune_all
    .venv/bin/python -m benchmarks.quality --root mu4   # issue 8's figures
    .venv/bin/python -m benchmarks.quality --smoke      # CI: about a minute

Every method of `configs.study.methods(root)` grows a system over the
study's embedded tasks (DINOv2 root: Fashion-MNIST, MNIST, digits,
textures) from the same root ("scratch": an independent model per task
from a random root of the same architecture), with the same defaults and
the same training steps per task, for each budget (`--budgets`: µ2Net's
candidates per task; a baseline trains one candidate for as many steps)
and seed. `mu2net_alone` grows, per task, a µ2Net system with that task
only, from the same root at the same budget: forward transfer is each
task's accuracy in the µ2Net system minus its accuracy alone.

Per method and budget, mean ± std over the seeds: the mean and per-task
test accuracy of the tasks' best paths, their accounted parameters (spec
§1.4), the parameters each task owns alone, the system's parameters, the
training steps per task, the largest forgetting in the system's measured
accuracy matrix and the wall time; then forward transfer, µ2Net's accuracy
matrix, and the verdict on the goal per budget: µ2Net ≥ +1.0 point of mean
test accuracy over finetune_all with ≤ 0.5 × its accounted parameters per
task.

Runs are resumable: each finished (method, budget, seed) is kept as
WORKDIR/quality/runs/RUN.json and reused while its config is unchanged;
`--rerun` grows them again. Writes OUT/quality.json (every run's raw
figures), .md and .png; `--root mu4` writes quality_mu4.*, `--smoke`
quality_smoke.* (WORKDIR/quality_smoke).
"""

import hashlib
import json
import time

import numpy as np

from benchmarks import quality_report
from benchmarks import quality_summary
from benchmarks import study
from configs import study as study_config
from mu2keras import progress as progress_lib
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib
from mu2keras.system.component import ROOT_TASK
from mu2keras.tasks import registry

NAME = "quality"
ALONE = "mu2net_alone"
# One of each kind of system, to stay near a minute (per root).
SMOKE_METHODS = {
    "dinov2": ("mu2net", "finetune_all", "freeze_bottom:11", "scratch"),
    "mu4": ("mu2net", "finetune_all", "freeze_bottom:1", "scratch"),
}
SMOKE_BUDGET = 2
# Kept for callers of the earlier module.
summarize = quality_summary.summarize
goal_verdict = quality_summary.goal_verdict
GOAL_POINTS = quality_summary.GOAL_POINTS
GOAL_RATIO = quality_summary.GOAL_RATIO


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    known = list(study_config.methods(args.root)) + [ALONE]
    smoke_methods = SMOKE_METHODS[args.root]
    methods = args.methods or (smoke_methods if args.smoke else known)
    unknown = sorted(set(methods) - set(known))
    if unknown:
        parser.error(f"unknown --methods {unknown}; known: {','.join(known)}")
    seeds = args.seeds[:1] if args.smoke else args.seeds
    budgets = [SMOKE_BUDGET] if args.smoke else args.budgets
    root_dir = study.root_system(args.workdir, args.smoke, args.root)
    name = study.output_name(NAME, args.root, args.smoke)
    base = storage.join(args.workdir, name)
    extra = _extra(args)
    name += suffix(extra)  # Kept beside the default's runs, written apart.
    context = dict(
        base=base,
        root_dir=root_dir,
        smoke=args.smoke,
        root=args.root,
        rerun=args.rerun,
        kept_only=args.kept_only,
        lr=args.lr,
        extra=extra,
    )
    runs, missing = [], []
    for budget in budgets:
        for seed in seeds:
            for method in methods:
                record = _run(method, budget, seed, **context)
                if record is None:
                    missing.append({"method": method, "budget": budget})
                    missing[-1]["seed"] = seed
                else:
                    runs.append(record)
    figures = _figures(args, methods, seeds, budgets, root_dir, runs, extra)
    figures["not_run"] = missing
    study.write_outputs(
        name,
        figures,
        quality_report.markdown(figures),
        quality_report.figure(figures),
        args.out,
    )
    return 0


def _figures(args, methods, seeds, budgets, root_dir, runs, extra):
    tasks = list(study_config.tasks(args.root, args.smoke))
    summary, goal, forward = {}, {}, {}
    for budget in budgets:
        rows = {}
        for method in methods:
            mine = [r for r in runs if r["method"] == method]
            mine = [r for r in mine if r["budget"] == budget]
            if mine:
                rows[method] = quality_summary.summarize(mine)
        summary[str(budget)] = rows
        goal[str(budget)] = quality_summary.goal_verdict(rows)
        forward[str(budget)] = quality_summary.forward_transfer(rows)
    return {
        "smoke": args.smoke,
        "root": args.root,
        "methods": methods,
        "seeds": seeds,
        "budgets": budgets,
        "tasks": tasks,
        "root_dir": root_dir,
        "budget_config": _budget_config(
            args.root, args.smoke, budgets[0], extra
        ),
        "test_examples": {
            t: registry.get_task(t).num_examples("test") for t in tasks
        },
        "runs": runs,
        "summary": summary,
        "goal": goal,
        "forward_transfer": forward,
    }


def _budget_config(root, smoke, budget, extra):
    c = study.config("grow", "mu2net", 0, smoke, "", root, budget, extra=extra)
    keys = (
        "batch_size",
        "max_train_examples_between_validations",
        "num_validations",
        "max_validation_examples",
        "num_task_iters",
    )
    return {k: c[k] for k in keys} | {"lr": c.hparams.opt_lr}


def _parser():
    parser = study.add_root_flag(study.arg_parser(__doc__.split("\n", 1)[0]))
    parser.add_argument(
        "--methods",
        default=None,
        type=lambda text: [m for m in text.split(",") if m],
        help="Comma-separated subset of the root's methods and "
        f"{ALONE} (default: all; with --smoke: mu2net, finetune_all, a "
        "freeze_bottom and scratch).",
    )
    parser.add_argument(
        "--budgets",
        default=[study_config.DEFAULT_BUDGET],
        type=lambda text: [int(b) for b in text.split(",") if b],
        help="Comma-separated µ2Net candidates per task (the baselines train "
        f"as many steps); the study's are {study_config.BUDGET_SIZES}.",
    )
    parser.add_argument(
        "--lr",
        default=None,
        type=float,
        help="Every method's learning rate (default: each its own, "
        "configs/study.py's METHOD_LR); runs are kept per learning rate.",
    )
    parser.add_argument(
        "--val",
        default=None,
        type=int,
        help="Validate on up to this many images (default: configs/study.py's "
        "cap, 256 on the DINOv2 root); runs are kept per value and the "
        "outputs are NAME_valN.*.",
    )
    parser.add_argument(
        "--interval",
        default=None,
        type=int,
        help="Train on this many examples between validations (default: "
        "configs/study.py's, 512 on the DINOv2 root: 4 steps of 128); runs "
        "are kept per value and the outputs are NAME_intervalN.*.",
    )
    parser.add_argument(
        "--kept_only",
        action="store_true",
        help="Grow nothing: report the runs kept under WORKDIR and list "
        "the others as not run.",
    )
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="Grow every run again, even those kept under WORKDIR.",
    )
    return parser


# --- One run: a method, a budget and a seed. ---


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


def _run(method, budget, seed, **context):
    """The run's record; `mu2net_alone`: one single-task run per task,
    merged into one record (each kept on its own)."""
    if method != ALONE:
        return _kept_or_grown(method, budget, seed, None, **context)
    parts = [
        _kept_or_grown(method, budget, seed, task, **context)
        for task in study_config.tasks(context["root"], context["smoke"])
    ]
    return None if None in parts else merge_alone(parts)


def _kept_or_grown(
    method, budget, seed, task, *, base, rerun, kept_only, **context
):
    """A record read from `base/runs`, or grown there (and kept); None
    with `kept_only` when none is kept."""
    grown = "mu2net" if method == ALONE else method
    name = method if task is None else f"{method}-{task.split('/')[-1]}"
    c = _config(grown, budget, seed, task, **context)
    fingerprint = _fingerprint(c, context["root_dir"])
    lr = c.hparams.opt_lr
    name += f"_lr{lr:g}"  # Runs at other learning rates are kept apart.
    name += suffix(context["extra"])
    run_name = study.run_name(name, seed, budget)
    path = storage.join(base, "runs", run_name + ".json")
    if not rerun and storage.exists(path):
        record = json.loads(storage.read(path))
        if record.get("fingerprint") == fingerprint:
            print(f"{NAME}: {name} budget {budget} seed {seed}: kept")
            return record
    if kept_only:
        print(f"{NAME}: {name} budget {budget} seed {seed}: not run")
        return None
    counter = StepCounter()
    tasks = None if task is None else {task: registry.get_task(task)}
    population, seconds = study.grow(
        grown,
        seed,
        base,
        context["root_dir"],
        context["smoke"],
        tasks=tasks,
        root=context["root"],
        budget=budget,
        name=name,
        lr=lr,
        extra=context["extra"],
        progress=counter,
    )
    directory = storage.join(base, run_name)
    record = dict(
        run_record(population, counter),
        accuracy_matrix=study.accuracy_matrix(directory),
        method=method,
        budget=budget,
        seed=seed,
        lr=lr,
        seconds=seconds,
        fingerprint=fingerprint,
    )
    _write_json(path, record)
    mean = np.mean([t["test_accuracy"] for t in record["tasks"].values()])
    print(
        f"{NAME}: {name} budget {budget} seed {seed}: {100 * mean:.2f}% in "
        f"{seconds:.0f}s"
    )
    return record


def merge_alone(parts):
    """One record of single-task systems: their tasks side by side, their
    sizes and times summed; no accuracy matrix (one task each)."""
    tasks, seconds = {}, 0.0
    system = dict.fromkeys(parts[0]["system"], 0)
    for part in parts:
        tasks.update(part["tasks"])
        seconds += part["seconds"]
        for key in system:
            system[key] += part["system"][key]
    # Every system shares the same root: count its parameters once.
    system["root_params"] = parts[0]["system"]["root_params"]
    merged = dict(parts[0], tasks=tasks, system=system, seconds=seconds)
    return dict(merged, accuracy_matrix=[])


def _config(method, budget, seed, task, *, root_dir, smoke, root, lr, extra):
    """The config a run grows."""
    stage = "scratch" if method == "scratch" else "grow"
    method = "finetune_all" if method == "scratch" else method
    c = study.config(
        stage, method, seed, smoke, root_dir, root, budget, lr, extra
    )
    c.tasks = [task] if task else list(study_config.tasks(root, smoke))
    return c


def _extra(args):
    """The configs/study.py arguments the flags set ({"val": 1024})."""
    extra = {"val": args.val, "interval": args.interval}
    return {key: value for key, value in extra.items() if value}


def suffix(extra):
    """The name suffix of runs and outputs with configs/study.py arguments
    `extra` ({"val": 1024} -> "_val1024")."""
    return "".join(f"_{key}{value}" for key, value in extra.items())


def _fingerprint(c, root_dir):
    """Identifies a run's inputs: its config and, for a promoted root,
    the root's state."""
    text = study.config_text(c)
    if c.root.promote_from:
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


if __name__ == "__main__":
    raise SystemExit(main())
