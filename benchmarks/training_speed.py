"""Benchmarks the training engine against the targets of issue 6.

Run from the repository root (about 20 minutes on 2 cores):

    .venv/bin/python -m benchmarks.training_speed
    .venv/bin/python -m benchmarks.training_speed --parts demo,demo_run

(a subset of parts writes training_speed_demo_demo_run.json and .md, not
over the whole run's figures).

Each part runs in its own process (so memory and caches do not mix) and
writes its figures; the whole run writes benchmarks/results/
training_speed.json and .md (machine, date and versions included) and
prints the Markdown. Parts:

* throughput: a Ti/16 path with 3 blocks at 32 px, batch 512, the last
  block, encoder norm and head trainable: images/s of the engine (XLA on and
  off) beside plain Keras `model.fit` on the same layers and trainable set,
  and the step's matmul FLOP/s against a 4096² float32 matmul.
* demo: the "ViT tiny 0 layers" setting (Ti/16, patch 16, 32 px, batch
  512, N_v = 8, N_e = 4, 2 validation batches of 500; spec §8.1): wall time
  per candidate and overhead fraction over a sequence of µ2Net-like
  candidates (layers drift 0-3, parts cloned with p = 0.2).
* demo_spec: the whole run of spec §8.1 (3 tasks × 32 candidates, two
  passes: 192 candidates; bangla N_v = 8 and 2 validation batches, the
  others N_v = 4 and 1), one by one, XLA off: the overhead of a run whose
  structures recur.
* demo_run: the README's main job, configs/demo.py (4 embedded tasks, 10
  candidates each, batch 128), through the controller: each
  generation's wall time split into the engine's timers, the state saved
  after it, and the rest (mutation, child building, data pipelines).
* fused: 8 candidates fused in one graph versus one by one (N_v = 4,
  N_e = 2), on first sight of their structures (cold) and on reuse (warm):
  ti0-like candidates (new trainable blocks, little to share), ti3-like
  ones (a frozen 3-block root, parts cloned with p = 0.1: a shared trunk)
  and ti12-like ones (a whole Ti/16 root, the same way); beside each, the
  group's matmul FLOPs against the 8 candidates' sum, the ratio fusing can
  reach where one candidate already keeps the device busy.
* generations: 6 generations of 8 new ti0-like or ti3-like candidates
  each (as a controller makes them), fused versus one by one: a fused
  group's structure rarely recurs, a single candidate's often does.
* memory: resident memory over 200 ti0-like candidates (N_v = N_e = 2,
  batch 128: memory is about graphs, executables and variables, not
  batch size); `MU2KERAS_BENCH_CACHED=N` sets the workspaces kept.
* retention: 100 small distinct tf.functions, each traced, run once and
  dropped (kernel cache cleared): the memory TensorFlow keeps, XLA off and
  on. With XLA it keeps every program it compiled (no eviction), which is
  what the memory_xla part's growth is made of.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from benchmarks import study  # noqa: E402
from benchmarks import training_report  # noqa: E402
from benchmarks import training_workloads as w  # noqa: E402
from configs import demo  # noqa: E402
from mu2keras import training  # noqa: E402

BATCH = 512
IMAGE = 32
REFERENCE_SECONDS = 15.0  # The reference notebook, these 2 cores (issue 6).
# (name, root blocks, clone probability) of the fused comparisons: ti0-like
# candidates share little, ti3- and ti12-like ones a frozen trunk. The
# generations part runs the first two (ti12's would add about 8 minutes).
FUSED_SETTINGS = (("ti0", 0, 0.2), ("ti3", 3, 0.1), ("ti12", 12, 0.1))
# Spec §8.1's tasks in their order: (name, N_v, validation batches of 500);
# N_e = 4 for all. Bangla has 4,000 training images, the others 2,000.
SPEC_RUN = (("bangla", 8, 2), ("devanagari", 4, 1), ("telugu", 4, 1))


def part_throughput(steps=12):
    factory = w.PathFactory("Ti/16", 3, IMAGE)
    train, val = w.datasets(IMAGE, BATCH, 1, BATCH)
    results = {}

    def engine(jit):
        trainer = training.Trainer(jit_compile=jit)
        cand = factory.candidate(3, {"encoderblock_2"})
        trainer.train([cand], train, val, steps, 1)  # Compiles.
        cand = factory.candidate(3, {"encoderblock_2"})
        result = trainer.train([cand], train, val, steps, 1)[0]
        seconds = result.timings["train"]
        flops = w.matmul_flops(cand, IMAGE, "Ti/16") * BATCH * steps
        return {
            "images_per_s": steps * BATCH / seconds,
            "flops": flops / seconds,
        }

    def fit(jit):
        cand = factory.candidate(3, {"encoderblock_2"})
        model = w.keras_model(cand, IMAGE)
        model.compile(
            optimizer=keras.optimizers.SGD(
                0.01, momentum=0.9, global_clipnorm=1.0
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        model.fit(train, steps_per_epoch=steps, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(train, steps_per_epoch=steps, epochs=1, verbose=0)
        return {"images_per_s": steps * BATCH / (time.perf_counter() - start)}

    # Interleaved, three times; the best sample is kept (two were not
    # enough on these shared cores: the order of the engine and fit flipped
    # between runs of the same code).
    for _ in range(3):
        for name, run in (
            ("engine_tf", lambda: engine(False)),
            ("fit_auto", lambda: fit("auto")),
            ("engine_xla", lambda: engine(True)),
            ("fit_xla", lambda: fit(True)),
        ):
            sample = run()
            best = results.get(name)
            if best is None or sample["images_per_s"] > best["images_per_s"]:
                results[name] = sample
    results["matmul_peak_flops"] = w.matmul_peak()
    return results


def candidate_sequence(count, seed=0, root_layers=0, mu=0.2):
    """µ2Net-like candidates: ti0 (root of 0 blocks) or with a root."""
    factory = w.PathFactory("Ti/16", root_layers, IMAGE)
    rng = np.random.default_rng(seed)
    if root_layers:
        names = list(factory.root.components)[:-2]
        return factory, [
            factory.candidate(
                root_layers, {n for n in names if rng.uniform() < mu}
            )
            for _ in range(count)
        ]
    return factory, [factory.mutated(rng, mu) for _ in range(count)]


def _one_by_one(cands, schedule, jit=False):
    """Trains `cands` one at a time, the i-th by `schedule[i]`'s settings."""
    train, _ = w.datasets(IMAGE, BATCH, 2, 500)
    vals = {}
    trainer = training.Trainer(jit_compile=jit, fused=False)
    rows = []
    for cand, (task, steps, val_batches) in zip(cands, schedule, strict=True):
        if val_batches not in vals:
            vals[val_batches] = w.datasets(IMAGE, BATCH, val_batches, 500)[1]
        start = time.perf_counter()
        result = trainer.train([cand], train, vals[val_batches], steps, 4)[0]
        row = dict(result.timings, wall=time.perf_counter() - start)
        row.update(reused=result.reused, task=task)
        rows.append(row)
    return {"jit": jit, "rows": rows, "structures": trainer.cache.misses}


