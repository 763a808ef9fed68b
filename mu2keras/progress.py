"""Progress of a run: log lines and TensorBoard scalars.

The controller calls a `Progress` object when `run()` starts, after each
generation (with its children and training results), after each task, and
after each state it saves. The base class does nothing; `RunProgress` logs
a line per candidate and per generation, a summary per task, and writes
TensorBoard scalars under `workdir/tensorboard`:

    tensorboard --logdir WORKDIR/tensorboard
"""

import logging as std_logging
import math
import os
import time

import tensorflow as tf
from absl import logging
from tensorflow.core.framework import summary_pb2

from mu2keras.storage import files as storage
from mu2keras.training import TIMINGS

TENSORBOARD = "tensorboard"
# What `tensorboard.summary.scalar` attaches: the scalars plugin, version 0.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
    data_class=summary_pb2.DATA_CLASS_SCALAR,
)


class Progress:
    """Receives the controller's progress; does nothing (the default)."""

    def run_started(self, controller):
        """`controller.run()` starts (or resumes) at its loop/generation."""

    def generation_done(self, controller, task, children, results):
        """A generation of `task` was trained and its children recorded.

        Args:
            controller: the `Controller`.
            task: str. The task name.
            children: list of `Path`, the generation's children, with their
                metrics (`quality`, `improved`, timings...) filled in.
            results: list of `CandidateResult`, aligned with `children`.
        """

    def task_done(self, controller, task, best):
        """`task` ended: its best path is locked, tested and saved."""

    def state_saved(self, controller, seconds, intermediate):
        """A state was written to `controller.workdir`.

        Args:
            controller: the `Controller`, at the saved loop and generation.
            seconds: float. How long writing it took.
            intermediate: bool. True for a state saved within a task (every
                `intermediate_state_secs`), False at a task's end.
        """


def format_duration(seconds):
    """`95.0` -> "1m35s"; "?" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def format_count(value):
    """`1234567` -> "1.23M"."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"


