"""Writes the report files of a state (see `mu2keras.report`)."""

import json

from mu2keras.evolution import accuracy_record
from mu2keras.report import graph
from mu2keras.report import plots
from mu2keras.report import tables
from mu2keras.report import transfer
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib

REPORT = "report"
REPORT_FILES = (
    "report.md",
    "leaderboard.csv",
    "stats.json",
    "system_graph.dot",
    "system_graph.svg",
    "system_graph.png",
    "accuracy_vs_params.png",
)


def write_report(path, output_dir=None):
    """Writes the report of a state; returns {file name: path}.

    Args:
        path: str. A run's workdir (its last state) or a `state_*`
            directory, local or gs://; or a loaded `state.State` (the
            shared system of `mu2keras.agents.load_system`).
        output_dir: str or None. Where to write; default `STATE/report`.
            An existing report there is replaced.
    """
    if isinstance(path, state_lib.State):
        loaded = path
    else:
        loaded = state_lib.load_state(path)
    population = loaded.population
    output_dir = output_dir or storage.join(loaded.directory, REPORT)
    colours = graph.task_colours(population.tasks)
    rows = tables.leaderboard(population)
    stats = tables.system_stats(population)
    matrix = accuracy_record.from_config(loaded.config)
    figures = {**stats, "transfer": transfer.summary(matrix)}
    dot = graph.system_dot(population, colours)
    files = {
        "report.md": _markdown(loaded, rows, stats, matrix),
        "leaderboard.csv": tables.leaderboard_csv(rows),
        "stats.json": json.dumps(figures, indent=2) + "\n",
        "system_graph.dot": dot,
        "system_graph.svg": graph.render_dot(dot, "svg"),
        "system_graph.png": graph.render_dot(dot, "png"),
        "accuracy_vs_params.png": plots.accuracy_vs_params_png(
            population, colours
        ),
    }

    def fill(directory):
        storage.makedirs(directory)
        for name, data in files.items():
            if isinstance(data, str):
                data = data.encode("utf-8")
            storage.write(storage.join(directory, name), data)

    storage.write_atomically(output_dir, fill, overwrite=True)
    return {name: storage.join(output_dir, name) for name in REPORT_FILES}


def _markdown(loaded, rows, stats, matrix):
    where = f"`{loaded.directory}` (loop {loaded.loop}"
    where += f", generation {loaded.generation})"
    stat_rows = [{"stat": k, "value": v} for k, v in stats.items()]
    return "\n".join(
        [
            "# µ2Net system report",
            "",
            f"State {where}: {stats['tasks']} tasks.",
            "",
            "![The system: tasks as chains of components, each coloured by "
            "the task that trained it](system_graph.svg)",
            "",
            "## Leaderboard",
            "",
            tables.markdown_table(rows, tables.LEADERBOARD_COLUMNS),
            "`clones`: components the task trained itself; `shared`: frozen "
            "components of the root or other tasks; `reused_from`: the tasks "
            "whose components it shares; `seeded_from`: the task whose path "
            "its lineage started from (transfer by cloning).",
            "",
            transfer.markdown(matrix),
            "## Stats (analysis.ipynb, spec §7.5)",
            "",
            tables.markdown_table(stat_rows, ("stat", "value")),
            "## Accuracy against parameters",
            "",
            "![Every candidate per task](accuracy_vs_params.png)",
            "",
        ]
    )
