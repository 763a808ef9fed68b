"""Reports on a µ2Net system: what a person looks at after a run.

`write_report(state)` reads a state (a run's workdir or a `state_*`
directory) and writes, by default into `STATE_DIR/report/`:

* `report.md`: the leaderboard, the accuracy matrix with forgetting and
  backward transfer, the stats of spec §7.5 and the pictures;
* `leaderboard.csv`: one row per task (`LEADERBOARD_COLUMNS`);
* `stats.json`: averages, parameters and compute time, and under
  `transfer` the accuracy matrix, forgetting and backward transfer;
* `system_graph.{dot,svg,png}`: tasks as chains of components, shared
  components drawn once and coloured by the task that trained them;
* `accuracy_vs_params.png`: every candidate of every task, validation
  accuracy against accounted parameters.
"""

from mu2keras.report.graph import render_dot
from mu2keras.report.graph import system_dot
from mu2keras.report.graph import task_colours
from mu2keras.report.graph import trainers
from mu2keras.report.plots import accuracy_vs_params_png
from mu2keras.report.tables import LEADERBOARD_COLUMNS
from mu2keras.report.tables import leaderboard
from mu2keras.report.tables import leaderboard_csv
from mu2keras.report.tables import markdown_table
from mu2keras.report.tables import system_stats
from mu2keras.report.transfer import backward_transfer
from mu2keras.report.transfer import forgetting
from mu2keras.report.transfer import forward_transfer
from mu2keras.report.writer import REPORT_FILES
from mu2keras.report.writer import write_report

__all__ = [
    "LEADERBOARD_COLUMNS",
    "REPORT_FILES",
    "accuracy_vs_params_png",
    "backward_transfer",
    "forgetting",
    "forward_transfer",
    "leaderboard",
    "leaderboard_csv",
    "markdown_table",
    "render_dot",
    "system_dot",
    "system_stats",
    "task_colours",
    "trainers",
    "write_report",
]
