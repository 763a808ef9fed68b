r"""Exports a µ2Net system (or one of its tasks) as a TensorFlow SavedModel.

Run from the repository root. The whole system, one signature per task
plus the routed `serving_default` (see mu2keras/storage/export.py):

  python -m launch.export --state=/tmp/demo --output=/tmp/demo/export

One task alone, with only its path's variables:

  python -m launch.export --state=/tmp/demo --task=embedded/digits \
      --output=/tmp/digits_model

`--state` is a run's workdir (its last state) or one `state_*` directory,
local or gs://, or a shared system directory of agents (launch/agent.py):
every agent's newest published paths. The SavedModel needs neither Keras
nor mu2keras to run:

  saved_model_cli show --dir /tmp/demo/export --all
"""

from absl import app
from absl import flags

_STATE = flags.DEFINE_string(
    "state",
    None,
    "A run's workdir, a state_* directory or a shared system of agents "
    "(local or gs://).",
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "The SavedModel directory to write (local or gs://)."
)
_TASK = flags.DEFINE_string(
    "task", None, "Export only this task's path (default: every task)."
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace an existing --output directory."
)
flags.mark_flags_as_required(["state", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from mu2keras import agents
    from mu2keras import progress
    from mu2keras.storage import export
    from mu2keras.storage import files as storage
    from mu2keras.storage import state as state_lib

    if storage.exists(_OUTPUT.value) and not _OVERWRITE.value:
        raise SystemExit(
            f"export: --output={_OUTPUT.value} exists; pass --overwrite to "
            "replace it."
        )
    progress.quiet_tensorflow_info()
    try:
        if agents.is_system(_STATE.value):  # Every agent's newest paths.
            loaded = agents.load_system(_STATE.value)
        else:
            loaded = state_lib.load_state(_STATE.value)
    except agents.AgentError as error:
        raise SystemExit(f"export: --state: {error}") from None
    except (OSError, state_lib.StateError) as error:
        text = state_lib.with_earlier(error, _STATE.value, "--state")
        raise SystemExit(f"export: --state: {text}") from None
    population = loaded.population
    if _TASK.value is not None and _TASK.value not in population.tasks:
        raise SystemExit(
            f"export: --task={_TASK.value} is not a task of {loaded.directory}"
            f"; its tasks: {', '.join(population.tasks)}."
        )
    tasks = None if _TASK.value is None else [_TASK.value]
    names = export.export_system(
        population, _OUTPUT.value, tasks=tasks, overwrite=_OVERWRITE.value
    )
    print(f"SavedModel of {loaded.directory}: {_OUTPUT.value}")
    for task, signature in names.items():
        path = population.best_path(task)
        print(
            f"  signature {signature} (uint8: {signature}{export.UINT8}): "
            f"{task}, {path.num_classes} classes, {path.image_size}px"
        )
    if tasks is None:
        print(
            f"  signature serving_default ({export.ROUTED}; uint8: "
            f"{export.ROUTED}{export.UINT8}): every task"
        )


if __name__ == "__main__":
    app.run(main)
