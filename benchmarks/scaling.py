r"""What a µ2Net system costs as it grows to 20 tasks (the scaling issue).

Run from the repository root (2 cores: the DINOv2 root, about an hour,
estimated from the quality runs, not measured;
`--root mu4`: about 12 minutes, plus about 4 for the study's root system
when WORKDIR has none yet):

    .venv/bin/python -m benchmarks.scaling
    .venv/bin/python -m benchmarks.scaling --root mu4   # issue 8's figures

Tasks: the study's (`configs.study.tasks`; the DINOv2 root: embedded
Fashion-MNIST, MNIST, digits, textures), then relabelled copies of them,
cycling until 20 tasks: "embedded/mnist~perm1"
is MNIST with its class labels permuted by a fixed random permutation
(seeded, never the identity, distinct between copies of a set while
possible), the same images in the same train, validation and test splits.
The offline machine has few image sets; the copies are new tasks to the
system but share their images with earlier ones, which makes reuse easier
than truly new data would.

µ2Net, one seed (the first of `--seeds`), from the study's root (the
DINOv2 checkpoint, or the promoted Fashion-MNIST ViT), with less training
per task than the quality study's to keep the run short: 4 candidates
(not 8) × at most 2 validations (DINOv2: 2 × 4 steps of 128; Mu/4: 2 × 10
steps of 64, a quarter of its study's).
After each task (a `Progress.task_done` hook): unique parameters (the
root's included), added parameters, parameters per task, the parameters
the SavedModel holds (the tasks' best paths, each component once), the
state's bytes, and at the sizes of `--export_sizes` the SavedModel's bytes
(not at every size: an export traces every task, so 20 exports would cost
more than the growing). Then all those SavedModels are loaded here and
task 1's signature is timed at batch 1 and 64, the sizes interleaved (the
machine is shared: only side-by-side ratios mean something); medians.

Goals: task 1 latency with 20 tasks ≤ 1.05 × with 1; SavedModel bytes ≤
1.05 × 4 × exported parameters + 1 MiB; parameters per task falling.
`--smoke`: 3 tasks (MNIST, digits, a relabelled MNIST), the smoke budget,
every size exported; its numbers mean nothing. `--root mu4` writes
scaling_mu4.*.
"""

import math
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import scaling_report  # noqa: E402
from benchmarks import study  # noqa: E402
from configs import study as study_config  # noqa: E402
from mu2keras import progress as progress_lib  # noqa: E402
from mu2keras.storage import export  # noqa: E402
from mu2keras.storage import files as storage  # noqa: E402
from mu2keras.storage import state as state_lib  # noqa: E402
from mu2keras.tasks import registry  # noqa: E402
from mu2keras.tasks import user_tasks  # noqa: E402

NUM_TASKS, SMOKE_TASKS = 20, 3
EXPORT_SIZES = "1,2,3,4,5,10,15,20"
# Candidates and validations per task (the study's budget 8: 8 and, for
# the Mu/4 root, 4).
SAMPLES, VALIDATIONS = 4, 2
PERMUTATION_SEED = 1234
BATCHES = scaling_report.BATCHES
# Timed calls per model and batch size (after WARMUP): (full, smoke).
ROUNDS = {1: (200, 10), 64: (40, 3)}
WARMUP = 5
IMAGE_SHAPE = (28, 28, 1)  # Task 1 (Fashion-MNIST or MNIST), as stored.
BUDGET = (
    "num_samples_per_task",
    "num_validations",
    "batch_size",
    "max_train_examples_between_validations",
)


# --- The tasks. ---


def permutation(num_classes, copy, used):
    """A fixed random permutation of the labels, not in `used` (updated).

    Drawn again until new, so that no copy keeps the original labels and
    no two copies of a set share a mapping while that is possible.
    """
    rng = np.random.default_rng([PERMUTATION_SEED, copy])
    used.add(tuple(range(num_classes)))
    perm = tuple(range(num_classes))
    while perm in used and len(used) < math.factorial(num_classes):
        perm = tuple(int(i) for i in rng.permutation(num_classes))
    used.add(perm)
    return np.asarray(perm)


