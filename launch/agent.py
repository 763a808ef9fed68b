r"""Runs one agent of a shared µ2Net system (µ3Net): its task, among others.

Run from the repository root, one process per task, on one machine or
many, all with the same --system (local or gs://):

  python -m launch.agent --config=configs/agent.py --system=/tmp/system \
      --task=embedded/digits
  python -m launch.agent --config=configs/agent.py --system=/tmp/system \
      --task=embedded/textures

Each agent grows its task(s) (`--task=A,B`: both, in order, each cycle)
for config.num_task_iters cycles in SYSTEM/agents/NAME (NAME: --name, by
default its tasks with '/' as '_', joined by '-'),
holding that folder's lease; at the start of each cycle it reloads the
other agents' newest published paths, and at its end checks them bit for
bit. The same command resumes a killed agent from its last state. Then:

  python -m launch.export --state=/tmp/system --output=/tmp/system_model
  python -m launch.report --state=/tmp/system
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment config file, `path.py` or `path.py:arg` (configs/agent.py).",
    lock_config=True,
)
_SYSTEM = flags.DEFINE_string(
    "system", None, "The shared system directory, local or gs://."
)
_TASK = flags.DEFINE_list(
    "task",
    None,
    "The agent's task, or tasks (comma-separated, visited in order each "
    "cycle); replaces config.tasks.",
)
_NAME = flags.DEFINE_string(
    "name",
    None,
    "The agent's name (default: its tasks, '/' as '_', joined by '-').",
)
_TPU = flags.DEFINE_string(
    "tpu", None, "TPU name or address, or 'local' on a TPU VM."
)
_LOG_PROGRESS = flags.DEFINE_bool(
    "log_progress", True, "Log a line per candidate, generation and cycle."
)
flags.mark_flags_as_required(["config", "system", "task"])


def fail(message):
    """Exits with status 1, printing only `message` (no traceback)."""
    raise SystemExit(f"agent: {message}")


def load_config():
    """The checked config with the agent's task, and its user tasks."""
    from mu2keras import experiment
    from mu2keras import tasks
    from mu2keras.tasks import task as task_lib
    from mu2keras.tasks import task_hook

    config = _CONFIG.value
    text = ",".join(_TASK.value)
    try:
        if not _TASK.value or len(set(_TASK.value)) != len(_TASK.value):
            raise ValueError("give each task once")
        config.tasks = list(_TASK.value)
        experiment.check_config(config)
        user_tasks = task_hook.resolve_tasks(config)
        for name in _TASK.value:
            task, _ = task_lib.split_private(name)
            if task in tasks.EMBEDDED_TASKS:
                tasks.get_task(task, data_dir=config.data_dir or None)
    except (AttributeError, KeyError, OSError, ValueError) as error:
        fail(f"--task={text}: {error}")
    return config, user_tasks


def make_strategy():
    """The agent's strategy; a --tpu that cannot be reached fails in one
    line (the resolver's error), before any work."""
    from mu2keras.training import strategy as strategy_lib

    try:
        return strategy_lib.launcher_strategy(_TPU.value)
    except strategy_lib.TpuUnreachable as error:
        fail(f"--tpu={_TPU.value}: {error}")


def check_agent(directory, name, chief):
    """Fails in one line if another live process runs this agent, or its
    last state is damaged.

    Only the chief host checks the lease: on a pod slice the others run
    the same agent while the chief holds it (`storage.workdir.is_chief`).
    """
    from mu2keras.storage import files as storage
    from mu2keras.storage import lease as lease_lib
    from mu2keras.storage import state as state_lib

    try:
        if chief:
            lease_lib.check_free(directory)
    except lease_lib.LeaseError as error:
        fail(f"--name={name}: {error}")
    if storage.exists(directory) and state_lib.LAST in storage.names(directory):
        try:
            state_lib.verify_state(directory)
        except state_lib.StateError as error:
            fail(f"--name={name}: {error}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from mu2keras import agents
    from mu2keras.agents import layout

    config, user_tasks = load_config()
    try:
        name = _NAME.value or "-".join(map(agents.agent_name, _TASK.value))
        directory = layout.agent_dir(_SYSTEM.value, name)
    except agents.AgentError as error:
        fail(f"--name: {error}")
    from mu2keras import progress as progress_lib
    from mu2keras.storage import lease as lease_lib
    from mu2keras.storage import state as state_lib
    from mu2keras.storage import workdir as workdir_lib

    progress_lib.quiet_tensorflow_info()
    strategy = make_strategy()
    chief = workdir_lib.is_chief(strategy)
    check_agent(directory, name, chief)
    logging.info("Agent %s of %s, tasks %s.", name, _SYSTEM.value, _TASK.value)
    # TensorBoard scalars too are the chief's alone to write.
    progress = progress_lib.RunProgress(
        directory if chief else None, log_lines=_LOG_PROGRESS.value
    )
    try:
        agent = agents.Agent.open(
            config,
            _SYSTEM.value,
            name,
            tasks=user_tasks,
            strategy=strategy,
            progress=progress,
        )
        logging.info(
            "Agent %s at cycle %d, generation %d; holds tasks %s.",
            name,
            agent.loop,
            agent.generation,
            agent.population.tasks,
        )
        agent.run()
    except (
        agents.AgentError,
        state_lib.StateError,
        lease_lib.LeaseError,
        workdir_lib.WorkdirError,
    ) as error:
        fail(f"--system={_SYSTEM.value}: {error}")
    logging.info(
        "Agent %s done: last state %s.",
        name,
        state_lib.latest_state(directory),
    )


if __name__ == "__main__":
    app.run(main)
