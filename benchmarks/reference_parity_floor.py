"""The matmul floor under issue 20's wall-time goal.

Run from the repository root, on idle cores (about a minute each):

    .venv/bin/python -m benchmarks.reference_parity_floor
    .venv/bin/python -m benchmarks.reference_parity_floor \
        --compute_dtype bfloat16

Issue 20 asks for a wall time per candidate at most 0.2 × the notebook's,
side by side on the same machine (benchmarks/reference_parity.py --loops 1
measured 0.35 ×). This asks what any implementation must spend at least,
on this machine, on the candidates the notebook timed there: its first
visit of embedded/mnist, depth by depth, read from
benchmarks/results/reference_parity_wall.json.

A candidate is counted at its cheapest: the matmul FLOPs of its training
steps and evaluations (the setting's N_v × N_e steps of 512 images, N_e
evaluations of the validation batch), with the root's stem frozen and its
d blocks trainable, as every block of a lineage is within the task's
first visit (spec §1.4: a running task's own components are unlocked);
backward as `training_workloads.group_matmul_flops` counts it (no gradient
below the first trainable block, and none inside it but the weight
gradients: a lower bound). Norms, GELU, softmax, the optimizer,
augmentation and the input pipeline cost nothing here. The FLOPs are
divided by two rates measured in this process, in the compute dtype
(float32, or bfloat16 against mu2keras' bfloat16 runs,
reference_parity_wall_bfloat16.json): the machine's peak (a 4096² matmul)
and TensorFlow's matmuls at an encoder block's own shapes (512 × 5 tokens
by width 192; the better of XLA off and on).

Writes benchmarks/results/reference_parity_floor.json and .md
(`--compute_dtype bfloat16`: reference_parity_floor_bfloat16.*; machine
and versions included) and prints the Markdown.
"""

import argparse
import json

import tensorflow as tf

from benchmarks import reference_parity as rp
from benchmarks import study
from benchmarks import training_workloads as workloads
from mu2keras import architecture
from mu2keras.storage import files as storage
from mu2keras.tasks import pipeline
from mu2keras.tasks import registry
from mu2keras.tasks.data_hparams import DataHparams
from mu2keras.training import budget

NAME = "reference_parity_floor"
WALL = "benchmarks/results/reference_parity_wall{}.json"
GOAL = 0.2
VARIANT = "Ti/16"


def setting():
    """The steps and evaluations of one candidate of the first visit."""
    c = rp.config(0, loops=1)
    task = registry.get_task(rp.TASKS[0])
    steps_between = budget.steps_between_validations(
        task.num_examples("train"),
        c.max_train_examples_between_validations,
        c.batch_size,
    )
    batches, batch = pipeline.validation_sizes(
        task.num_examples("validation"), c.batch_size, c.max_validation_examples
    )
    return {
        "task": task.name,
        "batch_size": c.batch_size,
        "image_size": c.hparams.get("ds_image_size", DataHparams.ds_image_size),
        "steps": budget.total_steps(steps_between, c.num_validations),
        "evaluations": c.num_validations,
        "validation_images": batches * batch,
    }


def candidate_flops(depth, s):
    """Matmul FLOPs of one candidate with `depth` trainable blocks."""
    load = workloads.PathFactory(VARIANT, 0, s["image_size"])
    cand = load.candidate(depth, cloned=set())
    train = workloads.matmul_flops(cand, s["image_size"], VARIANT)
    forward = workloads.forward_matmul_flops(cand, s["image_size"], VARIANT)
    return (
        s["steps"] * s["batch_size"] * train
        + s["evaluations"] * s["validation_images"] * forward
    )


