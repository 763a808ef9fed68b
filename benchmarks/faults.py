r"""Fault injection: `kill -9` a run at random moments, resume, compare.

Issue 21's benchmark. Run from the repository root (about 6 minutes on 2
idle cores; 15 when others share them):

    .venv/bin/python -m benchmarks.faults [--kills 20] [--targeted 6]

The run: `launch.evolve` on the random-root demo's `runlocal` config
(configs/demo_random.py: two small tasks on a tiny random ViT, a state
after every generation, the SavedModel refreshed after every task), grown
to 3 iterations of 4 candidates per task (24 candidates, 6 task ends).

1. Reference: the run once, uninterrupted, in WORKDIR/reference. Its
   workdir is polled every 5 ms: when `LAST` moved to each state, and when
   temporaries appeared (`tmp-*`: a state being saved, the `LAST` pointer,
   an export; `.lease-*`: the lease).
2. Kill moments: `--kills` of them, drawn by a seeded RNG (`--seed`),
   uniform over the reference's run (from its start to its `Done:` log
   line). `--targeted` of them aim at saves, alternately exports and state
   saves: drawn uniform over the time before the reference's last such
   save began, each aims at the first such save begun after it, and its
   moment is when the reference began that save.
3. Faulted run, WORKDIR/faulted: `launch.evolve --auto_continue`, killed
   (SIGKILL) at the first moment, resumed by the same command and killed
   at the next one, and so on, then resumed to its end. A moment `u` falls
   where the reference was at `u`: its LAST named state S then, since `d`
   seconds; the attempt is killed `d` seconds after its own LAST reached
   S (after its `Resuming` log line if it resumed from S; `u` seconds
   after its start if S is none and it started afresh). A moment the
   faulted run had already passed (a resume from a later state, or from
   the final one) becomes a kill during the resume's start-up, at the
   fraction `d` is of the reference's step from S to its next commit. A
   kill aimed at a save fires as soon as the attempt (polled every 2 ms)
   shows a new temporary of that save: the state's (or a later one's), or
   an export's once LAST reached the state it exports.
4. After each kill: the temporaries it left (the kill landed inside a
   save; by kind); every `state_*` directory loaded with
   `mu2keras.storage.state.load_state` (the unreadable ones counted, LAST's
   apart); the accepted paths of each readable state. Each resume's
   `Resuming ... from S` line must name the state LAST named.
5. The end: the accepted paths (task, components, hparams, origin,
   quality, score, evaluations) of the reference's final state and of
   every state read after a kill, each looked up in the faulted run's
   final state (lost: missing or different); the two final states
   compared (every weight and momentum tensor bit for bit, the files'
   checksums, the JSON files but the wall-clock `*_time` metrics and the
   `reloads` counters, which count resumes); the two SavedModels: stamped
   with the final state, every signature's outputs bit for bit on the
   same random images.

Writes faults.json, .md and .png to `--out`; exits with status 1 unless
nothing was lost, no state was unreadable, and the final state and
SavedModel are identical. `--smoke`: 1 iteration of 2 candidates per task
and 2 kills (1 aimed at an export), faults_smoke.*.
"""

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from benchmarks import faults_check  # noqa: E402
from benchmarks import faults_report  # noqa: E402
from benchmarks import study  # noqa: E402
from mu2keras.storage import files as storage  # noqa: E402
from mu2keras.storage import state as state_lib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/demo_random.py:runlocal"
SIZES = {  # --smoke: overrides of the runlocal config.
    False: ("--config.num_task_iters=3", "--config.num_samples_per_task=4"),
    True: ("--config.num_task_iters=1", "--config.num_samples_per_task=2"),
}
KILLS = {False: (20, 6), True: (2, 1)}  # (kills, targeted at saves)
TARGETS = ("export", "state")
POLL, FAST_POLL = 0.005, 0.002
READY = re.compile(r"\] (Run: |Resuming )")  # Start-up is over.
DONE = re.compile(r"\] Done: ")
RESUMING = re.compile(r"Resuming (\S+) from (\S+)\.\s*$")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


def temporaries(workdir):
    """{name: kind} of the temporaries in `workdir` now."""
    try:
        entries = storage.names(workdir)
    except tf.errors.NotFoundError:  # Created or renamed meanwhile.
        return {}
    return {n: kind(n) for n in entries if kind(n)}


def kind(name):
    """What a temporary is being written for, or None (not one)."""
    if name.startswith(".lease-"):
        return "lease"
    if not name.startswith(storage.TMP_PREFIX):
        return None
    final = name.partition(".")[2]
    if final.startswith("state_"):
        return "state"
    return {"LAST": "commit", "saved_model": "export"}.get(final, "other")


def last_name(workdir):
    """The state `workdir/LAST` names, or None."""
    try:
        return storage.split(state_lib.latest_state(workdir) or "")[1] or None
    except (tf.errors.NotFoundError, state_lib.StateError):
        return None


