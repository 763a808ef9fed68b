"""Accuracy against parameters, per task: how the search traded them off."""

import io
import math

from matplotlib import ticker
from matplotlib.figure import Figure

from mu2keras.report import graph

_COLUMNS = 3


def accuracy_vs_params_png(population, colours=None):
    """A PNG: one panel per task, every candidate the task trained.

    Each point is a candidate: its accounted parameters while training
    (`training_accounted_params`) against its validation accuracy; accepted
    ones in the task's colour, rejected ones grey, the retained best path as
    a star. Drawn with matplotlib's object API (the Agg canvas, no pyplot
    state), so it works on machines without a display.

    Args:
        population: the `Population`.
        colours: dict task -> colour, or None for `graph.task_colours`.

    Returns:
        bytes.
    """
    tasks = population.tasks
    colours = colours or graph.task_colours(tasks)
    records = population.history()[0]
    columns = max(1, min(_COLUMNS, len(tasks)))
    rows = max(1, math.ceil(len(tasks) / columns))
    figure = Figure(figsize=(4.2 * columns, 3.4 * rows), layout="constrained")
    if not tasks:
        figure.text(0.5, 0.5, "No task has a path yet.", ha="center")
    for i, task in enumerate(tasks):
        axes = figure.add_subplot(rows, columns, i + 1)
        best = population.best_path(task).id
        _panel(axes, task, records, best, colours[task])
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100)
    return out.getvalue()


def _panel(axes, task, records, best, colour):
    points = [
        (r["id"], r["metrics"])
        for r in records
        if r["task"] == task and "quality" in r["metrics"]
    ]
    for accepted, style in (
        (False, dict(c="#9a9a9a", marker="x")),
        (True, dict(c=colour, marker="o")),
    ):
        chosen = [m for _, m in points if bool(m.get("improved")) == accepted]
        axes.scatter(
            [m.get("training_accounted_params", math.nan) for m in chosen],
            [m["quality"] for m in chosen],
            s=22,
            label="accepted" if accepted else "rejected",
            **style,
        )
    for path_id, m in points:
        if path_id == best:
            axes.scatter(
                [m.get("training_accounted_params", math.nan)],
                [m["quality"]],
                s=220,
                marker="*",
                c=colour,
                edgecolors="black",
                label="best (retained)",
                zorder=3,
            )
    axes.set_title(task, fontsize=10)
    axes.set_xlabel("accounted parameters")
    axes.set_ylabel("validation accuracy")
    axes.set_ylim(-0.02, 1.02)
    axes.xaxis.set_major_formatter(ticker.EngFormatter())
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
