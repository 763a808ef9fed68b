"""The system graph: the reference's graph view (spec §7.5), in Graphviz.

Each task is a chain of component nodes from the input images to a leaf
that names the task and its accuracy. A component shared by several tasks
is one node on all their chains, so reuse is visible at a glance; each node
is filled with the colour of the task that trained it (the root's frozen
components are grey). `encoder_norm` is hidden, as in the reference: every
path has its own.
"""

import math
import shutil
import subprocess

from mu2keras import architecture
from mu2keras.progress import format_count
from mu2keras.system.component import ROOT_TASK

# matplotlib's "tab10", then the lighter half of "tab20".
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#7f7f7f",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
    "#c7c7c7",
)
ROOT_COLOUR = "#d9d9d9"
_HIDDEN = {architecture.ENCODER_NORM}


def trainers(population):
    """Component id -> the task that trained it (`ROOT_TASK` for the root).

    The first path (lowest id) holding a component is the one it was made
    for, new or cloned, so that path's task trained it; every later path
    only shares it frozen.
    """
    paths, _ = population.history()
    result = {}
    for record in paths:  # Sorted by id.
        for component_id in record["components"]:
            result.setdefault(component_id, record["task"])
    return result


def task_colours(tasks):
    """Task -> colour, in the order given; the root is grey."""
    colours = {ROOT_TASK: ROOT_COLOUR}
    for i, task in enumerate(tasks):
        colours[task] = PALETTE[i % len(PALETTE)]
    return colours


def short_name(name):
    """ "encoderblock_3" -> "block 3", "posembed_input" -> "posembed"."""
    index = architecture.layer_index(name)
    if index is not None:
        kind = "block" if name.startswith("encoderblock") else "adapter"
        return f"{kind} {index}"
    return {"posembed_input": "posembed", "embedding": "embed"}.get(name, name)


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attrs(**attrs):
    return ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def system_dot(population, colours=None):
    """The DOT source of the system graph.

    Args:
        population: the `Population`; each task shows its best path.
        colours: dict task -> colour, or None for `task_colours`.

    Returns:
        str.
    """
    tasks = population.tasks
    colours = colours or task_colours(tasks)
    made_by = trainers(population)
    lines = [
        "digraph system {",
        "  rankdir=LR; nodesep=0.15; ranksep=0.35;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica",'
        " fontsize=10];",
        "  edge [arrowsize=0.5, penwidth=1.4];",
        "  images [label=images, shape=oval, fillcolor=white];",
    ]
    drawn = set()
    for task in tasks:
        path = population.best_path(task)
        previous = "images"
        for component in path.components:
            if component.name in _HIDDEN:
                continue
            node = f"c{component.id}"
            if component.id not in drawn:
                drawn.add(component.id)
                owner = made_by.get(component.id, ROOT_TASK)
                label = (
                    f"{short_name(component.name)}\n#{component.id} · "
                    f"{format_count(component.num_params)}"
                )
                fill = _light(colours.get(owner, ROOT_COLOUR))
                lines.append(
                    f"  {node} [{_attrs(label=label, fillcolor=fill)}];"
                )
            lines.append(
                f"  {previous} -> {node} [{_attrs(color=colours[task])}];"
            )
            previous = node
        leaf = f"task{tasks.index(task)}"
        m = path.metrics
        label = f"{task}\nvalidation {_accuracy(m.get('quality'))}"
        label += f"\ntest {_accuracy(m.get('test_quality'))}"
        style = dict(
            label=label,
            shape="note",
            style="filled,bold",
            fillcolor="white",
            color=colours[task],
        )
        lines.append(f"  {leaf} [{_attrs(**style)}];")
        lines.append(f"  {previous} -> {leaf} [{_attrs(color=colours[task])}];")
    lines += _legend(tasks, colours)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _legend(tasks, colours):
    lines = [
        "  subgraph cluster_legend {",
        '    label="trained by"; fontname="Helvetica"; fontsize=10;'
        ' style="rounded";',
    ]
    entries = [("root (frozen)", ROOT_COLOUR)] + [
        (t, colours[t]) for t in tasks
    ]
    for i, (name, colour) in enumerate(entries):
        attrs = _attrs(label=name, fillcolor=_light(colour))
        lines.append(f"    legend{i} [{attrs}];")
    lines.append("  }")
    return lines


def _light(colour):
    # Half-transparent fills keep black labels readable on every colour.
    return colour + "99"


def _accuracy(value):
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    return f"{value:.4f}"


def render_dot(source, fmt):
    """Renders DOT source with Graphviz's `dot`; returns the bytes.

    Args:
        source: str. DOT source.
        fmt: str. "svg" or "png" (150 dpi).
    """
    if fmt not in ("svg", "png"):
        raise ValueError(f"`fmt` must be 'svg' or 'png'; got {fmt!r}.")
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "Graphviz's `dot` is not installed: `apt-get install graphviz` "
            "(scripts/setup.sh installs it)."
        )
    command = [dot, f"-T{fmt}"] + (["-Gdpi=150"] if fmt == "png" else [])
    result = subprocess.run(
        command, input=source.encode("utf-8"), capture_output=True, check=False
    )
    if result.returncode:
        raise RuntimeError(
            f"`{' '.join(command)}` failed: {result.stderr.decode().strip()}"
        )
    return result.stdout
