"""What the study benchmarks share: the root, the systems, the outputs.

The study (configs/study.py) grows systems from one root: a small ViT
trained on embedded Fashion-MNIST (`root_system`), promoted to be the root
of every compared system (`grow`). Each benchmark script prints its table
and writes `NAME.json`, `NAME.md` and `NAME.png` under `--out`
(`write_outputs`), with the machine and versions (`machine`).
"""

import argparse
import io
import json
import sys
import time

import numpy as np

from benchmarks.training_workloads import machine
from configs import study
from mu2keras import state as state_lib
from mu2keras import storage
from mu2keras.evolution import controller as controller_lib

RESULTS = "benchmarks/results"
DEFAULT_WORKDIR = "/tmp/mu2keras/study"

__all__ = [
    "RESULTS",
    "arg_parser",
    "config",
    "grow",
    "machine",
    "mean_std",
    "root_system",
    "run",
    "run_name",
    "verdict",
    "write_outputs",
]


def arg_parser(description, seeds=(0, 1, 2)):
    """The flags every study benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="A tiny run (the 'testing' ViT, a few steps) that checks the "
        "script end to end in a minute; its numbers mean nothing.",
    )
    parser.add_argument(
        "--workdir",
        default=DEFAULT_WORKDIR,
        help="Where systems are grown (local or gs://). The root system in "
        "WORKDIR/root is reused when present.",
    )
    parser.add_argument("--out", default=RESULTS, help="Output folder.")
    parser.add_argument(
        "--seeds",
        default=",".join(str(s) for s in seeds),
        type=lambda text: [int(s) for s in text.split(",") if s],
        help="Comma-separated run seeds.",
    )
    return parser


def config(stage="grow", method="mu2net", seed=0, smoke=False, root_dir=""):
    """The experiment config of a study stage (configs/study.py)."""
    arg = f"stage={stage},method={method}" + (",smoke" if smoke else "")
    c = study.get_config(arg)
    c.seed = seed
    if stage == "grow":
        c.root.promote_from = root_dir
    return c


def run_name(method, seed):
    """A directory name for a method and seed: "freeze_bottom-1_s0"."""
    return f"{method.replace(':', '-')}_s{seed}"


def root_system(workdir, smoke=False):
    """The study's root system (Fashion-MNIST), trained once per workdir.

    Returns:
        Its run directory, for `grow`'s `root_dir` (promotion).
    """
    directory = storage.join(workdir, "smoke_root" if smoke else "root")
    if state_lib.latest_state(directory) is None:
        c = config("root", smoke=smoke)
        controller_lib.Controller.create(c, directory).run()
    return directory


def grow(method, seed, workdir, root_dir, smoke=False, tasks=None, **kwargs):
    """Grows a study system over `tasks` (default: the study's tasks).

    Args:
        method: str. A method of `configs.study.METHODS`; "scratch" trains an
            independent model per task from a random root.
        seed: int. The run's seed.
        workdir: str. Parent of the run directory (replaced if present).
        root_dir: str. The root system (`root_system`), for promotion.
        smoke: bool. The tiny smoke budget.
        tasks: dict name -> `Task` or None. Tasks that are not in the
            registry (e.g. relabelled copies); their names become the run's
            task list, in order.
        **kwargs: passed to `Controller.create` (e.g. `progress`).

    Returns:
        `(population, seconds)`: the grown system and the wall time.
    """
    if method == "scratch":
        c = config("scratch", seed=seed, smoke=smoke)
    else:
        c = config("grow", method, seed, smoke, root_dir)
    if tasks:
        c.tasks = list(tasks)
    directory = storage.join(workdir, run_name(method, seed))
    return run(c, directory, tasks, **kwargs)


def run(config, directory, tasks=None, **kwargs):
    """Grows `config` in `directory` (replaced if present).

    Args:
        config: an experiment ConfigDict.
        directory: str. The run's workdir.
        tasks: dict name -> `Task` or None, for `Controller.create`.
        **kwargs: passed to `Controller.create` (e.g. `progress`).

    Returns:
        `(population, seconds)`: the grown system and the wall time.
    """
    if storage.exists(directory):
        storage.rmtree(directory)
    start = time.perf_counter()
    controller = controller_lib.Controller.create(
        config, directory, tasks=tasks, **kwargs
    )
    return controller.run(), time.perf_counter() - start


def mean_std(values):
    """Mean and std (ddof 1; 0 for one value) of a list of numbers."""
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return {"mean": float(values.mean()), "std": float(std)}


def verdict(met):
    """A target's verdict cell: "met", or "**missed**" in bold."""
    return "met" if met else "**missed**"


def write_outputs(name, figures, markdown, figure=None, out=RESULTS):
    """Prints `markdown`; writes NAME.json, NAME.md and NAME.png to `out`.

    Args:
        name: str. The benchmark's name.
        figures: JSON-able dict (the machine and command are added).
        markdown: str. The table(s).
        figure: a matplotlib Figure or None.
        out: str. The folder (local or gs://).

    Returns:
        The list of paths written.
    """
    figures = dict(figures, machine=machine(), command=" ".join(sys.argv))
    storage.makedirs(out)
    written = []
    for suffix, data in (
        ("json", json.dumps(figures, indent=1, sort_keys=True)),
        ("md", markdown),
    ):
        path = storage.join(out, f"{name}.{suffix}")
        storage.write(path, data)
        written.append(path)
    if figure is not None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        path = storage.join(out, f"{name}.png")
        storage.write(path, buffer.getvalue())
        written.append(path)
    print(markdown)
    return written
