"""The four launchers, end to end in subprocesses, on the demo's runlocal.

evolve → export → report → predict, as `scripts/demo.sh` runs them; an
evolve killed at a random point and resumed with `--auto_continue`; and
wrong flags and config values, which must fail before any work.
"""

import concurrent.futures
import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mu2keras import report
from mu2keras.storage import state as state_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
DEMO = "--config=configs/demo.py:runlocal"
TASKS = ["embedded/digits", "embedded/textures"]
NUM_LOOPS = 4  # 2 iterations × 2 tasks.
NUM_CANDIDATES = NUM_LOOPS * 3
LOOPS_OF = {"embedded/digits": {1, 3}, "embedded/textures": {2, 4}}
CANDIDATE_LINE = re.compile(
    r"\[(embedded/\w+)\] gen (\d)/3 cand 1/1: path \d+ from path \d+ .*, "
    r"trained \d+ steps in 2 evaluations, loss [\d.]+, validation "
    r"\d\.\d{4} (accepted|rejected) .* \| best so far \d\.\d{4} \| ETA \S+"
)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


def command(launcher, *args):
    return [sys.executable, "-m", f"launch.{launcher}", *map(str, args)]


def launch(launcher, *args, check=True, env=None):
    """Runs `python -m launch.LAUNCHER ARGS` from the repository root;
    `check`: raises, with its stderr, if it fails."""
    result = subprocess.run(
        command(launcher, *args),
        cwd=ROOT,
        env=ENV if env is None else env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and result.returncode:
        raise AssertionError(
            f"{launcher} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo pipeline at its runlocal size: every launcher once."""
    workdir = tmp_path_factory.mktemp("demo")
    runs = {"evolve": launch("evolve", DEMO, f"--workdir={workdir}")}
    runs["export"] = launch(
        "export", f"--state={workdir}", f"--output={workdir}/export"
    )
    runs["report"] = launch("report", f"--state={workdir}")
    runs["predict"] = launch(
        "predict", f"--model={workdir}/export", "--examples=2"
    )
    return workdir, runs


def test_evolve_grows_every_task_and_logs_progress(demo):
    workdir, runs = demo
    log = runs["evolve"].stderr
    lines = CANDIDATE_LINE.findall(log)
    assert len(lines) == NUM_CANDIDATES, log[-3000:]
    assert {task for task, _, _ in lines} == set(TASKS)
    assert len(re.findall(r"generation \d/3 done: \d/1 accepted", log)) == 12
    assert re.search(r"run 12/12 candidates, ETA 0s", log)
    done = re.findall(r"task done .* immutability check passed", log)
    assert len(done) == NUM_LOOPS
    assert "Config:" in log and "devices ['/device:CPU:0'" in log
    loaded = state_lib.load_state(str(workdir))
    assert (loaded.loop, loaded.generation) == (NUM_LOOPS, 0)
    assert loaded.population.tasks == TASKS
    assert loaded.config["experiment"]["tasks"] == TASKS
    assert os.path.isdir(workdir / "saved_model")


def test_tensorboard_has_task_and_candidate_scalars(demo):
    workdir, _ = demo
    scalars, plugins = {}, set()
    logdir = workdir / "tensorboard"
    for name in os.listdir(logdir):
        for event in tf.compat.v1.train.summary_iterator(str(logdir / name)):
            for value in event.summary.value:
                plugins.add(value.metadata.plugin_data.plugin_name)
                number = float(tf.make_ndarray(value.tensor))
                scalars.setdefault(value.tag, {})[event.step] = number
    assert plugins == {"scalars"}
    population = state_lib.load_state(str(workdir)).population
    for task in TASKS:
        best = population.best_path(task)
        tag = f"tasks/{task}/best_validation_accuracy"
        assert set(scalars[tag]) == LOOPS_OF[task]  # Steps: loops done.
        last = scalars[tag][max(scalars[tag])]
        assert last == pytest.approx(best.metrics["quality"])
        test = scalars[f"tasks/{task}/best_test_accuracy"]
        assert test[max(test)] == pytest.approx(best.metrics["test_quality"])
        for key in ("train_loss", "validation_accuracy", "train_seconds"):
            assert len(scalars[f"candidates/{task}/{key}"]) == 6
    assert len(scalars["system/accounted_params"]) == NUM_LOOPS


def test_export_writes_a_saved_model_that_predicts(demo):
    workdir, runs = demo
    out = runs["export"].stdout
    assert (
        "signature task_embedded_digits (uint8: task_embedded_digits_uint8): "
        "embedded/digits" in out
    )
    assert "serving_default (routed; uint8: routed_uint8)" in out
    model = tf.saved_model.load(str(workdir / "export"))
    for task in TASKS:
        name = "task_" + task.replace("/", "_")
        assert {name, name + "_uint8"} <= set(model.signatures)
    names = model.signatures["task_names"]()["task_names"].numpy()
    assert [n.decode() for n in names] == TASKS
    population = state_lib.load_state(str(workdir)).population
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (3, 20, 20, 1)).astype("float32")
    for task, classes in zip(TASKS, (10, 3), strict=True):
        signature = model.signatures["task_" + task.replace("/", "_")]
        logits = signature(images=tf.constant(images))["logits"].numpy()
        assert logits.shape == (3, classes)
        np.testing.assert_allclose(
            logits, population.predict(task, images), rtol=1e-5, atol=1e-5
        )


def test_report_files_are_valid(demo):
    workdir, runs = demo
    folder = state_lib.latest_state(str(workdir)) + "/report"
    for name in report.REPORT_FILES:
        assert f"{folder}/{name}" in runs["report"].stdout
    for name in ("system_graph.png", "accuracy_vs_params.png"):
        with Image.open(f"{folder}/{name}") as image:
            image.load()
            assert image.format == "PNG" and min(image.size) > 100
    svg = ElementTree.parse(f"{folder}/system_graph.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert set(TASKS) <= texts and "root (frozen)" in texts
    with open(f"{folder}/leaderboard.csv") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == report.LEADERBOARD_COLUMNS
    assert [row["task"] for row in rows] == TASKS
    population = state_lib.load_state(str(workdir)).population
    for row in rows:
        best = population.best_path(row["task"])
        assert float(row["validation_accuracy"]) == pytest.approx(
            best.metrics["quality"], abs=1e-6
        )
        assert 0 <= float(row["test_accuracy"]) <= 1
        assert int(row["layers"]) == best.num_layers
        assert int(row["clones"]) + int(row["shared"]) == len(best.components)
    with open(f"{folder}/stats.json") as f:
        stats = json.load(f)
    assert stats["tasks"] == 2 and stats["candidates"] == NUM_CANDIDATES
    assert stats["total_params"] == population.num_unique_params()
    with open(f"{folder}/report.md") as f:
        markdown = f.read()
    assert "](system_graph.svg)" in markdown
    assert "| embedded/textures |" in markdown


def test_predict_prints_top_k_with_class_names(demo, tmp_path):
    workdir, runs = demo
    out = runs["predict"].stdout
    assert re.search(
        r"embedded/textures test\[1\] \(true \d '(brick|grass|gravel)'\): "
        r"\d '\w+' [01]\.\d{3}, \d '\w+' [01]\.\d{3}, \d '\w+' [01]\.\d{3}",
        out,
    ), out
    assert out.count("embedded/digits test[") == 2
    png = tmp_path / "grey.png"
    Image.fromarray(np.full((12, 9), 200, np.uint8)).save(png)
    batch = tmp_path / "batch.npy"
    np.save(batch, np.zeros((3, 16, 16, 3), np.float32))
    for source in (f"--images={png},{png}", f"--npy={batch}"):
        result = launch(
            "predict",
            f"--model={workdir}",  # A workdir: its last state.
            "--task=embedded/textures",
            "--top_k=1",
            source,
        )
        lines = result.stdout.splitlines()
        assert lines[0] == "embedded/textures:"
        assert len(lines) == (3 if "images" in source else 4)
        assert all(re.search(r": \d '\w+' [01]\.\d{3}$", x) for x in lines[1:])


def test_auto_continue_after_a_kill_loses_nothing_accepted(tmp_path):
    workdir = tmp_path / "run"
    # Kill after a random number of candidates, fixed by the seed.
    kill_after = random.Random(20221).randint(2, NUM_CANDIDATES - 3)
    process = subprocess.Popen(
        command("evolve", DEMO, f"--workdir={workdir}"),
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = 0
    for line in process.stderr:
        seen += bool(CANDIDATE_LINE.search(line))
        if seen == kill_after:
            process.send_signal(signal.SIGKILL)
            break
    process.stderr.close()
    assert process.wait(timeout=60) == -signal.SIGKILL
    before = state_lib.load_state(str(workdir))
    assert before.loop < NUM_LOOPS
    accepted = {
        r["id"]: r
        for r in before.population.history()[0]
        if r["metrics"].get("improved")
    }
    assert accepted
    resumed = launch(
        "evolve",
        DEMO,
        f"--workdir={workdir}",
        "--auto_continue",
        "--nolog_progress",
    )
    assert f"Resuming {workdir} from {before.directory}" in resumed.stderr
    assert not CANDIDATE_LINE.search(resumed.stderr)  # --nolog_progress.
    after = state_lib.load_state(str(workdir))
    assert (after.loop, after.generation) == (NUM_LOOPS, 0)
    assert after.population.tasks == TASKS
    history = {r["id"]: r for r in after.population.history()[0]}
    for path_id, record in accepted.items():
        final = history[path_id]
        for key in ("task", "components", "hparams", "origin_parent_id"):
            assert final[key] == record[key], (path_id, key)
        for key in ("quality", "score", "evals", "improved"):
            assert final["metrics"][key] == record["metrics"][key]
    for task in TASKS:
        assert len(after.population.paths[task]) == 1


# --- Wrong flags and config values fail before any work. ---

BAD_TASK_CONFIG = """
from configs import demo


def get_config(arg=None):
    config = demo.get_config("runlocal")
    config.tasks = ["embedded/digits", "embedded/mnistt"]
    return config
"""


BAD_CASES = (
    "no workdir",
    "unknown flag",
    "config argument",
    "config file",
    "config field",
    "field value",
    "hparam value",
    "task name",
    "continue_from",
    "workdir with a run",
    "changed config",
    "export task",
    "export output",
    "predict sources",
    "predict top_k",
    "predict task",
    "report state",
)


def bad_invocations(workdir, fresh, tmp_path):
    config = tmp_path / "bad_task.py"
    config.write_text(BAD_TASK_CONFIG)
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((1, 8, 8), np.uint8))
    new = f"--workdir={fresh}"
    return {
        "no workdir": (
            ["evolve", DEMO],
            "Flag --workdir must have a value other than None",
        ),
        "unknown flag": (
            ["evolve", DEMO, new, "--worker=3"],
            "Unknown command line flag 'worker'",
        ),
        "config argument": (
            ["evolve", DEMO + ",bogus=1", new],
            "evolve: --config: Unknown config argument 'bogus'",
        ),
        "config file": (
            ["evolve", "--config=configs/nosuch.py", new],
            "evolve: --config: .*configs/nosuch.py",
        ),
        "config field": (
            ["evolve", DEMO, new, "--config.batch_sizes=8"],
            "--config: no field 'batch_sizes'\nDid you mean \"batch_size\"",
        ),
        "field value": (
            ["evolve", DEMO, new, "--config.num_candidates=-1"],
            r"evolve: --config: config.num_candidates must be an int >= 0 "
            r"\(0: one per replica\); got -1",
        ),
        "hparam value": (
            ["evolve", DEMO, new, "--config.hparams.opt_lr=0.3"],
            r"Default opt_lr=0.3 is outside its range",
        ),
        "task name": (
            ["evolve", f"--config={config}", new],
            r"Unknown task 'embedded/mnistt'. Did you mean .*embedded/mnist",
        ),
        "continue_from": (
            ["evolve", DEMO, new, f"--continue_from={tmp_path}/nothing"],
            "--continue_from=.* is neither a run's workdir",
        ),
        "workdir with a run": (
            ["evolve", DEMO, f"--workdir={workdir}"],
            "already holds a run .* pass --auto_continue",
        ),
        "changed config": (
            [
                "evolve",
                DEMO,
                f"--workdir={workdir}",
                "--auto_continue",
                "--config.num_samples_per_task=4",
            ],
            "differs from the one the run started with in num_samples_per_task",
        ),
        "export task": (
            ["export", f"--state={workdir}", f"--output={fresh}", "--task=x"],
            "--task=x is not a task of .*embedded/digits",
        ),
        "export output": (
            ["export", f"--state={workdir}", f"--output={workdir}/export"],
            "exists; pass --overwrite",
        ),
        "predict sources": (
            ["predict", f"--model={workdir}", "--examples=1", f"--npy={npy}"],
            "exactly one of --images, --npy and --examples",
        ),
        "predict top_k": (
            ["predict", f"--model={workdir}", "--examples=1", "--top_k=0"],
            "--top_k must be >= 1",
        ),
        "predict task": (
            ["predict", f"--model={workdir}", f"--npy={npy}", "--task=x"],
            r"--task: \['x'\] not in the model",
        ),
        "report state": (
            ["report", f"--state={tmp_path}/nothing"],
            "report: --state: No state at",
        ),
    }


@pytest.fixture(scope="module")
def failures(demo, tmp_path_factory):
    workdir, _ = demo
    tmp_path = tmp_path_factory.mktemp("bad")
    fresh = tmp_path / "fresh"
    cases = bad_invocations(workdir, fresh, tmp_path)
    before = sorted(os.listdir(workdir))
    return cases, launch_all(cases), (workdir, before), fresh


def launch_all(cases):
    """Runs dict name -> (args, pattern) of launches, 3 at a time."""
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = {
            name: pool.submit(launch, *args, check=False)
            for name, (args, _) in cases.items()
        }
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_flags_and_values_fail_naming_them(failures, name):
    cases, results, _, fresh = failures
    assert sorted(cases) == sorted(BAD_CASES)
    result = results[name]
    assert result.returncode != 0
    found = re.search(cases[name][1], result.stderr, re.DOTALL)
    assert found, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not os.path.exists(fresh)  # No work: nothing written.


def test_failed_invocations_left_the_run_alone(failures):
    _, _, (workdir, before), _ = failures
    assert sorted(os.listdir(workdir)) == before
