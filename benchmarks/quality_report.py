"""Turns benchmarks/quality.py's figures into Markdown and a plot."""

from mu2keras import progress as progress_lib
from mu2keras.report import transfer

HEAD = (
    "Method",
    "lr",
    "Mean test acc. (%)",
    "{tasks}",
    "Accounted params / task",
    "Own params / task",
    "System params",
    "Added to root",
    "Steps / task",
    "Max forgetting (points)",
    "Wall time (s)",
)


def _pm(s, digits=2):
    if s is None:
        return "n/a"
    if s.get("n") == 1:  # One seed: no spread to show.
        return f"{s['mean']:.{digits}f}"
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _count(s):
    text = progress_lib.format_count(s["mean"])
    if s["std"]:
        text += " ± " + progress_lib.format_count(s["std"])
    return text


def _short(task):
    return task.split("/")[-1]


def markdown(figures):
    """Per budget: the table, forward transfer and the verdict; then
    µ2Net's accuracy matrices and the notes."""
    smoke = " (smoke: the numbers mean nothing)" if figures["smoke"] else ""
    lines = [f"# Quality{smoke}", ""]
    for budget in figures["budgets"]:
        key = str(budget)
        lines += [f"## Budget {budget}: µ2Net's candidates per task", ""]
        lines += table(figures["summary"][key], figures["tasks"])
        lines += [""] + forward_lines(figures["forward_transfer"][key])
        lines += [""] + verdict_lines(figures["goal"][key]) + [""]
    lines += gap_lines(figures)
    lines += matrix_lines(figures)
    lines += notes(figures) + [""] + not_run_lines(figures.get("not_run"))
    return "\n".join(lines) + "\n"


