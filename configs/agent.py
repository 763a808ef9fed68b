r"""An agent of a shared system (µ3Net): one task, grown among others.

Every agent of a system runs this config with its own `--task`; they share
`--system`, a folder (local or gs://) where each publishes its cycles and
reads the others' (mu2keras/agents). The root is the random-root demo's
(configs/demo_random.py: Ti/16 without blocks, 2-layer paths at 32 px);
the first agent to start publishes it in `SYSTEM/root`, and an agent with
another `config.root` is refused. A cycle is one visit of the task
(spec §2.1) with `num_samples_per_task` candidates; `num_task_iters`
cycles in all.

Two agents, each on its own machine (or both on one):

  python -m launch.agent --config=configs/agent.py \
      --system=gs://BUCKET/system --task=embedded/fashion_mnist
  python -m launch.agent --config=configs/agent.py \
      --system=gs://BUCKET/system --task=embedded/mnist

Restarting an agent with the same command resumes it from its last state.
The whole system, all agents' newest published paths:

  python -m launch.export --state=gs://BUCKET/system --output=/tmp/system
  python -m launch.report --state=gs://BUCKET/system

Arguments (`--config=configs/agent.py:ARG`): `method=...` and `autotune=`
as configs/demo_random.py; `runlocal`: a tiny root and budget, two
cycles of two candidates in seconds per cycle (what the tests run); and
`tasks=A+B+...`: the tasks, for `launch.evolve` (launch.agent's `--task`
replaces them): the same setting grown by one controller visiting the
tasks in turn, the comparison of `benchmarks/agents.py`:

  python -m launch.evolve --workdir=/tmp/sequential --config=configs/agent.py:\
tasks=embedded/fashion_mnist+embedded/mnist+embedded/digits+embedded/textures
"""

from configs import common
from configs import demo_random


def get_config(arg=None):
    arg = common.parse_arg(
        arg, method="mu2net", autotune="", runlocal=False, tasks=""
    )
    config = demo_random.get_config(
        f"method={arg.method},autotune={arg.autotune}"
    )
    # launch.agent sets the agent's task from --task.
    config.tasks = [demo_random.TASKS[0]]
    config.num_task_iters = 2  # Cycles.
    # The system's export is launch.export's (every agent's paths).
    config.export_saved_model = False
    # States: the two newest published cycles and the newest mid-cycle one
    # (mu2keras.agents.layout.prune).
    config.keep_states = 2
    if arg.runlocal:
        demo_random.shrink_for_runlocal(config)
        config.tasks = [demo_random.TASKS[0]]
        config.num_task_iters = 2
        config.num_samples_per_task = 2
        config.max_train_examples_between_validations = 32
    if arg.tasks:
        config.tasks = arg.tasks.split("+")
    return config
