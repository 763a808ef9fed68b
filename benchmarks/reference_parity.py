"""Parity with the reference notebook, mu2keras' side (issue 20, item 5).

Run from the repository root (2 shared cores, loaded: 18 to 26 minutes a
seed):

    .venv/bin/python -m benchmarks.reference_parity --seeds 0,1,2
    .venv/bin/python -m benchmarks.reference_parity \
        --reference DIR   # beside the notebook's seed{N}.json files
    .venv/bin/python -m benchmarks.reference_parity --seeds 0,1,2 \
        --loops 1 --reference DIR   # the wall time side by side
    .venv/bin/python -m benchmarks.reference_parity --seeds 0,1,2 \
        --compute_dtype bfloat16   # mu2keras in bfloat16, kept apart
    .venv/bin/python -m benchmarks.reference_parity --smoke  # CI: seconds

The setting is spec §8.1's "ViT tiny 0 layers" as the official notebook
runs it on one CPU device (configs/ti0_cmaterdb.py with its tasks
replaced): a random ViT-Ti/16 root without blocks, `num_layers` 0..3,
auto-tune v2, batch 512, 32 candidates per task (one per generation),
2 task iterations, over `embedded/mnist`, `embedded/digits` and the
private `fashion6k` (the first 6,000 training images of
`embedded/fashion_mnist`, carved by `from_arrays`' default rule), in that
order. Each seed's run goes through `Controller.create(...).run()`.

Per task and seed: the best path's test accuracy (whole test split),
its accounted parameters (spec §1.4), its depth, the candidates before
the first block (`FIRST_BLOCK`), the wall time per candidate, and whether
the task ended without a block; means ± std over the seeds, and the goal
of issue 20 against the reference. The reference's figures are read from
`--reference DIR` (`seed{N}.json`, `read_reference`: the notebook run as
a script on the same splits); without any, the issue's recorded figure
stands in, labelled as such; only complete files enter the means and the
goal.

With `--loops L` only the first L task visits are grown (one iteration),
and their seconds per candidate are compared with the reference script's
run of the same visits (its seed{N}.json with `generation_seconds` and
`depths_made` per task) depth by depth: reference_parity_wall.*.

Each finished seed is kept as WORKDIR/runs/seed{N}.json and reused while
its config is unchanged (`--rerun` grows it again). Writes
OUT/reference_parity.json and .md (`--smoke`: reference_parity_smoke.*;
`--compute_dtype bfloat16`: reference_parity_bfloat16.*, runs
seed{N}_bfloat16.json); the tables are benchmarks/reference_parity_report.py's.
"""

import hashlib
import json
import time

import numpy as np

from benchmarks import quality
from benchmarks import reference_parity_report as report
from benchmarks import study
from configs import ti0_cmaterdb
from mu2keras import architecture
from mu2keras.storage import files as storage
from mu2keras.tasks import from_arrays
from mu2keras.tasks import registry

NAME = "reference_parity"
WORKDIR = "/tmp/mu2keras/reference_parity"
TASKS = ("embedded/mnist", "embedded/digits", "private:fashion6k")
FASHION = "embedded/fashion_mnist"
FASHION_IMAGES = 6_000
FIRST_BLOCK = (
    "candidates of the task made (in order, over both iterations) before "
    "the first one with at least 1 encoder block that was accepted into "
    "its pool; null when none was"
)
WALL = (
    "wall time of the task's generations (from the previous generation's "
    "or task's end to this one's: mutation, data, training, validation; "
    "not the test or the saved state) divided by their candidates"
)
REF_WALL = (
    "the reference script's wall time of each of the task's generations "
    "(sampling the data hyperparameters and the candidate, the input "
    "pipeline, compiling, training, validation, clearing JAX's caches), "
    "one candidate each, averaged"
)
# Issue 20's recorded figure: the official notebook on this CPU, 1 seed,
# its own splits of the same data (TFDS).
REFERENCE_FIELDS = {
    "test_accuracy": (float, int),
    "retained_depth": (int,),
    "candidates_before_first_block": (int, type(None)),
    "candidates": (int,),
    "accounted_params": (int, float, type(None)),
}


def short(task):
    """ "embedded/mnist" -> "mnist", "private:fashion6k" -> "fashion6k"."""
    return task.split(":")[-1].split("/")[-1]


def make_tasks(smoke=False):
    """The private Fashion-MNIST task, keyed by its name."""
    images, labels = registry.get_task(FASHION).arrays("train")
    n = FASHION_IMAGES // 10 if smoke else FASHION_IMAGES
    task = from_arrays(TASKS[2], images[:n], labels[:n], num_classes=10)
    return {task.name: task}