def relabelled(source, copy, perm):
    """`source` (an in-memory task) with label i renamed `perm[i]`."""
    splits = {}
    for split in ("train", "validation", "test"):
        images, labels = source.arrays(split)
        splits[split] = (images, perm[labels])
    names = None
    if source.class_names:
        names = [""] * len(perm)
        for old, new in enumerate(perm):
            names[new] = source.class_names[old]
    return user_tasks.from_arrays(
        f"{source.name}~perm{copy}",
        *splits["train"],
        num_classes=source.num_classes,
        validation=splits["validation"],
        test=splits["test"],
        class_names=names,
    )


def task_sequence(num_tasks, sources=study_config.TASKS):
    """dict name -> Task: `sources`, then relabelled copies, cycling."""
    originals = [registry.get_task(name) for name in sources]
    tasks, used = {}, {name: set() for name in sources}
    for i in range(num_tasks):
        source, copy = originals[i % len(sources)], i // len(sources)
        if copy:
            perm = permutation(source.num_classes, copy, used[source.name])
            source = relabelled(source, copy, perm)
        tasks[source.name] = source
    return tasks


# --- Growing and measuring. ---


def grow_config(seed, smoke, root_dir, task_names, root="dinov2"):
    """The study's µ2Net grow config with this benchmark's budget."""
    c = study.config("grow", "mu2net", seed, smoke, root_dir, root)
    if not smoke:
        c.num_samples_per_task = SAMPLES
        c.num_validations = min(VALIDATIONS, c.num_validations)
    c.tasks = list(task_names)
    return c


def dir_bytes(path):
    """Bytes of the files under `path`."""
    return sum(
        tf.io.gfile.stat(storage.join(parent, name)).length
        for parent, _, files in tf.io.gfile.walk(path)
        for name in files
    )


def exported_params(population):
    """Parameters of the tasks' best paths, each component once."""
    components = {
        c.id: c.num_params
        for task in population.tasks
        for c in population.best_path(task).components
    }
    return sum(components.values())


class Meter(progress_lib.Progress):
    """Measures the system after each task; exports at `export_sizes`."""

    def __init__(self, export_dir, export_sizes):
        self.export_dir, self.export_sizes = export_dir, set(export_sizes)
        self.rows, self.models = [], {}
        self._unique, self._last = None, None

    def run_started(self, controller):
        self._unique = controller.population.num_unique_params()
        self._last = time.perf_counter()

    def task_done(self, controller, task, best):
        start = time.perf_counter()
        pop = controller.population
        n, unique = len(pop.tasks), pop.num_unique_params()
        row = {
            "tasks": n,
            "task": task,
            "test_accuracy": best.metrics.get("test_quality"),
            "grow_seconds": start - self._last,
            "unique_params": unique,
            "added_params": unique - self._unique,
            "params_per_task": unique / n,
            "exported_params": exported_params(pop),
            "state_bytes": dir_bytes(
                state_lib.latest_state(controller.workdir)
            ),
            "saved_model_bytes": None,
            "variables_bytes": None,
            "export_seconds": None,
        }
        if n in self.export_sizes:
            path = storage.join(self.export_dir, f"tasks_{n:02d}")
            names = export.export_system(pop, path, overwrite=True)
            self.models[n] = (path, names[pop.tasks[0]])
            row["saved_model_bytes"] = dir_bytes(path)
            # The rest is the graphs (saved_model.pb) and a fingerprint.
            row["variables_bytes"] = dir_bytes(storage.join(path, "variables"))
            row["export_seconds"] = time.perf_counter() - start
        self.rows.append(row)
        self._unique, self._last = unique, time.perf_counter()


def latency(fns, batch, rounds, warmup=WARMUP):
    """Median seconds per call of each function, on one random batch.

    The functions are called in turn, each round starting one further
    along, so drifts of the shared machine reach all of them alike.
    """
    rng = np.random.default_rng(0)
    images = tf.constant(
        rng.uniform(-1, 1, (batch, *IMAGE_SHAPE)).astype(np.float32)
    )
    for fn in fns.values():
        for _ in range(warmup):
            fn(images=images)["logits"].numpy()
    times, order = {n: [] for n in fns}, list(fns)
    for r in range(rounds):
        for n in order[r % len(order) :] + order[: r % len(order)]:
            start = time.perf_counter()
            fns[n](images=images)["logits"].numpy()
            times[n].append(time.perf_counter() - start)
    return {n: statistics.median(t) for n, t in times.items()}


