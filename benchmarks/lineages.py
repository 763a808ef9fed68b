"""Lineages in µ2Net's study runs: what a child keeps of its parent.

Run from the repository root, after benchmarks/quality.py (seconds):

    .venv/bin/python -m benchmarks.lineages --workdir /tmp/mu2keras/study \
        --runs quality/mu2net_lr0.1_b8_s0,quality/mu2net_lr0.1_b8_s1

A µ2Net child of a parent of its own task starts from the parent's trained
clones and must validate at least as well as the parent's best to be
accepted (spec §2.8); its learning rate schedule starts again (warm-up,
then decay over the child's own steps, spec §2.7). For each run directory
(`--runs`, relative to WORKDIR: its last state's history.json and
population.json, every path ever generated) and each task, over its
same-task children: how many there were, their first evaluation's validation
accuracy minus their parent's best, their best minus the parent's, the
share that reached it; and the retained best path's lineage: the
trained candidates of its task it descends from, itself included (each
trained the run's steps per candidate).

Writes OUT/lineages.json and .md (machine and versions included) and
prints the Markdown.
"""

import argparse
import re

import numpy as np

from benchmarks import study
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib
from mu2keras.system.component import ROOT_TASK

NAME = "lineages"
WORKDIR = "/tmp/mu2keras/study"


def task_lineages(paths, retained):
    """Per-task figures of one run.

    Args:
        paths: dict id -> path record (`Path.record()`: "task",
            "origin_parent_id", "metrics" with "evals" for trained paths).
        retained: dict task -> the retained best path's id.

    Returns:
        dict task -> {"children", "first_gap", "best_gap", "reached",
        "lineage"}; gaps in points, means over children (None without
        any).
    """
    figures = {}
    for task, best_id in retained.items():
        first, best = [], []
        for path in paths.values():
            if path["task"] != task or not _trained(path):
                continue
            parent = paths.get(_parent(path))
            if parent is None or parent["task"] != task:
                continue
            mark = _best(parent)
            first.append(100 * (_qualities(path)[0] - mark))
            best.append(100 * (_best(path) - mark))
        figures[task] = {
            "children": len(first),
            "first_gap": float(np.mean(first)) if first else None,
            "best_gap": float(np.mean(best)) if best else None,
            "reached": float(np.mean([g >= 0 for g in best])) if best else None,
            "lineage": len(_lineage(paths, best_id)),
        }
    return figures


def _parent(path):
    # The parent it was made from: a retained path's `parent_id` is
    # re-pointed to its nearest retained ancestor when others are dropped.
    return path.get("origin_parent_id", path["parent_id"])


def _trained(path):
    return bool(path["metrics"].get("evals"))


def _qualities(path):
    return [e["quality"] for e in path["metrics"]["evals"]]


def _best(path):
    return max(_qualities(path))


def _lineage(paths, path_id):
    """Ids of the trained same-task ancestors of `path_id`, itself first."""
    task, chain = paths[path_id]["task"], []
    while path_id in paths and paths[path_id]["task"] == task:
        if _trained(paths[path_id]):
            chain.append(path_id)
        path_id = _parent(paths[path_id])
    return chain


def read_run(directory):
    """(paths by id, retained best path id per task) of a run's last state."""
    _, _, parsed = state_lib.read_verified(directory)
    structure = parsed[state_lib.STRUCTURE]
    history = parsed[state_lib.HISTORY]
    paths = {p["id"]: p for p in history["paths"]}
    paths.update({p["id"]: p for p in structure["paths"]})
    retained = {
        task: ids[0]
        for task, ids in structure["tasks"].items()
        if ids and task != ROOT_TASK
    }
    return paths, retained


def by_setting(runs):
    """Runs pooled by setting (the run name without its seed, "_sN"):
    gaps and the share reaching the parent over every same-task child, the
    lineage averaged over tasks and seeds."""
    pooled = {}
    for run, tasks in runs.items():
        setting = re.sub(r"_s\d+$", "", run.rstrip("/").split("/")[-1])
        pooled.setdefault(setting, []).extend(tasks.values())
    summary = {}
    for setting, rows in pooled.items():
        n = sum(r["children"] for r in rows)

        def weighted(key, rows=rows, n=n):
            if not n:
                return None
            total = sum(r[key] * r["children"] for r in rows if r["children"])
            return total / n

        summary[setting] = {
            "rows": len(rows),
            "children": n,
            "first_gap": weighted("first_gap"),
            "best_gap": weighted("best_gap"),
            "reached": weighted("reached"),
            "lineage": float(np.mean([r["lineage"] for r in rows])),
        }
    return summary


def markdown(figures):
    lines = [
        "| setting | tasks × seeds | same-task children | first evaluation "
        "− parent (points) | best − parent (points) | reached the parent | "
        "best path's lineage (candidates, mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting, f in figures["by_setting"].items():
        lines.append(
            f"| {setting} | {f['rows']} | {f['children']} | "
            f"{_points(f['first_gap'])} | {_points(f['best_gap'])} | "
            f"{_share(f['reached'])} | {f['lineage']:.2f} |"
        )
    lines += [
        "",
        "| run | task | same-task children | first evaluation − parent "
        "(points) | best − parent (points) | reached the parent | best "
        "path's lineage (candidates) |",
        "|---|---|---|---|---|---|---|",
    ]
    for run, tasks in figures["runs"].items():
        for task, f in tasks.items():
            lines.append(
                f"| {run} | {task.split('/')[-1]} | {f['children']} | "
                f"{_points(f['first_gap'])} | {_points(f['best_gap'])} | "
                f"{_share(f['reached'])} | {f['lineage']} |"
            )
    return "\n".join(lines) + "\n"


def _points(value):
    return "n/a" if value is None else f"{value:+.1f}"


def _share(value):
    return "n/a" if value is None else f"{100 * value:.0f}%"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default=WORKDIR)
    parser.add_argument(
        "--runs",
        required=True,
        type=lambda text: [r for r in text.split(",") if r],
        help="Comma-separated run directories, relative to WORKDIR.",
    )
    parser.add_argument("--out", default=study.RESULTS)
    args = parser.parse_args(argv)
    runs = {}
    for run in args.runs:
        directory = storage.join(args.workdir, run)
        runs[run] = task_lineages(*read_run(directory))
    figures = {
        "workdir": args.workdir,
        "runs": runs,
        "by_setting": by_setting(runs),
    }
    study.write_outputs(NAME, figures, markdown(figures), out=args.out)
    return figures


if __name__ == "__main__":
    main()