class Attempt:
    """One `launch.evolve --auto_continue`: its stderr logged with the time
    of its `Run:` line; its workdir polled (LAST's moves, temporaries)."""

    def __init__(self, workdir, log_path, overrides):
        command = [sys.executable, "-m", "launch.evolve", f"--config={CONFIG}"]
        command += [*overrides, f"--workdir={workdir}", "--auto_continue"]
        self.workdir, self.log_path = workdir, log_path
        self.resumed = last_name(workdir)  # Before it starts.
        self.present = set(temporaries(workdir))  # Not this attempt's.
        self.ready, self.done, self.resume_line = None, None, None
        self.commits = {}
        self.start = time.monotonic()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        with tf.io.gfile.GFile(self.log_path, "w") as log:
            for line in self.process.stderr:
                log.write(line)
                if self.ready is None and READY.search(line):
                    self.ready = time.monotonic()
                if DONE.search(line):
                    self.done = time.monotonic()
                match = RESUMING.search(line)
                if match:
                    self.resume_line = storage.split(match[2])[1]

    def poll(self):
        """Notes LAST's move; {name: kind} of this attempt's temporaries."""
        last = last_name(self.workdir)
        if last and last != self.resumed and last not in self.commits:
            self.commits[last] = time.monotonic()
        now = temporaries(self.workdir)
        return {n: k for n, k in now.items() if n not in self.present}

    def reached(self, name):
        """When LAST first named `name` or a later state, or None."""
        key = faults_check.state_key
        times = [t for s, t in self.commits.items() if key(s) >= key(name)]
        return min(times, default=None)

    def elapsed(self):
        return time.monotonic() - self.start

    def finish(self, kill=False):
        """Kills (SIGKILL) the process if asked; its exit status."""
        if kill and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        status = self.process.wait()
        self._reader.join()
        return status


def reference_run(workdir, log_path, overrides):
    """The uninterrupted run, and when it committed and saved what."""
    attempt = Attempt(workdir, log_path, overrides)
    spans = {}
    while attempt.process.poll() is None:
        now = attempt.elapsed()
        for name, what in attempt.poll().items():
            span = spans.setdefault(
                name,
                {
                    "kind": what,
                    "state": name.partition(".")[2]
                    if what == "state"
                    else None,
                    "start": now,
                    "last": last_name(workdir),
                },
            )
            span["end"] = now
        time.sleep(POLL)
    if attempt.finish():
        raise SystemExit(f"faults: the reference run failed; see {log_path}")
    attempt.poll()
    commits = {s: t - attempt.start for s, t in attempt.commits.items()}
    return {
        "seconds": attempt.elapsed(),
        "ready": attempt.ready - attempt.start,
        "done": attempt.done - attempt.start,
        "commits": commits,
        "saves": sorted(spans.values(), key=lambda s: s["start"]),
    }


def plan(reference, kills, targeted, seed):
    """The kills, by moment: [{"moment": seconds of the reference (a kill
    aimed at a save: when the reference began it), "drawn": the random
    moment, "target": None, "state" or "export", "aim": the state saved or
    exported, "after": the state the reference's LAST named at the moment,
    "offset": seconds since it did}]."""
    rng = random.Random(seed)
    targets = [None] * (kills - targeted)
    targets += [TARGETS[i % len(TARGETS)] for i in range(targeted)]
    result = []
    for target in targets:
        saves = [s for s in reference["saves"] if s["kind"] == target]
        end = max((s["start"] for s in saves), default=reference["done"])
        drawn = moment = rng.uniform(0, end)
        aim = None
        if target:  # The moment becomes that of the save it aims at.
            save = min(
                (s for s in saves if s["start"] >= drawn),
                key=lambda s: s["start"],
            )
            moment, aim = save["start"], save.get("state") or save["last"]
        done = [(t, s) for s, t in reference["commits"].items() if t <= moment]
        committed, after = max(done, default=(0.0, None))
        kill = {"moment": moment, "drawn": drawn, "target": target}
        kill.update(aim=aim, after=after, offset=moment - committed)
        result.append(kill)
    return sorted(result, key=lambda k: k["moment"])


def due(attempt, kill, reference):
    """When a kill not aimed at a save falls in `attempt` (monotonic
    seconds), or None while that is not known yet."""
    key = faults_check.state_key
    after, resumed = kill["after"], attempt.resumed
    final = max(reference["commits"], key=key)
    if key(resumed) > key(after) or resumed == after == final:
        # The attempt resumed past the moment (or with nothing left to
        # do but repair): a kill during its start-up, at the fraction of
        # the reference's where the moment lies between its commits.
        times = sorted([0.0, reference["done"], *reference["commits"].values()])
        end = min(t for t in times if t >= kill["moment"])
        begin = max(t for t in times if t < end) if end else 0.0
        fraction = (kill["moment"] - begin) / max(end - begin, 1e-9)
        return attempt.start + reference["ready"] * fraction
    if after is None:
        return attempt.start + kill["moment"]
    anchor = attempt.ready if resumed == after else attempt.reached(after)
    return None if anchor is None else anchor + kill["offset"]


