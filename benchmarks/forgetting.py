"""Forgetting: sequential fine-tuning of one shared model against mu2keras.

Run from the repository root (2 cores, the DINOv2 root: about 25 minutes
per seed at budget 8, estimated from the quality runs, not measured;
`--root mu4`: the root system once per workdir, about 4 minutes, then a
few minutes per seed):

    .venv/bin/python -m benchmarks.forgetting --seeds 0
    .venv/bin/python -m benchmarks.forgetting --root mu4   # issue 8's
    .venv/bin/python -m benchmarks.forgetting --smoke   # CI: about a minute

The contrast the paper is about. Both start from the study's root (the
DINOv2 checkpoint; `--root mu4`: the promoted Fashion-MNIST ViT of
`study.root_system`) and learn the study's tasks in order
(`configs.study.tasks`):

* sequential fine-tuning: ONE shared backbone, every part trainable, and a
  new zero-initialised head per task; each task trains the backbone and
  its head with the mu2keras engine, for the budget of the study's
  finetune_all baseline at `--budget` (same defaults, N_v, N_e, batch and
  data pipeline). Earlier heads sit on a backbone that keeps changing;
* mu2keras: µ2Net (`study.grow("mu2net")`), whose tasks' paths are frozen
  once their task ends.

After every task, each task learned so far is tested on its whole test
split: accuracy, and a sha256 of its logits. mu2keras' predictions of a
task must be bit-identical after every later task (`bit_identical` per
task in the JSON); the script exits with status 1 if any is not.
Writes OUT/forgetting.json, .md and .png (accuracy against tasks learned;
`--root mu4`: forgetting_mu4.*, `--smoke`: forgetting_smoke.*).
"""

import hashlib
import sys
import time

import numpy as np

from benchmarks import study
from configs import study as study_config
from mu2keras import architecture
from mu2keras import experiment
from mu2keras import progress as progress_lib
from mu2keras import training
from mu2keras.evolution import method as method_lib
from mu2keras.storage import files as storage
from mu2keras.tasks import pipeline
from mu2keras.tasks import registry

NAME = "forgetting"
METHODS = ("sequential", "mu2keras")
TITLES = {
    "sequential": "Sequential fine-tuning (one shared backbone, a head "
    "per task)",
    "mu2keras": "mu2keras (µ2Net: a path per task, frozen once learned)",
}


def main(argv=None):
    args = _parser().parse_args(argv)
    seeds = args.seeds[:1] if args.smoke else args.seeds
    tasks = list(study_config.tasks(args.root, args.smoke))
    root_dir = study.root_system(args.workdir, args.smoke, args.root)
    name = study.output_name(NAME, args.root, args.smoke)
    base = storage.join(args.workdir, name)
    # What both methods share: the root, the smoke budget and the budget.
    setup = dict(
        root_dir=root_dir, smoke=args.smoke, root=args.root, budget=args.budget
    )
    runs = []
    for seed in seeds:
        run = {"seed": seed}
        run["sequential"] = sequential(seed, tasks, **setup)
        run["mu2keras"] = mu2keras(seed, base, **setup)
        runs.append(run)
        for method in METHODS:
            print(
                f"{NAME}: seed {seed}: {method} in "
                f"{run[method]['seconds']:.0f}s"
            )
    summary = {m: summarize([r[m] for r in runs], tasks) for m in METHODS}
    bit_identical = {t: summary["mu2keras"][t]["bit_identical"] for t in tasks}
    figures = {
        "smoke": args.smoke,
        "root": args.root,
        "budget": args.budget,
        "seeds": seeds,
        "tasks": tasks,
        "root_dir": root_dir,
        "runs": runs,
        "summary": summary,
        "bit_identical": bit_identical,
    }
    study.write_outputs(
        name,
        figures,
        markdown(summary, figures),
        _figure(summary, tasks),
        args.out,
    )
    if not all(bit_identical.values()):
        changed = [t for t, same in bit_identical.items() if not same]
        print(
            f"{NAME}: FAILED: mu2keras' predictions of {changed} changed "
            "after a later task.",
            file=sys.stderr,
        )
        return 1
    return 0