def part_demo(count=24, jit=False):
    _, cands = candidate_sequence(count)
    return _one_by_one(cands, [SPEC_RUN[0]] * count, jit)


def part_demo_spec(per_task=32, passes=2):
    """Spec §8.1's whole run, 192 candidates: how first sights amortise."""
    schedule = [
        setting
        for _ in range(passes)
        for setting in SPEC_RUN
        for _ in range(per_task)
    ]
    _, cands = candidate_sequence(len(schedule))
    return _one_by_one(cands, schedule)


def part_demo_run():
    """The README's main job (configs/demo.py) through the controller."""
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        rows, saves = w.controller_run(demo.get_config(), workdir)
        total = time.perf_counter() - start
    return {"rows": rows, "saves": saves, "seconds": total}


def part_fused(k=8, steps=4, validations=2):
    train, val = w.datasets(IMAGE, BATCH, 2, 500)
    out = {}
    for setting, root_layers, mu in FUSED_SETTINGS:
        for fused in (True, False):
            trainer = training.Trainer(fused=fused)
            times = []
            for _ in ("cold", "warm"):  # New candidates, same structures.
                _, cands = candidate_sequence(k, 0, root_layers, mu)
                start = time.perf_counter()
                trainer.train(cands, train, val, steps, validations)
                times.append(time.perf_counter() - start)
            out[f"{setting}_{'fused' if fused else 'one_by_one'}"] = times
        # The last call's candidates: every call's have the same structures.
        out[f"{setting}_flops_ratio"] = w.group_matmul_flops(
            cands, IMAGE, "Ti/16"
        ) / sum(w.matmul_flops(cand, IMAGE, "Ti/16") for cand in cands)
    return out