def config(seed, smoke=False, loops=0, compute_dtype="float32"):
    """The run's config: configs/ti0_cmaterdb.py with the issue's tasks;
    with `loops`, only the first `loops` task visits (one iteration)."""
    c = ti0_cmaterdb.get_config("autotune=v2" + (",runlocal" * smoke))
    c.tasks = list(TASKS)
    c.seed = seed
    c.compute_dtype = compute_dtype
    if loops:
        c.tasks = c.tasks[:loops]
        c.num_task_iters = 1
    if smoke:  # 2 candidates per task, 1 iteration, a tiny root.
        c.num_samples_per_task = 2
        c.num_candidates = 1
        c.batch_size = 16
        c.max_train_examples_between_validations = 32
        c.max_validation_examples = 32
        c.hparams.ds_image_size = 16
    return c


class Counter(quality.StepCounter):
    """`quality.StepCounter`, and one record per candidate."""

    def __init__(self):
        super().__init__()
        self.records = []
        self._mark = None

    def run_started(self, controller):
        super().run_started(controller)
        self._mark = time.perf_counter()

    def generation_done(self, controller, task, children, results):
        super().generation_done(controller, task, children, results)
        now = time.perf_counter()
        seconds = (now - self._mark) / max(len(children), 1)
        self._mark = now
        for child, result in zip(children, results, strict=True):
            self.records.append(
                {
                    "task": task,
                    "loop": controller.loop,
                    "generation": controller.generation,
                    "num_layers": child.num_layers,
                    "accepted": bool(result.improved),
                    "quality": float(result.quality),
                    "seconds": seconds,
                }
            )

    def task_done(self, controller, task, best):
        super().task_done(controller, task, best)
        self._mark = time.perf_counter()
        print(
            f"{NAME}: {task} done (loop {controller.loop}): best depth "
            f"{best.num_layers}, test {best.metrics['test_quality']:.3f}",
            flush=True,
        )


def first_block(records):
    """Candidates before the first accepted one with a block (`FIRST_BLOCK`)
    and before the first one made with a block (None: none)."""
    accepted = made = None
    for i, r in enumerate(records):
        if made is None and r["num_layers"] >= 1:
            made = i
        if accepted is None and r["num_layers"] >= 1 and r["accepted"]:
            accepted = i
    return accepted, made


def seed_record(population, counter, seconds):
    """Per-task figures of one seed's grown system."""
    grown = quality.run_record(population, counter)
    tasks = {}
    for task, figures in grown["tasks"].items():
        records = [r for r in counter.records if r["task"] == task]
        accepted, made = first_block(records)
        tasks[short(task)] = {
            "test_accuracy": figures["test_accuracy"],
            "accounted_params": figures["accounted_params"],
            "retained_depth": figures["num_layers"],
            "without_block": figures["num_layers"] == 0,
            "candidates_before_first_block": accepted,
            "candidates_before_first_block_made": made,
            "candidates": len(records),
            "accepted": sum(r["accepted"] for r in records),
            "wall_per_candidate_s": float(
                np.mean([r["seconds"] for r in records])
            ),
            "depths_made": [r["num_layers"] for r in records],
            "seconds_made": [r["seconds"] for r in records],
        }
    return {"tasks": tasks, "system": grown["system"], "seconds": seconds}


def fingerprint(c, smoke):
    text = study.config_text(c)
    return hashlib.sha256(f"{text}{smoke}".encode()).hexdigest()


def suffix(compute_dtype):
    """The name suffix of runs and outputs in `compute_dtype`."""
    return "" if compute_dtype == "float32" else f"_{compute_dtype}"


def run_seed(
    seed, workdir, smoke=False, rerun=False, loops=0, compute_dtype="float32"
):
    """One seed's record: kept in WORKDIR/runs, or grown (and kept)."""
    c = config(seed, smoke, loops, compute_dtype)
    key = fingerprint(c, smoke)
    name = f"seed{seed}" + (f"_loops{loops}" if loops else "")
    name += suffix(compute_dtype)
    path = storage.join(workdir, "runs", f"{name}.json")
    if not rerun and storage.exists(path):
        record = json.loads(storage.read(path))
        if record.get("fingerprint") == key:
            print(f"{NAME}: seed {seed}: kept")
            return record
    counter = Counter()
    directory = storage.join(workdir, name.replace("seed", "s", 1))
    population, seconds = study.run(
        c, directory, make_tasks(smoke), progress=counter
    )
    record = dict(seed_record(population, counter, seconds), seed=seed)
    record["fingerprint"] = key
    quality._write_json(path, record)
    print(f"{NAME}: seed {seed}: {seconds:.0f} s")
    return record


def read_reference(directory, seeds):
    """The reference's `seed{N}.json` files in `directory`; {} if none.

    Each: {"seed", "source", "tasks": {task: {test_accuracy,
    retained_depth, candidates_before_first_block, candidates,
    accounted_params}}, "wall_per_candidate_s", "complete"}; task names
    are matched by `short`. A malformed file raises, naming it.
    """
    found = {}
    for seed in seeds:
        path = storage.join(directory, f"seed{seed}.json")
        if directory and storage.exists(path):
            found[seed] = _checked(json.loads(storage.read(path)), path, seed)
    return found


