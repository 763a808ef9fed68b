"""One run per work directory, and one writer per run.

* `check_new(workdir)` refuses to start a new run in a workdir that holds
  one (a `LAST` file). `Controller.create` calls it, and so does
  `launch.evolve` before any work.
* `writer(controller)`, around `Controller.run`: takes the workdir's lease
  (`mu2keras.storage.lease`: a second writer gets `LeaseHeld`, naming the
  first),
  checks that `LAST` still names the state the controller started from
  (nothing else wrote there since it was made), repairs the SavedModel
  (`mu2keras.storage.workdir_export`), and releases the lease however the run
  ends. In a multi-worker run only the chief takes the lease, and only it
  writes states and the SavedModel (`is_chief`: the worker that
  checkpoints, host 0 of a TPU pod slice); the others train the same
  candidates in step and write nothing.
"""

import contextlib
import os
import sys

from mu2keras.storage import files as storage
from mu2keras.storage import lease as lease_lib
from mu2keras.storage import state as state_lib
from mu2keras.storage import workdir_export


class WorkdirError(ValueError):
    """The workdir does not hold what the run expects; names it."""


def check_new(workdir):
    """Raises `WorkdirError` if `workdir` already holds a run."""
    last = state_lib.latest_state(workdir)
    if last is not None:
        raise WorkdirError(
            f"{workdir} already holds a run (last state {last}); resume it "
            "with Controller.resume (launch.evolve: pass --auto_continue), "
            "or choose a new workdir."
        )


def check_unchanged(workdir, loop, generation):
    """Raises `WorkdirError` unless `LAST` names state (loop, generation),
    or is absent for (0, 0): a new run."""
    expected = None
    if (loop, generation) != (0, 0):
        expected = storage.join(workdir, state_lib.state_name(loop, generation))
    last = state_lib.latest_state(workdir)
    if last != expected:
        raise WorkdirError(
            f"{workdir}: LAST names {last or 'no state'}, but this controller "
            f"started from {expected or 'an empty workdir'}: another run "
            "wrote there since. Resume it again (Controller.resume, "
            "--auto_continue), or use a new workdir."
        )


def is_chief(strategy):
    """Whether this worker writes the run's states (and holds the lease).

    `should_checkpoint` names the chief of a multi-worker strategy, but a
    `TPUStrategy` says True on every host of a pod slice launched with
    `--worker=all`; there the TPU VM's worker id (`TPU_WORKER_ID`) decides:
    host 0 only.
    """
    if not strategy.extended.should_checkpoint:
        return False
    worker = os.environ.get("TPU_WORKER_ID", "0").strip() or "0"
    return not worker.isdigit() or int(worker) == 0


def owner():
    """The lease owner of a controller: `Controller.run (PROGRAM)`."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return f"Controller.run ({program or 'python'})"


@contextlib.contextmanager
def writer(controller):
    """Holds `controller.workdir` while the controller runs.

    Yields:
        The held `mu2keras.storage.lease.Lease`, or None on a worker that
        does not checkpoint.

    Raises:
        LeaseHeld: another live writer holds the workdir.
        WorkdirError: `LAST` moved since the controller was made.
    """
    if not is_chief(controller.trainer.strategy):
        yield None
        return
    workdir = controller.workdir
    with lease_lib.acquire(workdir, owner()) as lease:
        check_unchanged(workdir, controller.loop, controller.generation)
        if controller.config.export_saved_model:
            workdir_export.repair(
                workdir,
                controller.population,
                controller.loop,
                controller.generation,
            )
        else:
            workdir_export.clean_temporaries(workdir)
        yield lease
