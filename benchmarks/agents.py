r"""Agents (issue 22): 2 agents × 2 tasks against 1 controller × 4 tasks.

Run from the repository root (2 cores; figures in docs/benchmarks.md):

    .venv/bin/python -m benchmarks.agents
    .venv/bin/python -m benchmarks.agents --smoke   # CI: about 2 minutes

The same setting on both sides (configs/agent.py: the random-root demo's
Ti/16 without blocks, paths of up to 2 blocks at 32 px, auto-tune v2),
the same candidates per task (`--candidates` per visit, `--cycles`
visits), the same seed:

* sequential: one `launch.evolve` process, one controller visiting the
  four tasks in turn, `--cycles` times;
* agents: two `launch.agent` processes started together on one shared
  system directory, each owning two of the tasks (its `--task=A,B`), each
  visiting its own in turn, `--cycles` times.

Measured: wall time from the first process's start to the last one's exit
(their start-up included on both sides), each task's test accuracy and
accounted parameters (its best path in the finished system: the
sequential run's last state, the agents' `agents.load_system`), and reuse:
the tasks whose best path uses components another task trained
(`reused_from` of the report's leaderboard) and, for the agents, the
tasks whose best path uses components another *agent* trained (by the
components' stable keys, `agents.load_system`). Writes OUT/agents.json and
.md (`--smoke`: agents_smoke.*, two tasks, one each).
"""

import argparse
import os
import subprocess
import sys
import time

from benchmarks import study
from configs import demo_random
from mu2keras import agents
from mu2keras.agents import layout
from mu2keras.report import tables
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib

NAME = "agents"
TASKS = tuple(demo_random.TASKS)  # fashion_mnist, mnist, digits, textures
# Each agent owns two tasks, interleaved so that both start with a large
# set and neither waits on the other's.
SPLIT = ((TASKS[0], TASKS[2]), (TASKS[1], TASKS[3]))
SMOKE_SPLIT = (("embedded/digits",), ("embedded/textures",))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


def main(argv=None):
    args = _parser().parse_args(argv)
    args.candidates = args.candidates or (2 if args.smoke else 4)
    split = SMOKE_SPLIT if args.smoke else SPLIT
    tasks = [t for group in zip(*split, strict=True) for t in group]
    workdir = storage.join(args.workdir, NAME + "_smoke" * args.smoke)
    if storage.exists(workdir):
        storage.rmtree(workdir)
    storage.makedirs(workdir)
    overrides = [
        f"--config.num_samples_per_task={args.candidates}",
        f"--config.num_task_iters={args.cycles}",
        f"--config.seed={args.seed}",
    ]
    arg = "runlocal," if args.smoke else ""
    sequential = _sequential(workdir, arg, tasks, overrides)
    agent_side = _agents(workdir, arg, split, overrides)
    figures = {
        "smoke": args.smoke,
        "tasks": tasks,
        "split": [list(group) for group in split],
        "candidates_per_visit": args.candidates,
        "cycles": args.cycles,
        "seed": args.seed,
        "sequential": sequential,
        "agents": agent_side,
    }
    name = NAME + "_smoke" * args.smoke
    study.write_outputs(name, figures, markdown(figures), None, args.out)
    return 0


def _sequential(workdir, arg, tasks, overrides):
    directory = storage.join(workdir, "sequential")
    config = f"--config=configs/agent.py:{arg}tasks={'+'.join(tasks)}"
    seconds = _timed(
        [_command("evolve", config, f"--workdir={directory}", *overrides)]
    )
    population = state_lib.load_state(directory).population
    return dict(_system(population), seconds=seconds)


def _agents(workdir, arg, split, overrides):
    system = storage.join(workdir, "system")
    config = f"--config=configs/agent.py:{arg}".rstrip(",:")
    commands = [
        _command(
            "agent",
            config,
            f"--system={system}",
            "--task=" + ",".join(group),
            *overrides,
        )
        for group in split
    ]
    seconds = _timed(commands)
    loaded = agents.load_system(system)
    population = loaded.population
    keys = loaded.config["component_keys"]  # id -> "AGENT:ID" / "root:ID"
    figures = _system(population)
    for group in split:
        name = "-".join(map(agents.agent_name, group))  # launch.agent's
        for task in group:
            path = population.best_path(task)
            trainers = {keys[str(c.id)].split(":")[0] for c in path.components}
            row = figures["tasks"][task]
            row["other_agents"] = sorted(trainers - {name, layout.ROOT})
            row["reuses_other_agent"] = bool(row["other_agents"])
    return dict(figures, seconds=seconds)


def _command(launcher, *args):
    return [sys.executable, "-m", f"launch.{launcher}", *args]


def _timed(commands):
    """Starts `commands` together; the seconds until the last exits."""
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            c, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for c in commands
    ]
    errors = [p.communicate()[1] for p in processes]
    seconds = time.perf_counter() - start
    for command, process, error in zip(
        commands, processes, errors, strict=True
    ):
        if process.returncode:
            raise RuntimeError(
                f"{' '.join(command[2:])} exited with {process.returncode}: "
                f"{error.decode()[-2000:]}"
            )
    return seconds


def _system(population):
    """Per task: test accuracy, accounted params, the tasks it reuses
    (the report's `reused_from`: right for one controller's history; an
    agents' system has no common history, so `_agents` adds what each path
    takes from other agents by the components' stable keys)."""
    per_task = {}
    for row in tables.leaderboard(population):
        sources = row["reused_from"].split()
        figures = {
            "test_accuracy": row["test_accuracy"],
            "accounted_params": row["accounted_params"],
            "layers": row["layers"],
            "reused_from": sources,
        }
        per_task[row["task"]] = figures
    return {
        "tasks": per_task,
        "unique_params": population.num_unique_params(),
        "reusing_tasks": sum(bool(f["reused_from"]) for f in per_task.values()),
    }


def markdown(figures):
    """The side-by-side table and the reuse line."""
    seq, ag = figures["sequential"], figures["agents"]
    lines = [
        "| task | sequential test acc. | agents test acc. | sequential "
        "accounted params | agents accounted params | sequential: reuses "
        "tasks | agents: reuses agents |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in figures["tasks"]:
        a, b = seq["tasks"][task], ag["tasks"][task]
        lines.append(
            f"| {task} | {a['test_accuracy']:.3f} | {b['test_accuracy']:.3f} "
            f"| {a['accounted_params']:,} | {b['accounted_params']:,} "
            f"| {' '.join(a['reused_from']) or '-'} "
            f"| {' '.join(b['other_agents']) or '-'} |"
        )
    other = sum(f["reuses_other_agent"] for f in ag["tasks"].values())
    n = len(figures["tasks"])
    lines += [
        "",
        f"Wall time to the finished system: sequential {seq['seconds']:.0f} "
        f"s, agents {ag['seconds']:.0f} s ({ag['seconds'] / seq['seconds']:.2f}"
        "×).",
        f"Best paths using components another task trained: sequential "
        f"{seq['reusing_tasks']} of {n}; using components another agent "
        f"trained: agents {other} of {n}.",
        f"System parameters: sequential {seq['unique_params']:,}, agents "
        f"{ag['unique_params']:,}.",
    ]
    return "\n".join(lines) + "\n"


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--workdir", default="/tmp/mu2keras")
    parser.add_argument("--out", default=study.RESULTS)
    parser.add_argument(
        "--candidates",
        type=int,
        default=None,
        help="Candidates per task visit (default 4; --smoke: 2).",
    )
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser


if __name__ == "__main__":
    sys.exit(main())