def _checked(data, path, seed):
    def fail(what):
        raise ValueError(f"Reference file {path}: {what}.")

    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
        fail('no "tasks" object')
    if data.get("seed") != seed:
        fail(f"seed is {data.get('seed')!r}, not {seed}")
    tasks = {}
    for task, figures in data["tasks"].items():
        for field, kinds in REFERENCE_FIELDS.items():
            value = figures.get(field) if isinstance(figures, dict) else None
            if not isinstance(value, kinds) or isinstance(value, bool):
                if not (value is None and type(None) in kinds):
                    fail(f"tasks[{task!r}].{field} is {value!r}")
        seconds = figures.get("generation_seconds", [])
        if not isinstance(seconds, list) or not all(
            isinstance(x, (int, float)) and x > 0 for x in seconds
        ):
            fail(f"tasks[{task!r}].generation_seconds is {seconds!r}")
        depths = figures.get("depths_made", [0] * len(seconds))
        if (
            not isinstance(depths, list)
            or len(depths) != len(seconds)
            or not all(type(d) is int and d >= 0 for d in depths)
        ):
            fail(
                f"tasks[{task!r}].depths_made is {depths!r}, not one depth "
                "per generation"
            )
        tasks[short(task)] = dict(figures)
    wall = data.get("wall_per_candidate_s")
    if wall is not None and not isinstance(wall, (int, float)):
        fail(f"wall_per_candidate_s is {wall!r}")
    return dict(data, tasks=tasks, complete=bool(data.get("complete")))


def main(argv=None):
    parser = study.arg_parser(__doc__.split("\n")[0])
    parser.set_defaults(workdir=WORKDIR)
    parser.add_argument(
        "--reference",
        default="",
        help="A folder of the reference's seed{N}.json files.",
    )
    parser.add_argument(
        "--rerun", action="store_true", help="Grow kept seeds again."
    )
    parser.add_argument(
        "--loops",
        type=int,
        default=0,
        help="Time only the first LOOPS task visits (1 to 3) of each seed, "
        "beside the reference script run on the same visits (its "
        "seed{N}.json files with each task's generation_seconds and "
        "depths_made), depth by depth: the side-by-side wall time of issue "
        "20's goal. Writes "
        "reference_parity_wall.*.",
    )
    parser.add_argument(
        "--compute_dtype",
        default="float32",
        choices=sorted(architecture.DTYPE_POLICIES),
        help="config.compute_dtype of mu2keras' runs (kept and written "
        "apart: names end in _bfloat16).",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.loops <= len(TASKS):
        parser.error(f"--loops must be 0 to {len(TASKS)}, not {args.loops}")
    reference = read_reference(args.reference, args.seeds)
    workdir = args.workdir
    if args.smoke and workdir == WORKDIR:
        workdir += "_smoke"
    runs = [
        run_seed(
            s, workdir, args.smoke, args.rerun, args.loops, args.compute_dtype
        )
        for s in args.seeds
    ]
    if args.loops:
        return _write_wall(args, runs, reference)
    tasks = [short(t) for t in TASKS]
    iterations = config(0, args.smoke).num_task_iters
    figures = {
        "seeds": args.seeds,
        "setting": "spec §8.1 ViT tiny 0 layers, one CPU device: "
        + ", ".join(TASKS),
        "compute_dtype": args.compute_dtype,
        "definitions": {
            "candidates_before_first_block": FIRST_BLOCK,
            "wall_per_candidate_s": WALL,
        },
        "runs": runs,
        "reference_files": {str(k): v for k, v in reference.items()},
        "recorded_reference": report.RECORDED,
        "tasks": tasks,
        "iterations": iterations,
        "summary": report.summarize(runs, reference, tasks, iterations),
    }
    name = NAME + suffix(args.compute_dtype) + ("_smoke" if args.smoke else "")
    study.write_outputs(name, figures, report.markdown(figures), out=args.out)
    return figures


def _write_wall(args, runs, reference):
    """The side-by-side wall time of the first `args.loops` task visits."""
    tasks = [short(t) for t in TASKS[: args.loops]]
    figures = {
        "seeds": args.seeds,
        "loops": args.loops,
        "setting": "spec §8.1 ViT tiny 0 layers, one CPU device, the first "
        f"{args.loops} task visit(s): " + ", ".join(TASKS[: args.loops]),
        "compute_dtype": args.compute_dtype,
        "definitions": {"wall_per_candidate_s": WALL, "reference": REF_WALL},
        "runs": runs,
        "reference_files": {str(k): v for k, v in reference.items()},
        "tasks": tasks,
        "summary": report.wall_summary(runs, reference, tasks),
    }
    name = NAME + "_wall" + suffix(args.compute_dtype)
    name += "_smoke" if args.smoke else ""
    markdown = report.wall_markdown(figures)
    study.write_outputs(name, figures, markdown, out=args.out)
    return figures


if __name__ == "__main__":
    main()
