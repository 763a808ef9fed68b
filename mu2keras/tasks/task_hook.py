"""User tasks named by a config: `config.user_tasks = "module:function"`.

A user's own data gets the launchers' whole workflow (evolve, resume with
`--auto_continue`, export, report, `predict --examples`) through a hook in
the config: the name of a function, importable from `PYTHONPATH` (or the
directory the launcher runs in), that takes no argument and returns a list
of tasks made with `mu2keras.tasks.from_arrays` or `from_datasets`.
`config.tasks` then names them like any other task (`private:` too):

    # my_tasks.py
    from mu2keras import tasks

    def make_tasks():
        images, labels = ...  # uint8 [N, H, W, C] and int [N]
        return [tasks.from_arrays("mine/shapes", images, labels)]

    # in the config file
    config.user_tasks = "my_tasks:make_tasks"
    config.tasks = ["mine/shapes", "embedded/digits"]

The hook is called again when a run resumes (the state's config records the
hook string; a resume with another one is refused like any changed field),
so it must return the same data each time. It is imported with `importlib`,
with the trust of the config file that names it; nothing read from a state
is ever imported or evaluated. Every problem with the hook is one
`UserTaskHookError` (a `ValueError`) naming it.
"""

import importlib

from mu2keras.tasks import registry
from mu2keras.tasks import tfds_tasks
from mu2keras.tasks.task import Task
from mu2keras.tasks.task import split_private

_MAKERS = "mu2keras.tasks.from_arrays or from_datasets"


class UserTaskHookError(ValueError):
    """The user-task hook cannot be used; the message names it."""


def load_user_tasks(hook, where=None):
    """Calls the hook `hook` ("module:function"); returns its tasks.

    Args:
        hook: str. "" for none, else "module:function" (the function may be
            an attribute path, "module:Class.method").
        where: str or None. How errors name the hook (default
            "config.user_tasks='HOOK'").

    Returns:
        A dict task name -> `Task` (empty for "").

    Raises:
        UserTaskHookError: the module cannot be imported, the attribute is
            missing or not callable, calling it raised, or it returned
            something other than a non-empty list of tasks with distinct
            names that no registry task has.
    """
    if not hook:
        return {}
    where = where or f"config.user_tasks={hook!r}"
    made = _call(_resolve(hook, where), where)
    if not isinstance(made, (list, tuple)) or not made:
        raise UserTaskHookError(
            f"{where}: returned {_describe(made)}; expected a non-empty list "
            f"of tasks made with {_MAKERS}."
        )
    found = {}
    for index, task in enumerate(made):
        if not isinstance(task, Task):
            raise UserTaskHookError(
                f"{where}: item {index} of the list it returned is "
                f"{_describe(task)}, not a task (make tasks with {_MAKERS})."
            )
        if task.name in found:
            raise UserTaskHookError(
                f"{where}: returned two tasks named {task.name!r}."
            )
        if task.name in _registry_names():
            raise UserTaskHookError(
                f"{where}: its task {task.name!r} has the name of a registry "
                "task (`mu2keras.tasks.task_names()`); give it another name."
            )
        found[task.name] = task
    return found


def resolve_tasks(config, tasks=None):
    """The user tasks of a run, checked against `config.tasks`.

    What `Controller.create` and `Controller.resume` do first, so that a
    wrong task fails before anything is built or trained.

    Args:
        config: the experiment ConfigDict.
        tasks: dict name -> `Task`, or None for the tasks of the config's
            hook (`config.user_tasks`; none without one).

    Returns:
        A new dict name -> `Task`.

    Raises:
        ValueError: a key that is not its task's own name (`task.name`,
            without `private:`), a value that is not a `Task`, a name of
            `config.tasks` that is neither given nor a registry task, or a
            private task (`from_arrays("private:...")`) that `config.tasks`
            names without `private:`.
    """
    if tasks is None:
        tasks = load_user_tasks(config.get("user_tasks", ""))
    tasks = dict(tasks)
    for key, task in tasks.items():
        if not isinstance(task, Task):
            raise ValueError(
                f"tasks[{key!r}] is {_describe(task)}, not a task (make "
                f"tasks with {_MAKERS})."
            )
        if key != task.name:
            raise ValueError(
                f"tasks: the key {key!r} holds the task named {task.name!r}; "
                "key each task by its own name ({task.name: task})."
            )
    for name in config.tasks:
        bare, private = split_private(name)
        if bare not in tasks:
            if bare not in registry.task_names():
                registry.get_task(bare, download=False)  # Raises, naming it.
        elif tasks[bare].private and not private:
            raise ValueError(
                f"config.tasks names {name!r}, but that task was made private "
                f"(its maker was given 'private:{bare}'); write "
                f"'private:{bare}' in config.tasks."
            )
    return tasks


def _resolve(hook, where):
    module_name, _, attribute = str(hook).partition(":")
    if not module_name or not attribute or ":" in attribute:
        raise UserTaskHookError(
            f"{where}: not 'module:function' (e.g. 'my_tasks:make_tasks')."
        )
    try:
        target = importlib.import_module(module_name)
    except Exception as error:  # Any: the user's module may raise anything.
        raise UserTaskHookError(
            f"{where}: cannot import module {module_name!r} "
            f"({_one_line(error)}); is its folder on PYTHONPATH?"
        ) from error
    path = module_name
    for name in attribute.split("."):
        if not hasattr(target, name):
            raise UserTaskHookError(
                f"{where}: {path} has no attribute {name!r}."
            )
        target, path = getattr(target, name), f"{path}.{name}"
    if not callable(target):
        raise UserTaskHookError(
            f"{where}: {path} is {_describe(target)}, not a function."
        )
    return target


def _call(function, where):
    try:
        return function()
    except Exception as error:  # Any: the user's code may raise anything.
        problem = f"{where}: raised {_one_line(error)}"
        raise UserTaskHookError(problem) from error


def _registry_names():
    return set(registry.task_names()) | set(tfds_tasks.VALIDATION_ONLY)


def _one_line(error):
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _describe(value):
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"
