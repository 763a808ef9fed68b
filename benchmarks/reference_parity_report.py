"""The tables of benchmarks/reference_parity.py: means, goal, Markdown.

`summarize` takes each seed's record of mu2keras' side and the
reference's files (benchmarks/reference_parity.py) and returns the means
± std per task and overall, on both sides, and issue 20's goal lines;
`markdown` writes the tables. Without a complete reference file the
issue's recorded figure (`RECORDED`) stands in, labelled as such.
"""

import numpy as np

from benchmarks import study

RECORDED = {
    "source": "issue 20's recorded figure: official notebook on this CPU, "
    "1 seed, its own splits of the same data",
    "test_accuracy": {"mnist": 0.931, "digits": 0.961, "fashion6k": 0.845},
}
# The reference notebook's seconds per candidate on these 2 cores, in the
# same setting (issue 6; benchmarks/training_speed.py).
RECORDED_WALL = 15.0
GOAL_POINTS = 1.0
GOAL_STDS = 2.0
GOAL_WALL = 0.2


def summarize(runs, reference, tasks, iterations):
    """Means ± std per task and overall, both sides, and the goal."""
    ours = {t: _stats([r["tasks"][t] for r in runs], iterations) for t in tasks}
    ours["seeds"] = [r["seed"] for r in runs]
    ours["mean"] = study.mean_std(
        [np.mean([r["tasks"][t]["test_accuracy"] for t in tasks]) for r in runs]
    )
    done = [r for r in reference.values() if r["complete"]]
    if done:
        theirs = {
            t: _stats([r["tasks"][t] for r in done], iterations) for t in tasks
        }
        theirs["seeds"] = sorted(r["seed"] for r in done)
        theirs["mean"] = study.mean_std(
            [
                np.mean([r["tasks"][t]["test_accuracy"] for t in tasks])
                for r in done
            ]
        )
        walls = [r["wall_per_candidate_s"] for r in done]
        walls = [w for w in walls if w is not None]
        theirs["source"] = f"reference files, seeds {theirs['seeds']}"
    else:
        theirs = {
            t: {"test_accuracy": study.mean_std([a])}
            for t, a in RECORDED["test_accuracy"].items()
        }
        recorded = np.mean(list(RECORDED["test_accuracy"].values()))
        theirs["mean"] = study.mean_std([recorded])
        theirs["source"] = RECORDED["source"]
        walls = []
    return {
        "mu2keras": ours,
        "reference": theirs,
        "goal": _goal(ours, theirs, tasks, walls),
    }


def _stats(figures, iterations):
    out = {
        k: study.mean_std([f[k] for f in figures])
        for k in ("test_accuracy", "retained_depth")
    }
    if all(f.get("accounted_params") is not None for f in figures):
        out["accounted_params"] = study.mean_std(
            [f["accounted_params"] for f in figures]
        )
    blocks = [f["candidates_before_first_block"] for f in figures]
    out["candidates_before_first_block"] = blocks
    out["without_block"] = sum(f["retained_depth"] == 0 for f in figures)
    # No block accepted among the first iteration's candidates.
    out["first_iteration_without_block"] = sum(
        b is None or b >= f["candidates"] // iterations
        for b, f in zip(blocks, figures, strict=True)
    )
    if all("wall_per_candidate_s" in f for f in figures):
        out["wall_per_candidate_s"] = study.mean_std(
            [f["wall_per_candidate_s"] for f in figures]
        )
    return out


