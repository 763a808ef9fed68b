"""The leaderboard and the stats of analysis.ipynb (spec §7.5)."""

import csv
import io
import math

from mu2keras.report import graph
from mu2keras.system.component import ROOT_TASK
from mu2keras.training import TIMINGS

LEADERBOARD_COLUMNS = (
    "task",
    "validation_accuracy",
    "test_accuracy",
    "accounted_params",
    "layers",
    "clones",
    "shared",
    "reused_from",
    "seeded_from",
)


def leaderboard(population):
    """One row per task, in order of introduction: its best path.

    `clones` counts the path's components its own task trained (cloned or
    new); `shared` those it shares, frozen, with the root or other tasks;
    `reused_from` names the other tasks whose trained components it uses;
    `seeded_from` is the task (or "root") of the path its lineage started
    from, the first ancestor of another task: knowledge transferred by
    cloning, which sharing alone does not show.

    Returns:
        list of dicts keyed by `LEADERBOARD_COLUMNS`.
    """
    made_by = graph.trainers(population)
    records = {r["id"]: r for r in population.history()[0]}
    rows = []
    for task in population.tasks:
        path = population.best_path(task)
        owners = [made_by.get(c.id, ROOT_TASK) for c in path.components]
        clones = sum(owner == task for owner in owners)
        sources = sorted({o for o in owners if o not in (task, ROOT_TASK)})
        rows.append(
            {
                "task": task,
                "validation_accuracy": path.metrics.get("quality"),
                "test_accuracy": path.metrics.get("test_quality"),
                "accounted_params": round(path.accounted_params()),
                "layers": path.num_layers,
                "clones": clones,
                "shared": len(owners) - clones,
                "reused_from": " ".join(sources),
                "seeded_from": _seeded_from(records, path.id),
            }
        )
    return rows


def _seeded_from(records, path_id):
    record = records[path_id]
    task = record["task"]
    while record["task"] == task:
        parent = records.get(record["origin_parent_id"])
        if parent is None:
            return ""
        record = parent
    return "root" if record["task"] == ROOT_TASK else record["task"]


def system_stats(population):
    """The "Stats summary" of analysis.ipynb (spec §7.5), as a dict.

    Averages over the tasks' best paths; parameters (every retained
    component once, the root's, those the tasks trained, and the accounted
    total and per task); candidates generated and accepted; compute time
    summed over every candidate (its share of fused training).
    """
    tasks = population.tasks
    best = [population.best_path(t) for t in tasks]
    made_by = graph.trainers(population)
    components = population.components().values()
    root = sum(c.num_params for c in components if made_by[c.id] == ROOT_TASK)
    accounted = sum(p.accounted_params() for p in best)
    records = [r for r in population.history()[0] if r["task"] != ROOT_TASK]
    trained = [r["metrics"] for r in records if "quality" in r["metrics"]]
    stats = {
        "tasks": len(tasks),
        "private_tasks": len(population.private_tasks),
        "mean_validation_accuracy": _mean(
            p.metrics.get("quality") for p in best
        ),
        "mean_test_accuracy": _mean(
            p.metrics.get("test_quality") for p in best
        ),
        "mean_score": _mean(p.metrics.get("score") for p in best),
        "mean_layers": _mean(p.num_layers for p in best),
        "total_params": population.num_unique_params(),
        "root_params": root,
        "params_trained_by_tasks": population.num_unique_params() - root,
        "accounted_params": round(accounted),
        "params_per_task": round(accounted / len(tasks)) if tasks else 0,
        "candidates": len(trained),
        "accepted": sum(bool(m.get("improved")) for m in trained),
    }
    for key in TIMINGS:
        values = [m.get(f"{key}_time", 0.0) for m in trained]
        stats[f"mean_{key}_seconds"] = _mean(values)
    stats["compute_hours"] = (
        sum(m.get(f"{k}_time", 0.0) for m in trained for k in TIMINGS) / 3600
    )
    return stats


def _mean(values):
    values = [v for v in values if _finite(v)]
    return sum(values) / len(values) if values else None


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def leaderboard_csv(rows):
    """The leaderboard as CSV text, with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, LEADERBOARD_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row[k]) for k in LEADERBOARD_COLUMNS})
    return out.getvalue()


def _csv_value(value):
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else value


def format_value(value):
    """A cell of a Markdown table: accuracies with 4 decimals, counts with
    thousands separators."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value) or "-"


def markdown_table(rows, columns):
    """A GitHub Markdown table of `rows` (dicts) over `columns`."""
    header = "| " + " | ".join(c.replace("_", " ") for c in columns) + " |"
    lines = [header, "|" + "---|" * len(columns)]
    for row in rows:
        cells = [format_value(row[c]).replace("|", "\\|") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