def table(rows, tasks):
    """The methods' rows at one budget."""
    head = [h for h in HEAD if h != "{tasks}"]
    head[3:3] = [f"{_short(t)} (%)" for t in tasks]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, row in rows.items():
        steps = ", ".join(f"{row['train_steps'][t]['mean']:.0f}" for t in tasks)
        cells = (
            [method, ", ".join(f"{lr:g}" for lr in row.get("lr", []))]
            + [_pm(row["mean_accuracy"])]
            + [_pm(row["task_accuracy"][t]) for t in tasks]
            + [_count(row["accounted_params"]), _count(row["own_params"])]
            + [_count(row["system_params"]), _count(row["added_params"])]
            + [steps, _pm(row.get("max_forgetting"))]
            + [_pm(row["seconds"], 0)]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def forward_lines(forward):
    """Forward transfer: µ2Net's system against each task alone."""
    if forward is None:
        return [
            "Forward transfer: not measured (needs mu2net and mu2net_alone)."
        ]
    cells = ", ".join(
        f"{_short(t)} {s['mean']:+.2f}" for t, s in forward["per_task"].items()
    )
    mean = forward["mean"]
    spread = f" ± {mean['std']:.2f}" if mean["n"] > 1 else ""
    return [
        f"Forward transfer (points, µ2Net system − the task alone, seeds "
        f"{', '.join(forward['seeds'])}): mean {mean['mean']:+.2f}{spread}; "
        f"{cells}."
    ]


def verdict_lines(verdict):
    if verdict is None:
        return ["Goal: not assessed (needs mu2net and finetune_all)."]
    delta = verdict["delta_points"]

    def word(met):
        return "**met**" if met else "**missed**"

    return [
        "Goal: µ2Net ≥ +1.0 point of mean test accuracy over finetune_all "
        "with ≤ 0.5 × its accounted parameters per task.",
        "",
        f"* Accuracy: µ2Net − finetune_all = {delta['mean']:+.2f} ± "
        f"{delta['std']:.2f} points (paired by seed, n = {delta['n']}): "
        f"{word(verdict['accuracy_met'])}.",
        f"* Parameters: µ2Net's accounted parameters per task are "
        f"{verdict['params_ratio']:.3f} × finetune_all's: "
        f"{word(verdict['params_met'])}.",
        f"* Goal: {word(verdict['met'])}.",
    ]


def gap_lines(figures):
    """How µ2Net's margin over finetune_all moves with the budget: one
    row per budget that has both (empty when none has)."""
    rows = []
    for budget in figures["budgets"]:
        verdict = figures["goal"][str(budget)]
        if verdict is None:
            continue
        summary = figures["summary"][str(budget)]
        delta = verdict["delta_points"]
        rows.append(
            f"| {budget} | {delta['n']} "
            f"| {_pm(summary['mu2net']['mean_accuracy'])} "
            f"| {_pm(summary['finetune_all']['mean_accuracy'])} "
            f"| {delta['mean']:+.2f} ± {delta['std']:.2f} "
            f"| {verdict['params_ratio']:.3f} "
            f"| {'met' if verdict['met'] else 'missed'} |"
        )
    if not rows:
        return []
    return [
        "## µ2Net − finetune_all against the budget",
        "",
        "| Budget | Seeds | µ2Net (%) | finetune_all (%) "
        "| Difference (points, paired) | Params ratio | Goal |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def matrix_lines(figures):
    """µ2Net's measured accuracy matrix, forgetting and backward transfer,
    per budget and seed."""
    lines = []
    for run in figures["runs"]:
        if run["method"] != "mu2net" or not run.get("accuracy_matrix"):
            continue
        matrix = run["accuracy_matrix"]
        lines += [
            f"## µ2Net's accuracy matrix, budget {run['budget']}, seed "
            f"{run['seed']}",
            "",
            transfer.matrix_markdown(matrix),
            transfer.transfer_markdown(matrix),
        ]
    return lines


def not_run_lines(missing):
    """The (method, budget, seed) runs asked for but not grown."""
    if not missing:
        return ["Every run asked for was grown."]
    cells = "; ".join(
        f"{m['method']} budget {m['budget']} seed {m['seed']}" for m in missing
    )
    return [f"**Not run** (no figures above): {cells}."]


def notes(figures):
    tasks = figures["tasks"]
    sizes = ", ".join(
        f"{_short(t)} {figures['test_examples'][t]}" for t in tasks
    )
    smallest = min(figures["test_examples"].values())
    return [
        f"Mean ± std (ddof 1) over seeds {figures['seeds']}; each method "
        "grows one system over the tasks in order. Test accuracy: the best "
        "path's, on the whole test split (examples: "
        f"{sizes}; one example of the smallest is "
        f"{100 / smallest:.2f} points). Accounted params (spec §1.4): each "
        "component's parameters divided by the tasks using it, the root not "
        "counted as a user. Own params: components only that task uses. "
        "System params: unique parameters of the tasks' paths, the shared "
        "root's included (scratch: no shared root); added to root: without "
        "the root's. Steps / task: training steps summed over the task's "
        "candidates. Max forgetting: the largest forgetting of any task in "
        "the system's accuracy matrix, measured after every task (n/a: "
        "single-task systems). mu2net_alone: a µ2Net system per task, with "
        "that task only (its columns side by side, its sizes summed). Wall "
        "time: the whole growth, tests and state saves included.",
        "",
        "Matrices: each task's best path tested again on its whole test "
        "split after every task (`controller.accuracy_matrix` in the last "
        "state's config.json). Forgetting: a task's best earlier accuracy "
        "minus its last; backward transfer: its last minus the one right "
        "after it was learned.",
    ]


def figure(figures):
    """Mean test accuracy against accounted parameters per task, one
    marker per method and budget; and mean accuracy against the budget."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    markers = "os^Dv<>"
    for b, budget in enumerate(figures["budgets"]):
        rows = figures["summary"][str(budget)]
        for m, (method, row) in enumerate(rows.items()):
            params, accuracy = row["accounted_params"], row["mean_accuracy"]
            left.errorbar(
                params["mean"],
                accuracy["mean"],
                xerr=params["std"],
                yerr=accuracy["std"],
                fmt=markers[b % len(markers)],
                color=f"C{m}",
                capsize=3,
                label=method if b == 0 else None,
            )
    left.set_xscale("log")
    left.set_xlabel("Accounted parameters per task (mean over tasks)")
    left.set_ylabel("Mean test accuracy (%)")
    left.set_title(
        f"Methods ({', '.join(markers[: len(figures['budgets'])])}: budgets "
        f"{figures['budgets']})"
    )
    if figures["runs"]:  # Nothing to label before any run is kept.
        left.legend(fontsize=8)
    for m, method in enumerate(figures["methods"]):
        points = [
            (budget, figures["summary"][str(budget)][method]["mean_accuracy"])
            for budget in figures["budgets"]
            if method in figures["summary"][str(budget)]
        ]
        if not points:
            continue
        right.errorbar(
            [p[0] for p in points],
            [p[1]["mean"] for p in points],
            yerr=[p[1]["std"] for p in points],
            marker="o",
            color=f"C{m}",
            capsize=3,
            label=method,
        )
    right.set_xscale("log", base=2)
    right.set_xlabel("Budget: µ2Net's candidates per task (equal steps)")
    right.set_ylabel("Mean test accuracy (%)")
    right.set_title("Accuracy against the budget")
    for axes in (left, right):
        axes.grid(True, alpha=0.3)
    return fig
