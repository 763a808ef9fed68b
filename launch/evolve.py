r"""Grows a µ2Net multitask system: the tasks of a config, one after another.

Run from the repository root. A new run, the demo config (the main job):

  python -m launch.evolve --config=configs/demo.py --workdir=/tmp/demo

A config takes an argument after a colon and field overrides:

  python -m launch.evolve --config=configs/ti3_chars.py:method=adapters:16 \
      --config.num_samples_per_task=16 --workdir=/tmp/chars_adapters

Resume an interrupted run where its last state left it (also starts the
run if the workdir has none yet, so the same command survives preemption):

  python -m launch.evolve --config=configs/demo.py --workdir=/tmp/demo \
      --auto_continue

Add a config's tasks to a finished system (the ViT-L/16 stages, spec §4):

  python -m launch.evolve --config=configs/l16_vtab_full.py --tpu=local \
      --continue_from=gs://BUCKET/l16_vit --workdir=gs://BUCKET/l16_vtab_full

Grow a new system whose root is a copy of the best path of a task of a
finished run (with a new head): here the random-root demo's Fashion-MNIST
path, a small ViT trained on its first task, roots a new system:

  python -m launch.evolve --config=configs/demo_random.py --workdir=/tmp/demo
  python -m launch.evolve --config=configs/demo_random.py \
      --workdir=/tmp/promoted --promote_from=/tmp/demo \
      --promote_task=embedded/fashion_mnist

The workdir (local or gs://) receives the states (`state_{loop}_{gen}`,
`LAST`), the whole-system SavedModel (`saved_model`, refreshed after each
task) and TensorBoard scalars (`tensorboard`). One run writes a workdir at a
time: it holds the workdir's `LEASE`, and a second one is refused, naming
the first. See docs/launchers.md.
"""

import json

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment config file, `path.py` or `path.py:arg` (see configs/).",
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory, local or gs:// (states, SavedModel)."
)
_TPU = flags.DEFINE_string(
    "tpu", None, "TPU name or address, or 'local' on a TPU VM."
)
_CONTINUE_FROM = flags.DEFINE_string(
    "continue_from",
    None,
    "A finished run's workdir or state directory: add the config's tasks "
    "to that system (read, never modified).",
)
_PROMOTE_FROM = flags.DEFINE_string(
    "promote_from",
    None,
    "A run's workdir or state directory: the new system's root is a copy of "
    "the best path of --promote_task there (read, never modified). Sets "
    "config.root.promote_from.",
)
_PROMOTE_TASK = flags.DEFINE_string(
    "promote_task",
    None,
    "The task of --promote_from whose best path becomes the root. Sets "
    "config.root.promote_task.",
)
_AUTO_CONTINUE = flags.DEFINE_bool(
    "auto_continue",
    False,
    "Resume the run in --workdir from its last state, if it has one.",
)
_SEED = flags.DEFINE_integer(
    "seed", None, "Overrides config.seed (every random decision of the run)."
)
_LOG_PROGRESS = flags.DEFINE_bool(
    "log_progress", True, "Log a line per candidate, generation and task."
)
flags.mark_flags_as_required(["config", "workdir"])

# Fields that may change when a run resumes: none of them alters a decision.
_RESUMABLE_FIELDS = (
    "data_dir",
    "intermediate_state_secs",
    "keep_states",
    "export_saved_model",
    # How the engine runs, not what it computes: fused and one-by-one
    # training give the same results, XLA the same up to float rounding,
    # so a run started on a TPU may go on on CPUs.
    "fused",
    "jit_compile",
)