class RunProgress(Progress):
    """Progress lines (absl INFO) and TensorBoard scalars for a run.

    The estimated time left (ETA) extrapolates the wall time per candidate
    measured in this process, task overheads (tests, saves, exports)
    included, to the candidates left in the run.

    Args:
        workdir: str or None. Scalars go to `workdir/tensorboard` (local or
            gs://); None writes none.
        log_lines: bool. Log the progress lines (`--nolog_progress` turns
            them off; TensorBoard is still written).
    """

    def __init__(self, workdir=None, log_lines=True):
        self.workdir = workdir
        self.log_lines = log_lines
        self._writer = None
        self._start = None
        self._first_candidate = 0

    # --- Counting candidates. ---

    @staticmethod
    def total_candidates(controller):
        return (
            controller.num_loops
            * controller.num_generations
            * controller.candidates_per_generation
        )

    @staticmethod
    def candidates_done(controller, generation_finished=False):
        """Candidates of the run trained before (or with) this generation."""
        generations = (
            controller.loop * controller.num_generations + controller.generation
        )
        generations += 1 if generation_finished else 0
        return generations * controller.candidates_per_generation

    def eta(self, controller):
        """Seconds left in the run, from this process' pace."""
        done = self.candidates_done(controller, generation_finished=True)
        here = done - self._first_candidate
        if self._start is None or here <= 0:
            return None
        pace = (time.monotonic() - self._start) / here
        return pace * max(self.total_candidates(controller) - done, 0)

    # --- The hooks. ---

    def run_started(self, controller):
        self._start = time.monotonic()
        self._first_candidate = self.candidates_done(controller)
        if self.workdir and self._writer is None:
            self._writer = tf.summary.create_file_writer(
                storage.join(self.workdir, TENSORBOARD)
            )
        self._log(
            "Run: %d tasks × %d iterations, %d generations × %d candidates "
            "per task; %d of %d candidates done.",
            len(controller.config.tasks),
            controller.iterations,
            controller.num_generations,
            controller.candidates_per_generation,
            self._first_candidate,
            self.total_candidates(controller),
        )

    def generation_done(self, controller, task, children, results):
        best = _best_quality(controller.population, task)
        eta = format_duration(self.eta(controller))
        k = len(children)
        for i, (child, result) in enumerate(
            zip(children, results, strict=True), 1
        ):
            self._candidate_line(
                controller, task, (i, k), child, result, eta, best
            )
            self._candidate_scalars(task, child, result)
        accepted = sum(bool(c.metrics.get("improved")) for c in children)
        done = self.candidates_done(controller, generation_finished=True)
        self._log(
            "[%s] generation %d/%d done: %d/%d accepted, best so far %s | "
            "run %d/%d candidates, ETA %s",
            task,
            controller.generation + 1,
            controller.num_generations,
            accepted,
            k,
            _quality(best),
            done,
            self.total_candidates(controller),
            eta,
        )
        self._flush()

    def _candidate_line(
        self, controller, task, index, child, result, eta, best
    ):
        parent = child.parent
        origin = "none" if parent is None else f"{parent.id} ({parent.task})"
        evals = result.evaluations
        loss = evals[-1]["train_loss"] if evals else math.nan
        seconds = sum(child.metrics.get(f"{k}_time", 0.0) for k in TIMINGS)
        self._log(
            "[%s] gen %d/%d cand %d/%d: path %d from path %s, depth %d, "
            "trained %d steps in %d evaluations, loss %.3f, validation %s "
            "%s (%s) | best so far %s | ETA %s",
            task,
            controller.generation + 1,
            controller.num_generations,
            *index,
            child.id,
            origin,
            child.num_layers,
            len(result.losses),
            len(evals),
            loss,
            _quality(result.quality),
            "accepted" if result.improved else "rejected",
            format_duration(seconds),
            _quality(best),
            eta,
        )

    def _candidate_scalars(self, task, child, result):
        if self._writer is None:
            return
        m = child.metrics
        values = {
            "validation_accuracy": result.quality,
            "score": result.score,
            "accepted": float(bool(result.improved)),
            "train_loss": (
                result.evaluations[-1]["train_loss"]
                if result.evaluations
                else math.nan
            ),
            "accounted_params": m.get("training_accounted_params", math.nan),
            "num_layers": child.num_layers,
        }
        for key in TIMINGS:
            values[f"{key}_seconds"] = m.get(f"{key}_time", math.nan)
        self._scalars(f"candidates/{task}", values, child.id)

    def task_done(self, controller, task, best):
        pop = controller.population
        checked = controller.config.check_immutability
        others = [p for p in pop.retained_paths() if p.task != task]
        if best is not None:
            m = best.metrics
            self._log(
                "[%s] task done (loop %d/%d): best path %d, depth %d, "
                "validation %s, test %s, %s accounted params; %s",
                task,
                controller.loop,
                controller.num_loops,
                best.id,
                best.num_layers,
                _quality(m.get("quality")),
                _quality(m.get("test_quality")),
                format_count(m.get("final_accounted_params", math.nan)),
                (
                    f"immutability check passed: the {len(others)} other "
                    "retained paths are bit-identical"
                    if checked
                    else "immutability check off"
                ),
            )
            self._scalars(
                f"tasks/{task}",
                {
                    "best_validation_accuracy": m.get("quality", math.nan),
                    "best_test_accuracy": m.get("test_quality", math.nan),
                    "accounted_params": m.get(
                        "final_accounted_params", math.nan
                    ),
                    "num_layers": best.num_layers,
                },
                controller.loop,
            )
        self._scalars(
            "system",
            {
                "num_tasks": len(pop.tasks),
                "accounted_params": pop.system_size() if pop.tasks else 0,
                "unique_params": pop.num_unique_params(),
            },
            controller.loop,
        )
        self._flush()

    # --- Output. ---

    def _log(self, message, *args):
        if self.log_lines:
            logging.info(message, *args)

    def _scalars(self, prefix, values, step):
        if self._writer is None:
            return
        with self._writer.as_default():
            for name, value in values.items():
                write_scalar(f"{prefix}/{name}", value, step)

    def _flush(self):
        if self._writer is not None:
            self._writer.flush()


class _DropTensorFlowInfo(std_logging.Filter):
    _PACKAGE = f"{os.sep}tensorflow{os.sep}"

    def filter(self, record):
        return record.levelno > std_logging.INFO or (
            self._PACKAGE not in record.pathname
        )


def quiet_tensorflow_info():
    """Hides TensorFlow's own INFO lines (how it writes SavedModels...).

    TensorFlow logs through absl, like mu2keras, so `--verbosity` cannot tell
    them apart; this filter on absl's handler drops the INFO records that
    come from TensorFlow's modules. Warnings still show.
    """
    handler = logging.get_absl_handler()
    if not any(isinstance(f, _DropTensorFlowInfo) for f in handler.filters):
        handler.addFilter(_DropTensorFlowInfo())


def write_scalar(tag, value, step):
    """Writes a TensorBoard scalar to the default summary writer.

    `tf.summary.scalar` needs the `tensorboard` pip package, which the
    tensorflow-cpu wheels do not pull in; this writes the same event (the
    scalars plugin's metadata) with TensorFlow alone.
    """
    tf.summary.write(
        tag,
        tf.constant(float(value), tf.float32),
        step=step,
        metadata=_SCALAR_METADATA,
    )


def _best_quality(population, task):
    if not population.paths.get(task):
        return None
    return population.best_path(task).metrics.get("quality")


def _quality(value):
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4f}"
