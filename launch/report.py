r"""Writes the report of a µ2Net system: leaderboard, stats and pictures.

Run from the repository root:

  python -m launch.report --state=/tmp/demo

`--state` is a run's workdir (its last state) or one `state_*` directory,
local or gs://, or a shared system directory of agents (its agents' newest
published paths; no candidates history). The report goes to
`STATE_DIR/report/` (or `--output`):
`report.md` (leaderboard, the stats of analysis.ipynb, the pictures),
`leaderboard.csv`, `stats.json`, the system graph as `system_graph.svg` /
`.png` / `.dot` (tasks as chains of components; a component shared by
several tasks is drawn once, coloured by the task that trained it) and
`accuracy_vs_params.png` (every candidate of every task). The graph needs
Graphviz's `dot` (scripts/setup.sh installs it).
"""

from absl import app
from absl import flags

_STATE = flags.DEFINE_string(
    "state",
    None,
    "A run's workdir, a state_* directory or a shared system of agents "
    "(local or gs://).",
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Report directory (default: STATE_DIR/report)."
)
flags.mark_flags_as_required(["state"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from mu2keras import agents
    from mu2keras import report
    from mu2keras.storage import state as state_lib

    try:
        source = _STATE.value
        if agents.is_system(source):  # Every agent's newest paths.
            source = agents.load_system(source)
        files = report.write_report(source, _OUTPUT.value)
    except agents.AgentError as error:
        raise SystemExit(f"report: --state: {error}") from None
    except (OSError, state_lib.StateError) as error:
        text = state_lib.with_earlier(error, _STATE.value, "--state")
        raise SystemExit(f"report: --state: {text}") from None
    print("Report:")
    for name, path in files.items():
        print(f"  {name:<24} {path}")


if __name__ == "__main__":
    app.run(main)
