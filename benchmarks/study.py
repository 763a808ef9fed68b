"""What the study benchmarks share: the root, the systems, the outputs.

The study (configs/study.py) grows systems from one root. With the DINOv2
root (`root="dinov2"`, the default) that is the pretrained checkpoint
itself: there is nothing to train first, and `root_system` returns "".
With the Mu/4 root (`root="mu4"`, issue 8's figures) it is a small ViT
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
from mu2keras.evolution import accuracy_record
from mu2keras.evolution import controller as controller_lib
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib

RESULTS = "benchmarks/results"
DEFAULT_WORKDIR = "/tmp/mu2keras/study"

__all__ = [
    "RESULTS",
    "accuracy_matrix",
    "add_root_flag",
    "arg_parser",
    "config",
    "grow",
    "machine",
    "mean_std",
    "output_name",
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


def add_root_flag(parser):
    """Adds `--root dinov2|mu4` (configs/study.py's `root=`)."""
    parser.add_argument(
        "--root",
        default="dinov2",
        choices=study.ROOTS,
        help="The study's root: the DINOv2 ViT-S/14 checkpoint (default) or "
        "the Mu/4 ViT trained on Fashion-MNIST (issue 8's figures).",
    )
    return parser


def output_name(name, root="dinov2", smoke=False):
    """A benchmark's output name: "quality", "quality_mu4_smoke"..."""
    return name + ("_mu4" if root == "mu4" else "") + ("_smoke" * smoke)


def config(
    stage="grow",
    method="mu2net",
    seed=0,
    smoke=False,
    root_dir="",
    root="dinov2",
    budget=study.DEFAULT_BUDGET,
    lr=None,
    extra=None,
):
    """The experiment config of a study stage (configs/study.py); `lr`
    None: the method's own (`configs.study.METHOD_LR`); `extra`: more of
    its arguments, e.g. {"val": 1024}."""
    arg = f"root={root},stage={stage},method={method},budget={budget}"
    arg += f",lr={lr}" if lr else ""
    arg += "".join(f",{key}={value}" for key, value in (extra or {}).items())
    c = study.get_config(arg + (",smoke" if smoke else ""))
    c.seed = seed
    if stage == "grow" and root == "mu4":
        c.root.promote_from = root_dir
    return c


# Config fields added after runs were kept, at the value that computes what
# those runs computed: left out of a run's fingerprint (`config_text`), so
# that adding a field does not invalidate every kept run.
NEUTRAL_FIELDS = {"compute_dtype": "float32"}


def config_text(c):
    """The config as canonical JSON, the fingerprint of a kept run."""
    fields = c.to_dict()
    for key, value in NEUTRAL_FIELDS.items():
        if fields.get(key) == value:
            del fields[key]
    return json.dumps(fields, sort_keys=True, default=str)


def run_name(method, seed, budget=None):
    """A directory name: "freeze_bottom-1_s0", "mu2net_b8_s0"."""
    budget = "" if budget is None else f"_b{budget}"
    return f"{method.replace(':', '-').replace('/', '-')}{budget}_s{seed}"


def root_system(workdir, smoke=False, root="dinov2"):
    """The study's root system, trained once per workdir (Mu/4 only).

    Returns:
        Its run directory, for `grow`'s `root_dir` (promotion); "" for the
        DINOv2 root, a checkpoint that every config names itself.
    """
    if root == "dinov2":
        return ""
    directory = storage.join(workdir, "smoke_root" if smoke else "root")
    if state_lib.latest_state(directory) is None:
        c = config("root", smoke=smoke, root="mu4")
        controller_lib.Controller.create(c, directory).run()
    return directory


def grow(
    method,
    seed,
    workdir,
    root_dir,
    smoke=False,
    tasks=None,
    root="dinov2",
    budget=None,
    name=None,
    lr=None,
    extra=None,
    **kwargs,
):
    """Grows a study system over `tasks` (default: the study's tasks).

    Args:
        method: str. A method of `configs.study.methods(root)`; "scratch"
            trains an independent model per task from a random root.
        seed: int. The run's seed.
        workdir: str. Parent of the run directory (replaced if present).
        root_dir: str. The root system (`root_system`), for promotion.
        smoke: bool. The tiny smoke budget.
        tasks: dict name -> `Task` or None. Tasks to learn instead of the
            study's (e.g. relabelled copies, or one task alone); their
            names become the run's task list, in order.
        root: str. "dinov2" or "mu4" (configs/study.py's `root=`).
        budget: int or None. µ2Net's candidates per task (None: the
            config's default); the run directory's name carries it.
        name: str or None. The run directory's name in place of the
            method's (`run_name`).
        lr: float or None. The learning rate in place of the method's.
        extra: dict or None. More configs/study.py arguments (`config`).
        **kwargs: passed to `Controller.create` (e.g. `progress`).

    Returns:
        `(population, seconds)`: the grown system and the wall time.
    """
    if method == "scratch":
        stage, method = "scratch", "finetune_all"
        name = name or "scratch"
    else:
        stage = "grow"
    budget_arg = budget or study.DEFAULT_BUDGET
    c = config(
        stage, method, seed, smoke, root_dir, root, budget_arg, lr, extra
    )
    if tasks:
        c.tasks = list(tasks)
    directory = storage.join(workdir, run_name(name or method, seed, budget))
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


def accuracy_matrix(directory):
    """The accuracy matrix recorded in a run's last state (its config),
    `mu2keras.evolution.accuracy_record`; [] when there is none."""
    state = state_lib.latest_state(directory)
    if state is None:
        return []
    text = storage.read(storage.join(state, state_lib.CONFIG))
    return accuracy_record.from_config(json.loads(text))


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