def _parser():
    parser = study.arg_parser(__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--budget",
        type=int,
        default=study_config.DEFAULT_BUDGET,
        help="µ2Net's candidates per task; sequential fine-tuning trains as "
        "many steps per task as the finetune_all baseline at that budget.",
    )
    return study.add_root_flag(parser)


# --- Testing a model on a task. ---


def test_predictions(model, task, image_size, batch_size):
    """Accuracy on `task`'s whole test split and a sha256 of the logits.

    Args:
        model: callable images -> logits (a `Path`, or a forward function).
        task: `Task`.
        image_size: int. The model's input size.
        batch_size: int. Padding rows (weight 0) are dropped.

    Returns:
        `{"accuracy": float, "digest": hex str}`.
    """
    data = pipeline.test_dataset(task, image_size, batch_size)
    sha256, correct, total = hashlib.sha256(), 0.0, 0.0
    for images, labels, weights in data.dataset:
        keep = weights.numpy() > 0
        logits = np.asarray(model(images), dtype=np.float32)[keep]
        sha256.update(np.ascontiguousarray(logits).tobytes())
        correct += float(np.sum(logits.argmax(-1) == labels.numpy()[keep]))
        total += float(keep.sum())
    return {"accuracy": correct / total, "digest": sha256.hexdigest()}


def _after(history, seen):
    """Appends one test per task in `seen` (name -> test fn) to history."""
    for name, test in seen.items():
        history.setdefault(name, []).append(test())


# --- Sequential fine-tuning. ---


def sequential(seed, tasks, root_dir, smoke, root, budget):
    """Fine-tunes one shared model over `tasks` in order.

    Returns:
        `{"tests": {task: [test after its task, after the next, ...]},
        "steps": {task: steps}, "seconds": float}`.
    """
    start = time.perf_counter()
    c = study.config(
        "grow", "finetune_all", seed, smoke, root_dir, root, budget
    )
    defaults, _ = experiment.check_config(c)
    # A fresh copy of the root's layers (the checkpoint's, or the promoted
    # root's): nothing else is touched.
    root, _ = experiment.build_root(c, defaults)
    backbone = [
        layer
        for name, layer in root.components.items()
        if name != architecture.HEAD
    ]
    trainer = training.Trainer(
        jit_compile=c.jit_compile,
        fused=c.fused,
        momentum_dtype=c.momentum_dtype,
    )
    heads, seen, tests, steps = {}, {}, {}, {}
    for k, name in enumerate(tasks):
        task = registry.get_task(name)
        heads[name] = architecture.new_component(
            architecture.HEAD,
            root.variant,
            root.image_size,
            num_classes=task.num_classes,
            seed=seed,
        )
        layers = backbone + [heads[name]]
        steps[name] = _train(trainer, c, defaults, task, layers, seed + k)
        seen[name] = _tester(layers, task, root.image_size, c.batch_size)
        _after(tests, seen)
    return {
        "tests": tests,
        "steps": steps,
        "seconds": time.perf_counter() - start,
    }


def _tester(layers, task, image_size, batch_size):
    # `layers` is this task's head on the shared (still changing) backbone.
    def model(images):
        return architecture.forward(layers, images)

    return lambda: test_predictions(model, task, image_size, batch_size)


def _train(trainer, c, defaults, task, layers, seed):
    """Trains every layer for the finetune_all baseline's budget.

    As the controller's for a baseline (`method.training_budget`): one
    candidate, N_v steps between validations, N_e × the candidates µ2Net
    trains per task validations.

    Returns:
        The steps trained.
    """
    method = method_lib.parse_method(c.method, defaults["num_layers"])
    n_v, n_e = method_lib.training_budget(c, method, task.num_train_examples)
    train_ds = pipeline.train_dataset(
        task, defaults, c.batch_size, seed, num_steps=n_v * n_e
    )
    val = pipeline.validation_dataset(
        task, defaults["ds_image_size"], c.batch_size, c.max_validation_examples
    )
    candidate = training.Candidate(
        layers, [True] * len(layers), defaults, name=f"sequential {task.name}"
    )
    # The best validation's weights are left in the layers, as the
    # baseline keeps its best evaluation.
    (result,) = trainer.train(
        [candidate], train_ds, val.dataset, n_v, n_e, val.num_batches
    )
    return len(result.losses)


# --- mu2keras. ---


