"""Turns benchmarks/quality.py's figures into Markdown and a plot."""

from mu2keras import progress as progress_lib


def _pm(s, digits=2):
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _count(s):
    text = progress_lib.format_count(s["mean"])
    if s["std"]:
        text += " ± " + progress_lib.format_count(s["std"])
    return text


def markdown(rows, verdict, figures):
    """The table, its notes and the verdict."""
    tasks = figures["tasks"]
    short = [t.split("/")[-1] for t in tasks]
    head = (
        ["Method", "Mean test acc. (%)"]
        + [f"{s} (%)" for s in short]
        + ["Accounted params / task", "Own params / task"]
        + ["System params", "Added to root", "Steps / task", "Wall time (s)"]
    )
    smoke = " (smoke: the numbers mean nothing)" if figures["smoke"] else ""
    lines = [
        f"# Quality{smoke}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for method, row in rows.items():
        steps = ", ".join(f"{row['train_steps'][t]['mean']:.0f}" for t in tasks)
        cells = (
            [method, _pm(row["mean_accuracy"])]
            + [_pm(row["task_accuracy"][t]) for t in tasks]
            + [_count(row["accounted_params"]), _count(row["own_params"])]
            + [_count(row["system_params"]), _count(row["added_params"])]
            + [steps, _pm(row["seconds"], 0)]
        )
        lines.append("| " + " | ".join(cells) + " |")
    sizes = ", ".join(
        f"{t.split('/')[-1]} {figures['test_examples'][t]}" for t in tasks
    )
    lines += [
        "",
        f"Mean ± std (ddof 1) over seeds {figures['seeds']}; each method "
        "grows one system over the tasks in order. Test accuracy: the best "
        "path's, on the whole test split (examples: "
        f"{sizes}; one example of textures is "
        f"{100 / figures['test_examples'][tasks[-1]]:.2f} points). Accounted "
        "params (spec §1.4): each component's parameters divided by the tasks "
        "using it, the root not counted as a user. Own params: components "
        "only that task uses. System params: unique parameters of the tasks' "
        "paths, the shared root's included (scratch: no shared root); added "
        "to root: without the root's. Steps / task: training steps summed "
        "over the task's candidates. Wall time: the whole growth, tests "
        "and state saves included.",
        "",
    ]
    return "\n".join(lines + verdict_lines(verdict)) + "\n"


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


def figure(rows):
    """Mean test accuracy against accounted parameters per task."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method, row in rows.items():
        params, accuracy = row["accounted_params"], row["mean_accuracy"]
        axes.errorbar(
            params["mean"],
            accuracy["mean"],
            xerr=params["std"],
            yerr=accuracy["std"],
            fmt="o",
            capsize=3,
            label=method,
        )
        axes.annotate(
            method,
            (params["mean"], accuracy["mean"]),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    axes.set_xscale("log")
    axes.set_xlabel("Accounted parameters per task (mean over tasks)")
    axes.set_ylabel("Mean test accuracy (%)")
    axes.set_title("µ2Net and baselines on the embedded tasks (± std, seeds)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return figure
