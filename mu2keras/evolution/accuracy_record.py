"""The accuracy matrix: every ended task, tested after each task visit.

Continual-learning reports start from a matrix whose row k holds, after
training step k, the test accuracy of every task learned so far. Here a
step is a task visit, one loop of the outer loop (spec §2.1): after the
controller ends a task, the best path of every ended task is tested again
on its test split, and the row is appended to the controller's record:

    {"loop": 3, "task": "a", "accuracy": {"a": 0.91, "b": 0.88}}

`loop` is the spec's loop id (the row of loop k is in `state_{k+1}_0`),
`task` the task that loop trained, `accuracy` every ended task (in order
of introduction) -> its best path's test accuracy at that moment. Every
value is measured when its row is made, never copied from an earlier row:
locked paths (spec §2.10) make later rows repeat earlier ones, and the
matrix shows it rather than assumes it. With `config.retest_ended_tasks`
False, the other tasks' values are carried instead, once the immutability
check has found their paths' outputs bit-identical; the row names those
tasks under `carried`.

The record is saved with every state, in the state's `config.json` under
`controller.accuracy_matrix`, beside the controller's rng state, so a
resumed run continues it; a state written before it existed has none and
loads with an empty record. `mu2keras.report.transfer` derives forgetting
and backward transfer from it.
"""

from mu2keras.storage.state_codec import StateError
from mu2keras.system.component import ROOT_TASK

KEY = "accuracy_matrix"


def row(population, loop, task, test_accuracy, measured=None, carried=None):
    """The row of the task visit that just ended.

    Args:
        population: the `Population`, after `end_task`.
        loop: int. The visit's loop id (spec §2.1).
        task: str. The task the visit trained (its stored name).
        test_accuracy: callable path -> float. Tests a path on its task's
            test split.
        measured: dict path id -> float or None. Test accuracies measured
            during this task end (the controller's test of a new best);
            those paths are not tested twice.
        carried: dict path id -> float or None. Earlier test accuracies of
            paths verified unchanged since (the immutability check); used
            instead of a test, and their tasks listed under `carried`.

    Returns:
        A JSON-able dict: `loop`, `task`, `accuracy` and, when a value was
        carried, `carried` (the tasks, in order).
    """
    measured, carried = measured or {}, carried or {}
    accuracy, carried_tasks = {}, []
    for name in population.tasks:
        path = population.best_path(name)
        value = measured.get(path.id)
        if value is None and carried.get(path.id) is not None:
            value = carried[path.id]
            carried_tasks.append(name)
        accuracy[name] = test_accuracy(path) if value is None else value
    result = {"loop": loop, "task": task, "accuracy": accuracy}
    if carried_tasks:
        result["carried"] = carried_tasks
    return result


def test_untested(population, test_accuracy):
    """Tests the retained paths never tested (an ended task's new best),
    storing each in its `test_quality`; returns {path id: accuracy}."""
    measured = {}
    for path in population.retained_paths():
        if path.task == ROOT_TASK or "test_quality" in path.metrics:
            continue
        measured[path.id] = test_accuracy(path)
        path.metrics["test_quality"] = measured[path.id]
    return measured


def earlier_tests(population, task):
    """{path id: stored test accuracy} of the other tasks' retained paths:
    what a row carries once the immutability check has verified them."""
    return {
        p.id: p.metrics["test_quality"]
        for p in population.retained_paths()
        if p.task not in (task, ROOT_TASK) and "test_quality" in p.metrics
    }


def from_config(config):
    """The record saved in a state's config; [] if it predates the record.

    Args:
        config: dict. A loaded state's `config` (`State.config`).

    Raises:
        StateError: if the record is not a list of rows as `row` makes.
    """
    saved = config.get("controller") if isinstance(config, dict) else None
    rows = (saved or {}).get(KEY)
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(map(_is_row, rows)):
        raise StateError(f"config.json: controller.{KEY} is malformed.")
    return rows


def _is_row(value):
    return (
        isinstance(value, dict)
        and isinstance(value.get("loop"), int)
        and isinstance(value.get("task"), str)
        and isinstance(value.get("accuracy"), dict)
        and all(isinstance(v, (int, float)) for v in value["accuracy"].values())
        and isinstance(value.get("carried", []), list)
        and all(t in value["accuracy"] for t in value.get("carried", []))
    )