def _goal(ours, theirs, tasks, walls):
    """Issue 20's goal lines: each {"text", "met": True/False/None}."""
    gap = 100 * (ours["mean"]["mean"] - theirs["mean"]["mean"])
    lines = [
        {
            "text": f"mean test accuracy ≥ the notebook's − {GOAL_POINTS} "
            f"point: {100 * ours['mean']['mean']:.1f} vs "
            f"{100 * theirs['mean']['mean']:.1f} ({gap:+.1f} points)",
            "met": bool(gap >= -GOAL_POINTS),
        }
    ]
    for t in tasks:
        a, b = ours[t]["test_accuracy"], theirs[t]["test_accuracy"]
        # Pooled std of the sides measured over ≥ 2 seeds.
        variances = [s["std"] ** 2 for s in (a, b) if s["std"] > 0]
        std = float(np.sqrt(np.mean(variances))) if variances else 0.0
        lines.append(
            {
                "text": f"{t}: mean ≥ the notebook's − {GOAL_STDS:g} std "
                f"(pooled {100 * std:.1f} points): {100 * a['mean']:.1f} vs "
                f"{100 * b['mean']:.1f}",
                "met": bool(a["mean"] >= b["mean"] - GOAL_STDS * std),
            }
        )
    wall = np.mean([ours[t]["wall_per_candidate_s"]["mean"] for t in tasks])
    # Whole runs are timed under whatever else ran beside each (the
    # notebook's seeds run in parallel, hours apart from mu2keras'): their
    # walls are shown, never judged. `--loops` times both on idle cores.
    met = None
    if walls:
        text = (
            f"not side by side in these runs ({wall:.2f} s vs the "
            f"notebook files' {float(np.mean(walls)):.2f} s, each under its "
            "own load); `--loops` measures it"
        )
    else:
        text = (
            f"not measured side by side in these runs (`--loops` does; "
            f"{wall:.2f} s; issue 6's recorded "
            f"{RECORDED_WALL:g} s for the notebook would give "
            f"{wall / RECORDED_WALL:.2f}×)"
        )
    lines.append(
        {
            "text": f"wall per candidate ≤ {GOAL_WALL}× the notebook's: {text}",
            "met": met,
        }
    )
    return lines


def wall_summary(runs, reference, tasks):
    """Seconds per candidate by depth (encoder blocks) on both sides.

    A candidate's cost grows with its depth, and the two sides' seeds grow
    blocks at different times, so candidates are compared depth by depth,
    pooled over seeds and tasks. The overall ratio weights each depth by
    the reference's candidates at it: mu2keras' time for the reference's
    mix of candidates over the reference's. The goal is met when it is
    ≤ `GOAL_WALL`.
    """
    ours, theirs = {}, {}
    for run in runs:
        for t in tasks:
            f = run["tasks"][t]
            _pool(ours, f["depths_made"], f["seconds_made"])
    for data in reference.values():
        for t in tasks:
            f = data["tasks"].get(t, {})
            _pool(
                theirs,
                f.get("depths_made", []),
                f.get("generation_seconds", []),
            )
    rows = []
    for depth in sorted(set(ours) | set(theirs)):
        a, b = ours.get(depth, []), theirs.get(depth, [])
        rows.append(
            {
                "depth": depth,
                "mu2keras_s": float(np.mean(a)) if a else None,
                "reference_s": float(np.mean(b)) if b else None,
                "candidates": [len(a), len(b)],
            }
        )
        if a and b:
            rows[-1]["ratio"] = rows[-1]["mu2keras_s"] / rows[-1]["reference_s"]
    both = [r for r in rows if "ratio" in r]
    goal = {
        "text": f"wall per candidate ≤ {GOAL_WALL}× the notebook's: no "
        "depth timed on both sides",
        "met": None,
    }
    if both:
        weights = [r["candidates"][1] for r in both]
        ratio = float(
            np.dot(weights, [r["mu2keras_s"] for r in both])
            / np.dot(weights, [r["reference_s"] for r in both])
        )
        goal = {
            "text": f"wall per candidate ≤ {GOAL_WALL}× the notebook's: "
            f"{ratio:.3f}× (depths "
            + ", ".join(str(r["depth"]) for r in both)
            + ", weighted by the reference's candidates)",
            "met": bool(ratio <= GOAL_WALL),
        }
    return {"rows": rows, "goal": goal}


def _pool(by_depth, depths, seconds):
    for depth, second in zip(depths, seconds, strict=True):
        by_depth.setdefault(int(depth), []).append(float(second))


def wall_markdown(figures):
    lines = [
        "| depth | mu2keras s / candidate | reference s / candidate | ratio "
        "| candidates (mu2keras, reference) |",
        "|---|---|---|---|---|",
    ]
    for r in figures["summary"]["rows"]:
        ratio = f"{r['ratio']:.3f}" if "ratio" in r else "–"
        lines.append(
            f"| {r['depth']} | {_num(r['mu2keras_s'], '.2f')} | "
            f"{_num(r['reference_s'], '.2f')} | {ratio} | "
            f"{r['candidates'][0]}, {r['candidates'][1]} |"
        )
    definitions = figures["definitions"]
    goal = figures["summary"]["goal"]
    lines += [
        "",
        f"mu2keras: {definitions['wall_per_candidate_s']}; "
        f"{_precision(figures)}.",
        f"Reference: {definitions['reference']}.",
        "",
        _goal_line(goal),
    ]
    return "\n".join(lines) + "\n"


