"""The tables and the figure of benchmarks/faults.py."""


def markdown(f):
    """The counts, the final comparison, and a row per kill."""
    lines = ["# Fault injection (issue 21)", "", _description(f), ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in _rows(f)]
    verdict = (
        "nothing lost, nothing unreadable, final system identical"
        if f["verdict"]
        else "FAILED"
    )
    lines += ["", f"Verdict: **{verdict}**.", ""]
    lines += [
        "| kill | moment (s) | aimed at | after (s of the attempt) | LAST "
        "| temporaries left | states loaded |",
        "|---:|---:|---|---:|---|---|---:|",
    ]
    for i, a in enumerate(x for x in f["attempts"] if x["killed"]):
        aim = "-"
        if a["target"]:
            aim = "export of " if a["target"] == "export" else "save of "
            aim += a["aim"]
        when = f"{a['seconds']:.1f}" + " (start-up)" * a["during_start_up"]
        left = ", ".join(sorted(set(map(_save, a["temporaries"])))) or "-"
        bad = sum(e != "ok" for e in a["states"].values())
        loaded = f"{len(a['states'])}" + f" ({bad} unreadable)" * bool(bad)
        lines.append(
            f"| {i + 1} | {a['moment']:.1f} | {aim} | {when} | "
            f"{a['last'] or '-'} | {left} | {loaded} |"
        )
    return "\n".join(lines) + "\n"


def _save(name):
    """What a temporary's name says is being written."""
    what = name.partition(".")[2] if name.startswith("tmp-") else "LEASE"
    return {"saved_model": "export", "LAST": "LAST pointer"}.get(what, what)


def _description(f):
    return (
        f"`python -m launch.evolve {f['config']} --auto_continue`. "
        f"Uninterrupted: {f['reference']['seconds']:.0f} s. Faulted: "
        f"{f['num_attempts']} attempts, {f['faulted_seconds']:.0f} s; kill "
        f"moments from seed {f['seed']} (seconds of the uninterrupted run)."
    )


def _rows(f):
    s, m = f["final_state"], f["saved_model"]
    kinds = ", ".join(
        f"{k} {n}" for k, n in sorted(f["kills_inside_a_save_by_kind"].items())
    )
    state = "identical" if s["identical"] else "**differs**"
    state += (
        f": {s['tensors'] - s['tensors_differing']} of {s['tensors']} "
        "tensors bit-identical; files byte-identical: "
        f"{', '.join(s['files_byte_identical']) or 'none'}; "
        f"{s['num_differences']} differences"
        f" ({len(s['reloads_differences'])} more in `reloads`)"
    )
    served = "identical" if m["identical"] else "**differs**"
    if "error" in m:
        served += f": {m['error']}"
    else:
        served += (
            f": stamped {' and '.join(str(x) for x in m['stamps'])}; "
            f"{m['outputs_compared'] - len(m['outputs_differing'])} of "
            f"{m['outputs_compared']} outputs bit-identical"
        )
    return [
        (
            "kills (SIGKILL), each followed by a resume",
            f"{f['kills']} of {f['planned_kills']} planned "
            f"({f['kills_during_start_up']} during a resume's start-up)",
        ),
        (
            "kills inside a save (its temporaries left)",
            f"{f['kills_inside_a_save']} ({kinds or 'none'})",
        ),
        (
            "kills during an export (LAST a task end, `saved_model/` not "
            "yet its export: tracing included)",
            f"{f['kills_during_an_export']}",
        ),
        (
            "aimed at a save / landed inside it",
            f"{f['kills_targeted']} / {f['kills_targeted_inside']}",
        ),
        (
            "states loaded after the kills / unreadable (of them LAST's)",
            f"{f['states_loaded_after_kills']} / {f['unreadable_states']} "
            f"({f['unreadable_last']})",
        ),
        (
            "resumes not from LAST's state / LAST moved back",
            f"{len(f['resumes_not_from_last'])} of {f['resumes']} / "
            f"{f['last_moved_back']}",
        ),
        (
            "accepted paths: reference / seen after kills / lost",
            f"{f['accepted_paths_reference']} / "
            f"{f['accepted_paths_seen_after_kills']} / "
            f"{len(f['lost_accepted_paths'])}",
        ),
        ("final state, " + " vs ".join(s["final_states"]), state),
        ("SavedModel (`saved_model/`)", served),
        (
            "temporaries or lease left in the faulted workdir",
            ", ".join(f["leftovers"]) or "none",
        ),
    ]


def figure(f):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3))
    colours = {"state": "tab:blue", "export": "tab:orange"}
    for save in f["reference"]["saves"]:
        ax.axvspan(
            save["start"],
            save["end"] + 0.02,
            ymin=0.4,
            ymax=0.6,
            color=colours.get(save["kind"], "tab:green"),
            lw=0,
        )
    for a in (x for x in f["attempts"] if x["killed"]):
        inside = bool(a["temporaries"])
        ax.plot(
            [a["moment"]],
            [0.75 if a["target"] else 0.25],
            "v" if inside else "x",
            color="red" if inside else "black",
        )
    ax.set(
        xlabel="seconds of the uninterrupted run",
        yticks=[0.25, 0.5, 0.75],
        yticklabels=["kills", "its saves", "kills aimed at saves"],
        ylim=(0, 1),
        xlim=(0, f["reference"]["seconds"]),
        title="Kill moments (red: inside a save) and the uninterrupted "
        "run's saves (blue: states, orange: exports, green: LAST, lease)",
    )
    fig.tight_layout()
    return fig