def aimed(attempt, kill, new):
    """Whether a kill aimed at a save fires: a temporary of that save."""
    key = faults_check.state_key
    if kill["target"] == "state":
        return any(
            k == "state" and key(n.partition(".")[2]) >= key(kill["aim"])
            for n, k in new.items()
        )
    last = attempt.reached(kill["aim"]) or (
        key(attempt.resumed) >= key(kill["aim"])
    )
    return bool(last) and "export" in new.values()


def run_attempt(workdir, log_path, overrides, kill, reference, timeout):
    """One attempt, killed as `kill` says (None: let it end)."""
    attempt = Attempt(workdir, log_path, overrides)
    killed, new, poll = False, {}, POLL
    if kill and kill["target"]:
        poll = FAST_POLL
    while attempt.process.poll() is None:
        new = attempt.poll()
        if attempt.elapsed() > timeout:
            attempt.finish(kill=True)
            raise SystemExit(f"faults: {log_path} ran past {timeout:.0f} s.")
        if kill is not None:
            if kill["target"]:
                killed = aimed(attempt, kill, new)
            else:
                when = due(attempt, kill, reference)
                killed = when is not None and time.monotonic() >= when
        if killed:
            seconds, starting = attempt.elapsed(), attempt.ready is None
            status = attempt.finish(kill=True)
            break
        time.sleep(poll)
    else:
        status = attempt.finish()
        seconds, starting = attempt.elapsed(), False
    record = {
        "log": log_path,
        "resumed_from": attempt.resumed,
        "resume_line_names": attempt.resume_line,
        "seconds": seconds,
        "status": status,
        "killed": killed,
    }
    if killed:
        left = {n: kind(n) for n in set(temporaries(workdir)) - attempt.present}
        record.update(kill, temporaries=left, during_start_up=starting)
        record.update(faults_check.inspect(workdir))
    elif status:
        raise SystemExit(f"faults: an attempt failed ({status}); {log_path}")
    return record


def faulted_run(workdir, logs, overrides, reference, moments):
    """Attempts killed at `moments`, then one to the end."""
    timeout = 10 * reference["seconds"] + 120
    attempts = []
    for kill in [*moments, None]:
        log_path = storage.join(logs, f"attempt_{len(attempts)}.log")
        attempts.append(
            run_attempt(workdir, log_path, overrides, kill, reference, timeout)
        )
        if not attempts[-1]["killed"]:  # It ran to its end.
            break
    return attempts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="A tiny run.")
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--targeted", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="Kill moments.")
    parser.add_argument("--workdir", default="/tmp/mu2keras/faults")
    parser.add_argument("--out", default=study.RESULTS)
    args = parser.parse_args(argv)
    kills, targeted = KILLS[args.smoke]
    kills = kills if args.kills is None else args.kills
    targeted = min(kills, targeted if args.targeted is None else args.targeted)
    overrides = SIZES[args.smoke]
    for name in ("reference", "faulted", "logs"):
        path = storage.join(args.workdir, name)
        if storage.exists(path):
            storage.rmtree(path)
    logs = storage.join(args.workdir, "logs")
    storage.makedirs(logs)
    reference_dir = storage.join(args.workdir, "reference")
    faulted_dir = storage.join(args.workdir, "faulted")
    reference = reference_run(
        reference_dir, storage.join(logs, "reference.log"), overrides
    )
    moments = plan(reference, kills, targeted, args.seed)
    planned = [dict(m) for m in moments]
    start = time.monotonic()
    attempts = faulted_run(faulted_dir, logs, overrides, reference, moments)
    figures = faults_check.summarise(reference_dir, faulted_dir, attempts)
    figures.update(
        config=" ".join([f"--config={CONFIG}", *overrides]),
        smoke=args.smoke,
        seed=args.seed,
        planned_kills=kills,
        plan=planned,
        targeted_kills=targeted,
        reference=reference,
        attempts=[
            {k: v for k, v in a.items() if k != "accepted"} for a in attempts
        ],
        faulted_seconds=time.monotonic() - start,
    )
    name = study.output_name("faults", smoke=args.smoke)
    study.write_outputs(
        name,
        figures,
        faults_report.markdown(figures),
        faults_report.figure(figures),
        args.out,
    )
    if not figures["verdict"]:
        sys.exit(
            "faults: work was lost, a state unreadable, or the final "
            "system differs; see the figures."
        )
    return figures


if __name__ == "__main__":
    main()