class TestAfterTask(progress_lib.Progress):
    """Tests every finished task's best path after each task ends."""

    def __init__(self):
        self.tests = {}

    def task_done(self, controller, task, best):
        pop = controller.population
        batch_size = controller.config.batch_size

        def tester(name):
            path = pop.best_path(name)
            return lambda: test_predictions(
                path, controller.task(name), path.image_size, batch_size
            )

        _after(self.tests, {name: tester(name) for name in pop.tasks})


def mu2keras(seed, base, root_dir, smoke, root, budget):
    """Grows the µ2Net system, testing every task after each task."""
    tracker = TestAfterTask()
    population, seconds = study.grow(
        "mu2net",
        seed,
        base,
        root_dir,
        smoke,
        root=root,
        budget=budget,
        progress=tracker,
    )
    quality = {
        t: population.best_path(t).metrics["test_quality"]
        for t in population.tasks
    }
    return {"tests": tracker.tests, "test_quality": quality, "seconds": seconds}


# --- Summary, table and figure. ---


def summarize(runs, tasks):
    """Per task: test accuracy (%) after it and every later task, over
    the runs (seeds); the drop (first − last); and whether its logits
    stayed bit-identical in every run."""
    summary = {}
    for task in tasks:
        tests = [run["tests"][task] for run in runs]
        accuracy = 100 * np.array([[t["accuracy"] for t in ts] for ts in tests])
        summary[task] = {
            "after": stats_columns(accuracy),
            "drop": study.mean_std(accuracy[:, 0] - accuracy[:, -1]),
            "bit_identical": all(
                len({t["digest"] for t in ts}) == 1 for ts in tests
            ),
        }
    return summary


def stats_columns(values):
    return [study.mean_std(values[:, k]) for k in range(values.shape[1])]


def _cell(s):
    return f"{s['mean']:.2f}" + (f" ± {s['std']:.2f}" if s["std"] else "")


def markdown(summary, figures):
    tasks = figures["tasks"]
    short = [t.split("/")[-1] for t in tasks]
    smoke = " (smoke: the numbers mean nothing)" if figures["smoke"] else ""
    lines = [f"# Forgetting{smoke}", ""]
    for method in METHODS:
        head = ["Task"] + [f"after {s}" for s in short] + ["Drop"]
        head += ["Bit-identical logits"]
        lines += [
            f"## {TITLES[method]}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for i, (task, name) in enumerate(zip(tasks, short, strict=True)):
            row = summary[method][task]
            cells = [name] + ["—"] * i + [_cell(s) for s in row["after"]]
            cells += [_cell(row["drop"])]
            cells += ["yes" if row["bit_identical"] else "no"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    same = all(figures["bit_identical"].values())
    lines += [
        f"Test accuracy (%) of each task on its whole test split after each "
        f"later task; mean ± std (ddof 1) over seeds {figures['seeds']}. "
        "Drop: after its own task minus after the last. Bit-identical "
        "logits: the sha256 of the task's test logits was the same after "
        "every later task (in every seed).",
        "",
        "mu2keras' predictions "
        + (
            "are bit-identical after every later task: **met**."
            if same
            else "changed after a later task: **missed**."
        ),
    ]
    return "\n".join(lines) + "\n"


def _figure(summary, tasks):
    """Each task's accuracy against the tasks learned, both methods."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, panels = plt.subplots(1, len(METHODS), figsize=(10, 4), sharey=True)
    for axes, method in zip(panels, METHODS, strict=True):
        for i, task in enumerate(tasks):
            after = summary[method][task]["after"]
            axes.errorbar(
                range(i + 1, len(tasks) + 1),
                [s["mean"] for s in after],
                yerr=[s["std"] for s in after],
                marker="o",
                capsize=3,
                label=task.split("/")[-1],
            )
        axes.set_title(TITLES[method].split(" (")[0])
        axes.set_xlabel("Tasks learned (the last one)")
        axes.set_xticks(
            range(1, len(tasks) + 1), [t.split("/")[-1] for t in tasks]
        )
        axes.grid(True, alpha=0.3)
    panels[0].set_ylabel("Test accuracy (%)")
    panels[-1].legend(title="Task", fontsize=8)
    return figure


if __name__ == "__main__":
    raise SystemExit(main())
