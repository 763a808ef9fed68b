r"""Serving throughput of a µ2Net SavedModel (the serving issue).

Run from the repository root (about 3 minutes on 2 cores to measure,
plus the growing of the system):

    .venv/bin/python -m benchmarks.serving [--saved_model DIR] [--root mu4]

With `--saved_model` it measures that SavedModel (`mu2keras.storage.export`);
otherwise it grows a study system (µ2Net from the study's root: the DINOv2
ViT-S/14 checkpoint by default, `--root mu4` the promoted Fashion-MNIST
Mu/4 of issue 8, trained once per workdir; the study's tasks, with the
scaling benchmark's shorter budget per task: serving speed does not depend
on how well the paths learned) and exports it. It writes serving.* (with
`--root mu4`: serving_mu4.*). Measured, in this process, on random images
of the largest task resolution (RGB, in [-1, 1]):

* each task's signature at batch 1, 16 and 64: images/s;
* the routed endpoint (`routed`) at the same batch sizes, each image with
  a random task index (mixed-task batches);
* 1, 2 and 4 threads calling task 1's signature, and the routed endpoint,
  at once (batch 16): images/s of all threads together, and whether every
  output is bit-identical (`np.array_equal`, logits and classes) to the
  single-threaded output for the same input. `identical` in the JSON says
  so; the script exits with status 1 when it is false.

Each figure is the images of as many calls as fill `--seconds` (after 2
warm-up calls), divided by their wall time. `--smoke`: two tasks with the
smoke budget, short timings; its numbers mean nothing.
"""

import math
import os
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import scaling  # noqa: E402
from benchmarks import study  # noqa: E402
from configs import study as study_config  # noqa: E402
from mu2keras.storage import export  # noqa: E402
from mu2keras.storage import files as storage  # noqa: E402

BATCHES = (1, 16, 64)
THREADS, THREAD_BATCH = (1, 2, 4), 16
INPUTS_PER_THREAD = 4  # Distinct batches each thread cycles through.
SECONDS, SMOKE_SECONDS = 2.0, 0.05


def build_system(args):
    """Grows and exports a study system; (SavedModel dir, seconds)."""
    tasks = list(study_config.tasks(args.root, args.smoke))
    tasks = tasks[:2] if args.smoke else tasks
    root_dir = study.root_system(args.workdir, args.smoke, args.root)
    config = scaling.grow_config(
        args.seeds[0], args.smoke, root_dir, tasks, args.root
    )
    directory = storage.join(args.workdir, "serving")
    population, seconds = study.run(config, directory)
    path = storage.join(args.workdir, "serving_model")
    export.export_system(population, path, overwrite=True)
    return path, seconds