def markdown(figures):
    tasks = figures["tasks"]
    lines = [
        "| side | seed | task | test acc. | accounted params | depth | "
        "before 1st block | candidates | s / candidate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    sides = [("mu2keras", figures["runs"])]
    sides.append(("reference", list(figures["reference_files"].values())))
    for side, runs in sides:
        for run in runs:
            seed = (
                run["seed"]
                if run.get("complete", True)
                else (f"{run['seed']} (incomplete)")
            )
            wall = run.get("wall_per_candidate_s")
            for t in tasks:
                f = run["tasks"].get(t)
                if f is None:
                    continue
                w = f.get("wall_per_candidate_s", wall)
                lines.append(
                    f"| {side} | {seed} | {t} | {f['test_accuracy']:.3f} | "
                    f"{_num(f.get('accounted_params'))} | "
                    f"{f['retained_depth']} | "
                    f"{_num(f['candidates_before_first_block'])} | "
                    f"{f['candidates']} | {_num(w, '.2f')} |"
                )
    summary = figures["summary"]
    lines += ["", "| test accuracy | " + " | ".join(tasks) + " | mean |"]
    lines.append("|---" * (len(tasks) + 2) + "|")
    for side in ("mu2keras", "reference"):
        s = summary[side]
        label = (
            f"mu2keras, seeds {figures['seeds']}"
            if side == "mu2keras"
            else s["source"]
        )
        cells = [_pm(s[t]["test_accuracy"]) for t in tasks]
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {_pm(s['mean'])} |"
        )
    lines += ["", *_means_table(summary, tasks), ""]
    for side in ("mu2keras", "reference"):
        s = summary[side]
        if "seeds" not in s:
            continue
        ended, first = (
            ", ".join(f"{t} {s[t][k]}/{len(s['seeds'])}" for t in tasks)
            for k in ("without_block", "first_iteration_without_block")
        )
        lines.append(
            f"Tasks that ended without a block ({side}): {ended}; that "
            f"accepted no block in their first iteration: {first}."
        )
    definitions = figures["definitions"]
    lines += [
        "Before the first block: "
        f"{definitions['candidates_before_first_block']}.",
        f"Seconds per candidate: {definitions['wall_per_candidate_s']}.",
        f"mu2keras {_precision(figures)}; the reference computes in float32.",
        "",
        "Goal (issue 20):",
        "",
    ]
    for goal in summary["goal"]:
        lines.append(_goal_line(goal))
    return "\n".join(lines) + "\n"


def _precision(figures):
    dtype = figures.get("compute_dtype", "float32")
    return f"computes in {dtype} (config.compute_dtype)"


def _means_table(summary, tasks):
    """Mean ± std over the seeds of the other columns, per side and task."""
    lines = [
        "| side | task | accounted params | depth | before 1st block "
        "(per seed) | s / candidate |",
        "|---|---|---|---|---|---|",
    ]
    for side in ("mu2keras", "reference"):
        s = summary[side]
        if "seeds" not in s:
            continue
        for t in tasks:
            f = s[t]
            params = f.get("accounted_params")
            wall = f.get("wall_per_candidate_s")
            blocks = ", ".join(
                _num(b) for b in f["candidates_before_first_block"]
            )
            lines.append(
                f"| {side} | {t} | "
                f"{_pm(params, ',.0f') if params else '–'} | "
                f"{_pm(f['retained_depth'], '.1f')} | {blocks} | "
                f"{_pm(wall, '.2f') if wall else '–'} |"
            )
    return lines


def _goal_line(goal):
    word = {True: "met", False: "**missed**", None: "not measured"}
    return f"- {word[goal['met']]}: {goal['text']}"


def _num(value, spec=",.0f"):
    return "–" if value is None else format(value, spec)


def _pm(s, spec=".3f"):
    return f"{s['mean']:{spec}} ± {s['std']:{spec}}"
