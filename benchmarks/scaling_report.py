"""Turns benchmarks/scaling.py's figures into goals, Markdown and a plot."""

import numpy as np

from benchmarks import study

# The batch sizes task 1 is timed at (scaling.py's latency).
BATCHES = (1, 64)


def goals(rows):
    """The three goals: what was measured and whether it is met."""
    first, last = rows[0]["latency_ms"], rows[-1]["latency_ms"]
    result = {"latency": {}}
    for batch in map(str, BATCHES):
        ratio = last[batch] / first[batch]
        result["latency"][batch] = {"ratio": ratio, "met": ratio <= 1.05}
    # The bound: 1.05 × 4 bytes per exported parameter + 1 MiB.
    excess, tasks = max(
        (
            r["saved_model_bytes"] - 4.2 * r["exported_params"] - 2**20,
            r["tasks"],
        )
        for r in rows
        if r["saved_model_bytes"] is not None
    )
    result["saved_model_bytes"] = {
        "worst_excess_bytes": excess,
        "worst_tasks": tasks,
        "met": excess <= 0,
    }
    per_task = [r["params_per_task"] for r in rows]
    slope = float(np.polyfit([r["tasks"] for r in rows], per_task, 1)[0])
    rising = [
        r["tasks"]
        for r, prev in zip(rows[1:], per_task, strict=False)
        if r["params_per_task"] > prev
    ]
    result["params_per_task"] = {
        "first": per_task[0],
        "last": per_task[-1],
        "slope": slope,
        "rising_at": rising,
        "met": per_task[-1] < per_task[0] and slope < 0,
    }
    return result


PARAMS = ("unique_params", "added_params", "params_per_task", "exported_params")


def _cell(value, form="{:,.0f}"):
    return "" if value is None else form.format(value)


def markdown(figures):
    rows, g = figures["rows"], figures["goals"]
    n = rows[-1]["tasks"]
    lines = [
        f"# Scaling: a µ2Net system grown to {n} tasks",
        "",
        figures["description"],
        "",
        "| tasks | task added | test acc. | unique params | added | "
        "params/task | exported params | SavedModel bytes (variables) | "
        "SM / (4 × exported) | state bytes | task 1 ms, b=1 | b=64 |",
        "|---:|---|" + "---:|" * 10,
    ]
    for r in rows:
        sm, ms = r["saved_model_bytes"], r["latency_ms"] or {}
        cells = [
            r["tasks"],
            r["task"],
            _cell(r["test_accuracy"], "{:.3f}"),
            *(_cell(r[k]) for k in PARAMS),
            _cell(sm) + _cell(r["variables_bytes"], " ({:,})"),
            _cell(sm and sm / (4 * r["exported_params"]), "{:.3f}"),
            _cell(r["state_bytes"]),
            *(_cell(ms.get(str(b)), "{:.2f}") for b in BATCHES),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Goals:", ""]
    for batch, item in g["latency"].items():
        lines.append(
            f"* Task 1 latency, batch {batch}: {n} tasks / 1 task = "
            f"{item['ratio']:.3f} (goal ≤ 1.05): "
            f"{study.verdict(item['met'])}."
        )
    sb, pt = g["saved_model_bytes"], g["params_per_task"]
    lines.append(
        f"* SavedModel bytes ≤ 1.05 × 4 × exported params + 1 MiB "
        f"at every exported size: worst at {sb['worst_tasks']} tasks, "
        f"{sb['worst_excess_bytes']:+,.0f} bytes from the bound: "
        f"{study.verdict(sb['met'])}."
    )
    lines.append(
        f"* Parameters per task falling: {pt['first']:,.0f} → "
        f"{pt['last']:,.0f} (least-squares slope {pt['slope']:+,.0f} per "
        f"task; rises at sizes {pt['rising_at'] or 'none'}): "
        f"{study.verdict(pt['met'])}."
    )
    return "\n".join(lines) + "\n"


def figure(rows):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    def series(key, scale=1.0):
        points = [(r["tasks"], key(r)) for r in rows if key(r) is not None]
        return [n for n, _ in points], [v * scale for _, v in points]

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, key, style, label, scale in (
        (0, "params_per_task", "o-", "unique / tasks", 1),
        (0, "added_params", "x:", "added by the task", 1),
        (1, "unique_params", "o-", "unique", 1),
        (1, "exported_params", "s-", "exported", 1),
        (1, "saved_model_bytes", "^--", "SavedModel bytes / 4", 0.25),
    ):
        axes[ax].plot(*series(lambda r, k=key: r[k], scale), style, label=label)
    for b in map(str, BATCHES):
        ms = series(lambda r, b=b: r["latency_ms"] and r["latency_ms"][b])
        axes[2].plot(ms[0], np.array(ms[1]) / ms[1][0], "o-", label=f"b={b}")
    axes[2].axhline(1.05, color="grey", linestyle=":", label="goal")
    titles = ("Parameters per task", "Parameters", "Task 1 latency / 1 task")
    axes[1].set_yscale("log")  # The SavedModel's graphs dwarf the weights.
    for ax, title in zip(axes, titles, strict=True):
        ax.set(title=title, xlabel="tasks")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.tight_layout()
    return fig
