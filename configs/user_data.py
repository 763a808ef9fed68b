r"""Your own data through the launchers: a config with a user-task hook.

`config.user_tasks = "module:function"` names a function that takes no
argument and returns a list of tasks made with `mu2keras.tasks.from_arrays`
or `from_datasets`; `config.tasks` then names them like any other task
(`mu2keras/tasks/task_hook.py`, docs/launchers.md). The hook here is
`make_tasks` below: one task from arrays (scikit-learn's 8×8 digits,
relabelled odd or even: a stand-in for your own images and labels), grown
after the embedded textures task on the random-root demo's setting.

  python -m launch.evolve --config=configs/user_data.py --workdir=/tmp/mine
  python -m launch.evolve --config=configs/user_data.py --workdir=/tmp/mine \
      --auto_continue
  python -m launch.export --state=/tmp/mine --output=/tmp/mine/export
  python -m launch.report --state=/tmp/mine
  python -m launch.predict --model=/tmp/mine/export --examples=2 \
      --user_tasks=configs.user_data:make_tasks

The module must be importable where the launcher runs: this one is, from
the repository root; a module of your own goes on `PYTHONPATH`. A resumed
run calls the hook again (the state records the hook string, never the
data), so the hook must return the same data each time.

Arguments (`--config=configs/user_data.py:ARG`): those of
configs/demo_random.py (`method`, `autotune`, `runlocal`).
"""

from configs import demo_random

HOOK = "configs.user_data:make_tasks"
TASKS = ("embedded/textures", "mine/digit_parity")


def make_tasks():
    """The user tasks: a list of `mu2keras.tasks.from_arrays` tasks."""
    from sklearn import datasets

    from mu2keras import tasks

    digits = datasets.load_digits()  # float 0..16, [1797, 8, 8].
    return [
        tasks.from_arrays(
            "mine/digit_parity",
            digits.images,
            digits.target % 2,
            value_range=(0, 16),
            class_names=["even", "odd"],
        )
    ]


def get_config(arg=None):
    config = demo_random.get_config(arg)  # Its method, autotune, runlocal.
    config.user_tasks = HOOK
    config.tasks = list(TASKS)
    return config