def part_generations(generations=6, k=8, steps=4, validations=2):
    """As a controller runs: fresh candidates every generation."""
    train, val = w.datasets(IMAGE, BATCH, 2, 500)
    out = {}
    for setting, root_layers, mu in FUSED_SETTINGS[:2]:
        for fused in (True, False):
            trainer = training.Trainer(fused=fused)
            start = time.perf_counter()
            for generation in range(generations):
                _, cands = candidate_sequence(k, generation, root_layers, mu)
                trainer.train(cands, train, val, steps, validations)
            out[f"{setting}_{'fused' if fused else 'one_by_one'}"] = {
                "seconds": time.perf_counter() - start,
                "traced": trainer.cache.misses,
                "generations": generations,
            }
    return out


def part_memory(count=200, jit=False, batch=128):
    _, cands = candidate_sequence(count, seed=1)
    train, val = w.datasets(IMAGE, batch, 2, 100)
    kept = os.environ.get("MU2KERAS_BENCH_CACHED")  # None: the default.
    trainer = training.Trainer(
        jit_compile=jit,
        fused=False,
        max_cached_structures=None if kept is None else int(kept),
    )
    rss = []
    for i, cand in enumerate(cands):
        trainer.train([cand], train, val, 2, 2)
        cands[i] = None  # The controller drops discarded candidates.
        if (i + 1) % 10 == 0:
            rss.append((i + 1, w.rss_mb()))
    return {"jit": jit, "rss": rss, "structures": trainer.cache.misses}


def part_retention(count=100):
    """What TensorFlow keeps of dropped functions, XLA off, then on."""
    return {
        "functions": count,
        "xla_off_mb": w.retained_by_tensorflow(count, jit=False),
        "xla_on_mb": w.retained_by_tensorflow(count, jit=True),
    }


PARTS = {
    "throughput": part_throughput,
    "demo": part_demo,
    "demo_xla": lambda: part_demo(count=16, jit=True),
    "demo_spec": part_demo_spec,
    "demo_run": part_demo_run,
    "fused": part_fused,
    "generations": part_generations,
    "memory": part_memory,
    "memory_xla": lambda: part_memory(jit=True),
    "retention": part_retention,
}


def run_part(name):
    """Runs one part in a fresh process; returns its JSON output."""
    start = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.training_speed", "--part", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if process.returncode:
        raise RuntimeError(f"Part {name} failed:\n{process.stderr[-3000:]}")
    output = json.loads(process.stdout.strip().splitlines()[-1])
    output["part_seconds"] = time.perf_counter() - start
    print(f"{name}: {output['part_seconds']:.0f} s", file=sys.stderr)
    return output


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=sorted(PARTS))
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if args.part:
        print(json.dumps(PARTS[args.part]()))
        return
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; known: {sorted(PARTS)}")
    figures = {"machine": w.machine(), "command": " ".join(sys.argv)}
    for name in parts:
        figures[name] = run_part(name)
    markdown = training_report.markdown(figures, BATCH, REFERENCE_SECONDS)
    # A subset of parts does not overwrite the whole run's figures.
    name = "training_speed"
    if set(parts) != set(PARTS):
        name += "_" + "_".join(parts)
    study.write_outputs(name, figures, markdown, out=args.out)


if __name__ == "__main__":
    main()
