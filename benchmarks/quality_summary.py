"""benchmarks/quality.py's summaries: over seeds, the goal, transfer.

Plain functions of run records (dicts, as `quality.run_record` makes and
`quality.py` keeps as JSON), so that the tests can feed them by hand.
"""

import numpy as np

from benchmarks import study
from mu2keras.report import transfer

GOAL_POINTS = 1.0  # µ2Net's mean test accuracy over finetune_all's.
GOAL_RATIO = 0.5  # µ2Net's accounted params per task / finetune_all's.


def stats(values):
    """`study.mean_std` and the number of values."""
    return dict(study.mean_std(values), n=len(values))


def summarize(runs):
    """A method's figures at one budget, mean ± std over its runs (seeds)."""
    runs = sorted(runs, key=lambda r: r["seed"])
    tasks = list(runs[0]["tasks"])

    def per_task(key):
        return np.array([[r["tasks"][t][key] for t in tasks] for r in runs])

    accuracy = 100 * per_task("test_accuracy")
    system = [r["system"] for r in runs]
    forgetting = [_forgetting(r) for r in runs]
    return {
        "seeds": [r["seed"] for r in runs],
        # Runs kept before learning rates were recorded have none.
        "lr": sorted({r["lr"] for r in runs if r.get("lr") is not None}),
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
        # The largest forgetting of any task (points), None without a
        # recorded matrix (the "alone" systems have one task each).
        "max_forgetting": (
            None if None in forgetting else stats([100 * f for f in forgetting])
        ),
        # Paired by seed, for the verdict and forward transfer.
        "run_accuracy": {
            str(r["seed"]): float(a)
            for r, a in zip(runs, accuracy.mean(axis=1), strict=True)
        },
        "run_task_accuracy": {
            str(r["seed"]): {t: r["tasks"][t]["test_accuracy"] for t in tasks}
            for r in runs
        },
    }


def _forgetting(run):
    """The largest per-task forgetting of a run's matrix, or None."""
    matrix = run.get("accuracy_matrix") or []
    if len(matrix) < 2:
        return None
    values = transfer.forgetting(matrix)["per_task"].values()
    return max(v for v in values if v is not None)


def goal_verdict(rows, mu2net="mu2net", baseline="finetune_all"):
    """The goal at one budget, µ2Net against finetune_all; None without
    both."""
    if mu2net not in rows or baseline not in rows:
        return None
    mu, ft = rows[mu2net], rows[baseline]
    seeds = sorted(set(mu["run_accuracy"]) & set(ft["run_accuracy"]))
    if not seeds:
        return None
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


def forward_transfer(rows, system="mu2net", alone="mu2net_alone"):
    """Forward transfer at one budget (points), paired by seed.

    Each task's test accuracy in the µ2Net system minus the same task's
    in a µ2Net system grown with that task alone, from the same root, at
    the same budget and seed (`mu2keras.report.transfer.forward_transfer`).

    Returns:
        `{"per_task": {task: stats}, "mean": stats, "seeds": [...]}` over
        the seeds both have, or None.
    """
    if system not in rows or alone not in rows:
        return None
    sys_acc = rows[system]["run_task_accuracy"]
    alone_acc = rows[alone]["run_task_accuracy"]
    seeds = sorted(set(sys_acc) & set(alone_acc))
    if not seeds:
        return None
    results = [
        transfer.forward_transfer(sys_acc[s], alone_acc[s]) for s in seeds
    ]
    tasks = list(results[0]["per_task"])
    return {
        "seeds": seeds,
        "per_task": {
            t: stats([100 * r["per_task"][t] for r in results]) for t in tasks
        },
        "mean": stats([100 * r["mean"] for r in results]),
    }


def transfer_of_run(run):
    """Forgetting and backward transfer of a run's recorded matrix."""
    matrix = run.get("accuracy_matrix") or []
    return {
        "forgetting": transfer.forgetting(matrix),
        "backward_transfer": transfer.backward_transfer(matrix),
    }