def random_inputs(batch, size, num_tasks, seed):
    """Images `(batch, size, size, 3)` in [-1, 1] and random task indices."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    index = rng.integers(0, num_tasks, batch).astype(np.int32)
    return {"images": tf.constant(images), "task_index": tf.constant(index)}


def _outputs(fn, inputs):
    """The numpy outputs of a signature on the inputs it takes."""
    args = {
        k: v for k, v in inputs.items() if k in fn.structured_input_signature[1]
    }
    return {k: v.numpy() for k, v in fn(**args).items()}


def throughput(fn, inputs, seconds):
    """Images/s of calls of `fn` on `inputs` until `seconds` have passed."""
    for _ in range(2):
        _outputs(fn, inputs)
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        _outputs(fn, inputs)
        calls += 1
    elapsed = time.perf_counter() - start
    batch = int(inputs["images"].shape[0])
    return {
        "images_per_s": calls * batch / elapsed,
        "ms_per_call": elapsed / calls * 1e3,
    }


def concurrent(fn, make_inputs, threads, calls):
    """`threads` threads calling `fn` `calls` times each, at once.

    Each thread cycles through its own inputs, whose single-threaded
    outputs are computed first; every output is compared with them.

    Returns:
        dict: images/s of all threads together, and `identical`.
    """
    inputs = [
        [make_inputs(1000 * t + i) for i in range(INPUTS_PER_THREAD)]
        for t in range(threads)
    ]
    expected = [[_outputs(fn, x) for x in own] for own in inputs]
    mismatches, barrier = [0] * threads, threading.Barrier(threads + 1)

    def work(t):
        barrier.wait()
        for call in range(calls):
            i = call % INPUTS_PER_THREAD
            got, want = _outputs(fn, inputs[t][i]), expected[t][i]
            if any(not np.array_equal(got[k], want[k]) for k in want):
                mismatches[t] += 1

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    batch = int(inputs[0][0]["images"].shape[0])
    return {
        "images_per_s": threads * calls * batch / elapsed,
        "calls_per_thread": calls,
        "mismatched_calls": sum(mismatches),
        "identical": not any(mismatches),
    }


def measure(path, seconds):
    """All the figures of the SavedModel in `path`."""
    loaded = tf.saved_model.load(path)
    info = {k: v.numpy() for k, v in loaded.signatures["task_names"]().items()}
    tasks = [t.decode() for t in info["task_names"]]
    names = [s.decode() for s in info["signature_names"]]
    size, num = int(max(info["image_sizes"])), len(tasks)
    routed = loaded.signatures[export.ROUTED]
    result = {"saved_model": path, "tasks": tasks, "image_size": size}
    result["single_task"] = {
        task: {
            str(b): throughput(
                loaded.signatures[name], random_inputs(b, size, num, b), seconds
            )
            for b in BATCHES
        }
        for task, name in zip(tasks, names, strict=True)
    }
    result["routed"] = {
        str(b): throughput(routed, random_inputs(b, size, num, b), seconds)
        for b in BATCHES
    }
    result["threads"] = {}
    for kind, fn in (
        ("task_1", loaded.signatures[names[0]]),
        ("routed", routed),
    ):
        one = (
            result["single_task"][tasks[0]]
            if kind == "task_1"
            else result["routed"]
        )
        # As many calls in all as fill `seconds` single-threaded.
        total = seconds * 1e3 / one[str(THREAD_BATCH)]["ms_per_call"]
        result["threads"][kind] = {
            str(n): concurrent(
                fn,
                lambda seed: random_inputs(THREAD_BATCH, size, num, seed),
                n,
                max(INPUTS_PER_THREAD, math.ceil(total / n)),
            )
            for n in THREADS
        }
    result["identical"] = all(
        r["identical"]
        for by_n in result["threads"].values()
        for r in by_n.values()
    )
    return result


def markdown(figures):
    lines = [
        "# Serving: a µ2Net SavedModel",
        "",
        f"{figures['description']}",
        "",
        "| signature | "
        + " | ".join(f"batch {b}, img/s" for b in BATCHES)
        + " |",
        "|---|" + "---:|" * len(BATCHES),
    ]
    rows = [(f"`{t}`", by_b) for t, by_b in figures["single_task"].items()]
    rows.append(("`routed`, mixed tasks", figures["routed"]))
    for label, by_b in rows:
        cells = [f"{by_b[str(b)]['images_per_s']:,.0f}" for b in BATCHES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Threads calling at once (batch {THREAD_BATCH}), img/s of all "
        "together; outputs against single-threaded ones:",
        "",
        "| signature | "
        + " | ".join(f"{n} thread{'s' * (n > 1)}" for n in THREADS)
        + " |",
        "|---|" + "---:|" * len(THREADS),
    ]
    for kind, by_n in figures["threads"].items():
        cells = [
            f"{r['images_per_s']:,.0f}"
            + ("" if r["identical"] else f" ({r['mismatched_calls']} differ)")
            for r in by_n.values()
        ]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    verdict = "identical" if figures["identical"] else "**not identical**"
    lines += ["", f"Concurrent outputs: {verdict} to the single-threaded ones."]
    return "\n".join(lines) + "\n"


def figure(figures):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    series = dict(figures["single_task"], routed=figures["routed"])
    for label, by_b in series.items():
        rates = [by_b[str(b)]["images_per_s"] for b in BATCHES]
        axes[0].plot(BATCHES, rates, "o-", label=label)
    axes[0].set(title="Throughput", xlabel="batch size", xscale="log")
    for kind, by_n in figures["threads"].items():
        rates = [by_n[str(n)]["images_per_s"] for n in THREADS]
        axes[1].plot(THREADS, rates, "o-", label=kind)
    axes[1].set(
        title=f"Threads at once, batch {THREAD_BATCH}", xlabel="threads"
    )
    axes[0].set_xticks(BATCHES, [str(b) for b in BATCHES])
    axes[1].set_xticks(THREADS, [str(n) for n in THREADS])
    for ax in axes:
        ax.set(ylabel="images/s")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = study.arg_parser(__doc__.split("\n")[0], seeds=(0,))
    parser.add_argument(
        "--saved_model",
        default="",
        help="A SavedModel of mu2keras.storage.export to measure; none "
        "grows one.",
    )
    parser.add_argument("--seconds", type=float, default=None)
    args = study.add_root_flag(parser).parse_args(argv)
    seconds = args.seconds or (SMOKE_SECONDS if args.smoke else SECONDS)
    grow_seconds, path = None, args.saved_model
    if not path:
        path, grow_seconds = build_system(args)
    figures = measure(path, seconds)
    figures.update(
        description=description(args, figures, seconds),
        smoke=args.smoke,
        root=args.root,
        seconds_per_figure=seconds,
        grow_seconds=grow_seconds,
    )
    name = study.output_name("serving", args.root)
    study.write_outputs(
        name, figures, markdown(figures), figure(figures), args.out
    )
    if not figures["identical"]:
        sys.exit("Concurrent calls gave outputs that differ from single ones.")
    return figures


def description(args, figures, seconds):
    if args.saved_model:
        source = f"The SavedModel {args.saved_model}"
    else:
        budget = (
            "the smoke budget"
            if args.smoke
            else (
                f"{scaling.SAMPLES} candidates × {scaling.VALIDATIONS} "
                "validations × 10 steps of 64 per task"
            )
        )
        root = "a random testing ViT" if args.smoke else None
        root = root or scaling.ROOT_TEXT[args.root]
        source = f"A system grown here: µ2Net from {root}, {budget}"
    return (
        f"{source}; tasks {', '.join(figures['tasks'])}. Inputs: random RGB "
        f"images of {figures['image_size']} px (the largest task "
        "resolution) in [-1, 1]; the routed endpoint gets a random task "
        f"index per image. Each figure: the images of the calls that fill "
        f"{seconds:g} s (after 2 warm-up calls) over their wall time; "
        f"threads share that many calls, each cycling through "
        f"{INPUTS_PER_THREAD} batches of its own, every output compared bit "
        "for bit with the single-threaded output for the same batch."
    )


if __name__ == "__main__":
    main()