# --- The run. ---


def _sizes(text, num_tasks):
    if text == "all":
        return list(range(1, num_tasks + 1))
    sizes = {int(s) for s in text.split(",") if s}
    return sorted({1, num_tasks} | {s for s in sizes if 1 <= s <= num_tasks})


def measure_latency(meter, smoke):
    """Adds `latency_ms` (batch -> ms, or None) to the meter's rows."""
    # The loaded SavedModels must outlive their signatures' calls.
    loaded = {n: tf.saved_model.load(p) for n, (p, _) in meter.models.items()}
    fns = {n: loaded[n].signatures[s] for n, (_, s) in meter.models.items()}
    by_batch = {
        b: latency(fns, b, ROUNDS[b][1 if smoke else 0]) for b in BATCHES
    }
    for row in meter.rows:
        n = row["tasks"]
        row["latency_ms"] = None
        if n in fns:
            row["latency_ms"] = {str(b): by_batch[b][n] * 1e3 for b in BATCHES}


def main(argv=None):
    parser = study.arg_parser(__doc__.split("\n")[0], seeds=(0,))
    study.add_root_flag(parser)
    parser.add_argument("--num_tasks", type=int, default=None)
    parser.add_argument(
        "--export_sizes",
        default=EXPORT_SIZES,
        help="Comma-separated system sizes to export and time, or 'all' "
        "(1 and the last are always exported).",
    )
    args = parser.parse_args(argv)
    num_tasks = args.num_tasks or (SMOKE_TASKS if args.smoke else NUM_TASKS)
    sizes = _sizes("all" if args.smoke else args.export_sizes, num_tasks)
    sources = study_config.tasks(args.root, args.smoke)
    tasks = task_sequence(num_tasks, sources[:2] if args.smoke else sources)
    root_dir = study.root_system(args.workdir, args.smoke, args.root)
    config = grow_config(args.seeds[0], args.smoke, root_dir, tasks, args.root)
    meter = Meter(storage.join(args.workdir, "scaling_models"), sizes)
    directory = storage.join(args.workdir, "scaling")
    _, seconds = study.run(config, directory, tasks, progress=meter)
    measure_latency(meter, args.smoke)
    figures = {
        "description": description(config, args.smoke, args.root),
        "root": args.root,
        "tasks": list(tasks),
        "seed": args.seeds[0],
        "smoke": args.smoke,
        "budget": {k: config[k] for k in BUDGET},
        "grow_seconds": seconds,
        "rows": meter.rows,
        "goals": scaling_report.goals(meter.rows),
    }
    study.write_outputs(
        study.output_name("scaling", args.root),
        figures,
        scaling_report.markdown(figures),
        scaling_report.figure(meter.rows),
        args.out,
    )
    return figures


ROOT_TEXT = {
    "dinov2": "the DINOv2 ViT-S/14 root (12 blocks, 28 px)",
    "mu4": "the study's promoted Fashion-MNIST root",
}


def description(config, smoke, root="dinov2"):
    steps = config.max_train_examples_between_validations // config.batch_size
    return (
        f"µ2Net from {'a random testing ViT' if smoke else ROOT_TEXT[root]}, "
        f"seed "
        f"{config.seed}, {config.num_samples_per_task} candidates × "
        f"{config.num_validations} validations × {steps} steps of "
        f"{config.batch_size} per task{' (smoke budget)' if smoke else ''}. "
        'Tasks: the study\'s, then relabelled copies ("NAME~permK": the same '
        "images and splits, the labels permuted by a fixed random "
        "permutation per copy). Exported params: the tasks' best paths, "
        "each component once (the SavedModel's variables); unique params: "
        "every retained component, the root's included. Latency: task 1's "
        "signature of each exported size, loaded in one process, medians "
        "of interleaved calls on random 28×28 grey images."
    )


if __name__ == "__main__":
    main()