def parse_flags(argv):
    """absl's parser, plus one line for an unknown --config.FIELD, and for
    an error the config file raised (e.g. a bad `path.py:ARG`)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        cause = config_file_error(error)
        if cause is None:
            return app.parse_flags_with_usage(argv)  # Prints absl's message.
        raise SystemExit(f"evolve: --config: {cause}") from None
    except AttributeError as error:  # What ml_collections raises for it.
        cause = error.args[0] if error.args else error
        text = cause.args[0] if isinstance(cause, KeyError) else str(cause)
        raise SystemExit(
            f"FATAL Flags parsing error: --config: no field {text}"
        ) from None


def config_file_error(error):
    """The error a config file's `get_config` raised, as one line, if that
    is what `error` (absl's, for a flag) reports; else None.

    ml_collections re-raises it as a ValueError or TypeError holding its
    traceback as text, and absl that as `error`: the original is the
    context of the context.
    """
    wrapped = error.__context__
    if not str(error).startswith(f"flag --{_CONFIG.name}=") or not (
        isinstance(wrapped, (TypeError, ValueError))
        and str(wrapped).startswith("Error whilst parsing config file")
        and wrapped.__context__ is not None
    ):
        return None
    return " ".join(str(wrapped.__context__).split())


def fail(message):
    """Exits with status 1, printing only `message` (no traceback)."""
    raise SystemExit(f"evolve: {message}")


def load_config():
    """The checked config, with --seed applied, and its user tasks (dict
    name -> Task, from `config.user_tasks`)."""
    from mu2keras import experiment

    if _SEED.value is not None and _SEED.value < 0:
        fail(f"--seed must be an int >= 0; got {_SEED.value}.")
    try:
        config = _CONFIG.value
        if _SEED.value is not None:
            config.seed = _SEED.value
        apply_promotion(config)
        experiment.check_config(config)
        user_tasks = check_tasks(config)
    except (AttributeError, KeyError, OSError, ValueError) as error:
        fail(f"--config: {error}")
    return config, user_tasks


def apply_promotion(config):
    """Sets config.root.promote_* from the flags; fails on a wrong mix."""
    source, task = _PROMOTE_FROM.value, _PROMOTE_TASK.value
    if bool(source) != bool(task):
        fail(
            "--promote_from and --promote_task go together (the run or state "
            f"to promote from, and its task); got --promote_from={source!r}, "
            f"--promote_task={task!r}."
        )
    if source:
        config.root.promote_from = source
        config.root.promote_task = task
    if config.root.promote_from and _CONTINUE_FROM.value:
        fail(
            f"--continue_from={_CONTINUE_FROM.value} adds tasks to an existing "
            "system; --promote_from="
            f"{config.root.promote_from} starts a new one from a task's path. "
            "Give one of them."
        )


def check_tasks(config):
    """The tasks of the config's user-task hook; raises on a bad hook, an
    unknown task, or an embedded one whose data is missing."""
    from mu2keras import tasks
    from mu2keras.tasks import task as task_lib
    from mu2keras.tasks import task_hook

    # Calls the hook; an unknown name raises, suggesting close names.
    user_tasks = task_hook.resolve_tasks(config)
    for name in config.tasks:
        task, _ = task_lib.split_private(name)
        if task in tasks.EMBEDDED_TASKS:
            tasks.get_task(task, data_dir=config.data_dir or None)
    return user_tasks


def make_strategy():
    """The run's strategy; a --tpu that cannot be reached fails in one
    line (the resolver's error), before any work."""
    from mu2keras.training import strategy as strategy_lib

    try:
        return strategy_lib.launcher_strategy(_TPU.value)
    except strategy_lib.TpuUnreachable as error:
        fail(f"--tpu={_TPU.value}: {error}")


def check_workdirs(config):
    """Fails unless --workdir, --auto_continue and --continue_from agree.

    Returns:
        The state to resume, or None for a new run.
    """
    from mu2keras.storage import files as storage
    from mu2keras.storage import lease as lease_lib
    from mu2keras.storage import state as state_lib
    from mu2keras.storage import workdir as workdir_lib

    try:
        # The library decides again when the run starts; this fails early.
        lease_lib.check_free(_WORKDIR.value)
        if not _AUTO_CONTINUE.value:
            workdir_lib.check_new(_WORKDIR.value)
    except (lease_lib.LeaseError, ValueError) as error:
        fail(f"--workdir: {error}")
    if state_lib.LAST in storage.names(_WORKDIR.value):  # --auto_continue.
        last = verify_state("--auto_continue", _WORKDIR.value).directory
        check_same_config(config, last)  # Its bytes are verified.
        return last
    for flag, source in (
        ("--continue_from", _CONTINUE_FROM.value),
        ("--promote_from", config.root.promote_from),
    ):
        if source and not {state_lib.LAST, state_lib.MANIFEST} & set(
            storage.names(source)
        ):
            fail(
                f"{flag}={source} is neither a run's workdir (no LAST file) "
                "nor a state directory (no MANIFEST.json)."
            )
        if source:
            verify_state(flag, source, finished=flag == "--continue_from")
    return None


def verify_state(flag, path, finished=False):
    """The state `path` names, verified; a damaged or missing one fails in
    one line, naming any earlier complete state (`finished`: a task's end)
    for the user to choose (never used in its place)."""
    from mu2keras.storage import files as storage
    from mu2keras.storage import state as state_lib

    try:
        return state_lib.verify_state(path)
    except state_lib.StateError as error:
        if flag != "--auto_continue":
            text = state_lib.with_earlier(error, path, flag, finished)
            fail(f"{flag}={path}: {text}")
        earlier, text = state_lib.earlier_state(path), str(error).rstrip(".")
        if earlier:
            text += (
                f". An earlier complete state exists: {earlier}; to resume "
                f"from it, write {storage.split(earlier)[1]} into {path}/LAST"
            )
        fail(f"{flag}: {text}.")


def check_same_config(config, state_dir):
    """A resumed run keeps its config: fails naming the changed fields."""
    from mu2keras import experiment
    from mu2keras.storage import files as storage
    from mu2keras.storage import state as state_lib

    saved = json.loads(storage.read(storage.join(state_dir, state_lib.CONFIG)))
    saved = _flatten(saved.get("experiment", {}))
    given = _flatten(json.loads(json.dumps(config.to_dict())))
    # A field added to the config after the run started had its default.
    defaults = experiment.default_config().to_dict()
    defaults = _flatten(json.loads(json.dumps(defaults)))
    changed = sorted(
        key
        for key in set(saved) | set(given)
        if saved.get(key, defaults.get(key)) != given.get(key)
        and key.split(".")[0] not in _RESUMABLE_FIELDS
    )
    if changed:
        fail(
            "--auto_continue: the config differs from the one the run "
            f"started with in {', '.join(changed)}. Resume with the same "
            "config (and --seed), or use a new --workdir."
        )


def _flatten(tree, prefix=""):
    result = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            result.update(_flatten(value, f"{prefix}{key}."))
        else:
            result[f"{prefix}{key}"] = value
    return result


def create_controller(config, workdir, kwargs):
    """A controller for a new run; a promotion that fails stops it here.

    Builds the root (nothing is written yet), so an unknown, private or
    active --promote_task, or a damaged state, fails without a traceback.
    """
    from mu2keras.evolution import controller as controller_lib

    try:
        return controller_lib.Controller.create(
            config, workdir, continue_from=_CONTINUE_FROM.value, **kwargs
        )
    except ValueError as error:  # StateError is one.
        if config.root.promote_from:
            fail(f"--promote_from={config.root.promote_from}: {error}")
        if _CONTINUE_FROM.value:  # E.g. a mid-task state.
            fail(f"--continue_from={_CONTINUE_FROM.value}: {error}")
        raise


def resume_controller(config, workdir, kwargs):
    """The controller of the run in `workdir`, from its last state."""
    from mu2keras.evolution import controller as controller_lib
    from mu2keras.storage import state as state_lib

    try:
        return controller_lib.Controller.resume(config, workdir, **kwargs)
    except state_lib.StateError as error:  # Verified, yet inconsistent.
        fail(f"--auto_continue: {error}")


def run(controller):
    """Runs the controller; fails in one line if another writer holds the
    workdir, or took it over."""
    from mu2keras.storage import lease as lease_lib
    from mu2keras.storage import workdir as workdir_lib

    try:
        return controller.run()
    except (lease_lib.LeaseError, workdir_lib.WorkdirError) as error:
        fail(f"--workdir: {error}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config, user_tasks = load_config()
    resume = check_workdirs(config)
    import tensorflow as tf

    from mu2keras import progress as progress_lib
    from mu2keras.storage import state as state_lib

    progress_lib.quiet_tensorflow_info()
    workdir = _WORKDIR.value
    strategy = make_strategy()
    devices = [d.name for d in tf.config.list_logical_devices()]
    logging.info("TensorFlow %s, devices %s", tf.__version__, devices)
    logging.info(
        "Strategy %s, %d replicas",
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
    )
    logging.info("Config:\n%s", config)
    kwargs = dict(
        tasks=user_tasks,
        strategy=strategy,
        progress=progress_lib.RunProgress(
            workdir, log_lines=_LOG_PROGRESS.value
        ),
    )
    if resume:
        logging.info("Resuming %s from %s.", workdir, resume)
        controller = resume_controller(config, workdir, kwargs)
    else:
        controller = create_controller(config, workdir, kwargs)
    population = run(controller)
    logging.info(
        "Done: %d tasks in %s; last state %s.",
        len(population.tasks),
        workdir,
        state_lib.latest_state(workdir),
    )


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