def block_products(s):
    """(m, k, n) of an encoder block's forward and backward matmuls."""
    v = architecture.get_variant(VARIANT)
    tokens = s["batch_size"] * ((s["image_size"] // v.patch_size) ** 2 + 1)
    d, m = v.hidden_dim, v.mlp_dim
    products = []
    for k, n in ((d, 3 * d), (d, d), (d, m), (m, d)):
        # Forward x @ w, input gradient dy @ w.T, weight gradient x.T @ dy.
        products += [(tokens, k, n), (tokens, n, k), (k, tokens, n)]
    return products


def shape_rate(products, repeats=7, dtype="float32"):
    """Best FLOP/s over `products` in `dtype`, each timed alone (best of
    `repeats`)."""
    rates = {}
    for jit in (False, True):
        flops = seconds = 0.0
        for m, k, n in products:
            a = tf.cast(tf.random.uniform((m, k)), dtype)
            b = tf.cast(tf.random.uniform((k, n)), dtype)
            seconds += workloads.matmul_seconds(a, b, repeats, 10, jit)
            flops += 2 * m * k * n
        rates[jit] = flops / seconds
    return max(rates.values()), rates


def floor_rows(wall, flops_by_depth, rates):
    """One row per depth the notebook timed: FLOPs, floors, both sides.

    Args:
        wall: the --loops figures (reference_parity_wall.json).
        flops_by_depth: {depth: matmul FLOPs of one candidate}.
        rates: {"peak": FLOP/s, "shapes": FLOP/s}.
    """
    rows = []
    for row in wall["summary"]["rows"]:
        flops = flops_by_depth[row["depth"]]
        rows.append(
            {
                "depth": row["depth"],
                "gflop": flops / 1e9,
                "floor_peak_s": flops / rates["peak"],
                "floor_shapes_s": flops / rates["shapes"],
                "mu2keras_s": row["mu2keras_s"],
                "reference_s": row["reference_s"],
                "reference_candidates": row["candidates"][1],
            }
        )
    return rows


def summarize(rows):
    """Ratios weighted by the notebook's candidates, and the rate needed."""
    n = [r["reference_candidates"] for r in rows]

    def total(key):
        return sum(c * r[key] for c, r in zip(n, rows, strict=True))

    reference = total("reference_s")
    flops = total("gflop") * 1e9
    return {
        "floor_peak_ratio": total("floor_peak_s") / reference,
        "floor_shapes_ratio": total("floor_shapes_s") / reference,
        "mu2keras_ratio": total("mu2keras_s") / reference,
        "required_flops_per_s": flops / (GOAL * reference),
        "goal_reachable": total("floor_shapes_s") / reference <= GOAL,
    }


def markdown(figures):
    r, s, sm = figures["rates"], figures["setting"], figures["summary"]
    lines = [
        "| depth | matmul GFLOP / candidate | floor at peak (s) | floor at "
        "the block's shapes (s) | mu2keras (s) | notebook (s) | notebook "
        "candidates |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in figures["rows"]:
        lines.append(
            f"| {row['depth']} | {row['gflop']:.0f} | "
            f"{row['floor_peak_s']:.2f} | {row['floor_shapes_s']:.2f} | "
            f"{row['mu2keras_s']:.2f} | {row['reference_s']:.2f} | "
            f"{row['reference_candidates']} |"
        )
    gf = 1e9
    lines += [
        "",
        f"{s['task']}: {s['steps']} steps of {s['batch_size']} images and "
        f"{s['evaluations']} evaluations of {s['validation_images']} per "
        f"candidate at {s['image_size']} px. Rates in "
        f"{figures.get('compute_dtype', 'float32')}: peak "
        f"{r['peak'] / gf:.0f} GFLOP/s (4096² matmul); the block's shapes "
        f"{r['shapes'] / gf:.0f} GFLOP/s (XLA off "
        f"{r['shapes_xla_off'] / gf:.0f}, on {r['shapes_xla_on'] / gf:.0f}).",
        "",
        f"- ≤ {GOAL}× the notebook's wall needs "
        f"{sm['required_flops_per_s'] / gf:.0f} GFLOP/s on every matmul with "
        "everything else free "
        f"({sm['required_flops_per_s'] / r['peak']:.2f} × the peak, "
        f"{sm['required_flops_per_s'] / r['shapes']:.2f} × the block's "
        "shapes' rate).",
        f"- Floor / notebook, weighted by its candidates: "
        f"{sm['floor_peak_ratio']:.3f} × at the peak, "
        f"{sm['floor_shapes_ratio']:.3f} × at the block's shapes; mu2keras "
        f"measured {sm['mu2keras_ratio']:.3f} ×.",
        f"- Goal reachable at the block's shapes' rate: "
        f"{'yes' if sm['goal_reachable'] else 'no'}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--compute_dtype",
        default="float32",
        choices=sorted(architecture.DTYPE_POLICIES),
        help="The matmuls' dtype, and mu2keras' --loops runs in it.",
    )
    parser.add_argument(
        "--wall",
        default=None,
        help="The --loops figures (default: those of --compute_dtype).",
    )
    parser.add_argument("--out", default=study.RESULTS)
    args = parser.parse_args(argv)
    dtype = args.compute_dtype
    args.wall = args.wall or WALL.format(rp.suffix(dtype))
    wall = json.loads(storage.read(args.wall))
    s = setting()
    flops = {
        row["depth"]: candidate_flops(row["depth"], s)
        for row in wall["summary"]["rows"]
    }
    best, by_jit = shape_rate(block_products(s), dtype=dtype)
    rates = {
        "peak": workloads.matmul_peak(dtype=dtype),
        "shapes": best,
        "shapes_xla_off": by_jit[False],
        "shapes_xla_on": by_jit[True],
    }
    rows = floor_rows(wall, flops, rates)
    figures = {
        "compute_dtype": dtype,
        "setting": s,
        "rates": rates,
        "rows": rows,
        "summary": summarize(rows),
        "wall_file": args.wall,
        "wall_measured": wall["machine"]["date"],
    }
    name = NAME + rp.suffix(dtype)
    study.write_outputs(name, figures, markdown(figures), out=args.out)
    return figures


if __name__ == "__main__":
    main()
