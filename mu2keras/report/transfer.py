"""Transfer metrics of continual learning, from an accuracy matrix.

A matrix is a list of rows, oldest first, one per training step (here a
task visit, `mu2keras.evolution.accuracy_record`), each a dict with

* `task`: the task that step trained;
* `accuracy`: dict task -> test accuracy after the step, for every task
  learned so far (a task not yet learned is absent);
* optionally `loop`: the step's loop id.

The metric functions are plain (dicts and floats in, dicts out), so a
benchmark can build a matrix of its own and reuse them. Each returns
`{"per_task": {task: value or None}, "mean": float or None}`; the mean is
over the tasks with a value, and None when no task has one.

With µ2Net, a task's retained path is locked once its task ends (spec
§2.10), so forgetting and backward transfer are 0 by construction: the
numbers computed from a measured matrix check it. A task's own revisit
(`num_task_iters` > 1) may replace its best path by one with a better
validation score but a lower test accuracy; forgetting, which looks at
every earlier row, counts that drop, backward transfer does not.
"""

import math

from mu2keras.report import tables


def tasks_of(matrix):
    """The matrix's tasks (its columns), in order of first appearance."""
    result = {}
    for row in matrix:
        result.update(dict.fromkeys(row["accuracy"]))
    return list(result)


def forgetting(matrix):
    """Forgetting per task (Chaudhry et al., 2018): the task's highest
    accuracy in an earlier row minus its accuracy in the last row.

    A task with no earlier row (learned in the last step) has None.
    Positive values are accuracy lost; the mean is over the tasks with a
    value.

    Args:
        matrix: list of rows (see the module docstring).
    """
    if not matrix:
        return _result({})
    last = matrix[-1]["accuracy"]
    per_task = {}
    for task, now in last.items():
        earlier = [
            r["accuracy"][task] for r in matrix[:-1] if task in r["accuracy"]
        ]
        per_task[task] = max(earlier) - now if earlier else None
    return _result(per_task)


def backward_transfer(matrix):
    """Backward transfer per task (Lopez-Paz & Ranzato, 2017): the task's
    accuracy in the last row minus its accuracy right after it was
    learned.

    "Right after it was learned" is the row of the task's last visit (the
    last row whose `task` it is), so a task improving on a revisit is not
    counted as transfer; for a task the matrix never trains (learned
    before the record starts, as with `continue_from`), its first row.
    A task whose reference row is the last row has None: no later step
    could change it. Negative values are accuracy lost to later steps.

    Args:
        matrix: list of rows (see the module docstring).
    """
    if not matrix:
        return _result({})
    last = len(matrix) - 1
    per_task = {}
    for task, now in matrix[-1]["accuracy"].items():
        learned = _learned_row(matrix, task)
        per_task[task] = (
            None if learned == last else now - matrix[learned]["accuracy"][task]
        )
    return _result(per_task)


def _learned_row(matrix, task):
    visits = [k for k, row in enumerate(matrix) if row.get("task") == task]
    if visits and task in matrix[visits[-1]]["accuracy"]:
        return visits[-1]
    return next(k for k, row in enumerate(matrix) if task in row["accuracy"])


def forward_transfer(system_accuracy, alone_accuracy):
    """Forward transfer per task: the system's accuracy minus the accuracy
    of the task trained alone (the same budget, from the root only).

    Args:
        system_accuracy: dict task -> accuracy of the system's path.
        alone_accuracy: dict task -> accuracy of the task trained alone.

    Returns:
        `{"per_task": {task: difference}, "mean": float or None}`, over the
        tasks of `system_accuracy` that `alone_accuracy` has, in the order
        of `system_accuracy`.
    """
    return _result(
        {
            task: value - alone_accuracy[task]
            for task, value in system_accuracy.items()
            if task in alone_accuracy
        }
    )


def _result(per_task):
    values = [v for v in per_task.values() if _finite(v)]
    mean = sum(values) / len(values) if values else None
    return {"per_task": per_task, "mean": mean}


def _carried(matrix):
    """How many of the matrix's values were carried, not measured."""
    return sum(len(row.get("carried", ())) for row in matrix)


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


# --- The report's part. ---


def summary(matrix):
    """The machine-readable transfer figures (`stats.json`'s `transfer`).

    `measured` is True when there is a matrix and no value in it was
    carried (`mu2keras.evolution.accuracy_record`: the controller measures
    every row unless `config.retest_ended_tasks` is False).
    """
    carried = _carried(matrix)
    return {
        "measured": bool(matrix) and not carried,
        "carried_values": carried,
        "accuracy_matrix": matrix,
        "forgetting": forgetting(matrix),
        "backward_transfer": backward_transfer(matrix),
    }


def markdown(matrix):
    """The report's section: the matrix, then forgetting and backward
    transfer; a line saying so when there is no matrix."""
    if not matrix:
        return (
            "## Accuracy matrix\n\nNone recorded: no task has ended in this "
            "run yet, or the state predates the record.\n"
        )
    carried = _carried(matrix)
    how = (
        "**measured**: at the end of every visit each task's path was "
        "tested again on its test split, not copied from the row before"
        if not carried
        else f"{carried} value(s) marked * **carried**: not tested again "
        "(`config.retest_ended_tasks` False) but kept from the row before "
        "once the immutability check found the path's outputs bit-identical; "
        "the others measured"
    )
    return "\n".join(
        [
            "## Accuracy matrix",
            "",
            "Test accuracy of every learned task's best path after each task "
            f"visit (loop id, spec §2.1), {how}. Blank: not learned yet.",
            "",
            matrix_markdown(matrix),
            "## Forgetting and backward transfer",
            "",
            transfer_markdown(matrix),
            "Computed from the matrix above. Forgetting: the "
            "task's best accuracy in an earlier row minus its last; "
            "backward transfer: its last accuracy minus the one right after "
            "its last visit. Locked paths (spec §2.10) make both 0 by "
            "construction; "
            + (
                "the values here are measured, not assumed. "
                if not carried
                else "carried values assume it, after the check. "
            )
            + "With revisits, a task replacing its own best path by one with "
            "a lower test accuracy shows as forgetting. n/a: learned in the "
            "last visit, with no later one.",
            "",
        ]
    )


def matrix_markdown(matrix):
    """The accuracy matrix as a Markdown table; blank: not yet learned."""
    tasks = tasks_of(matrix)
    lines = [
        "| loop id | trained | " + " | ".join(tasks) + " |",
        "|" + "---|" * (len(tasks) + 2),
    ]
    for k, row in enumerate(matrix):
        cells = [str(row.get("loop", k)), row["task"]]
        carried = set(row.get("carried", ()))
        cells += [
            _cell(row["accuracy"].get(t, "")) + "*" * (t in carried)
            for t in tasks
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def transfer_markdown(matrix):
    """Forgetting and backward transfer per task, and their means."""
    f, b = forgetting(matrix), backward_transfer(matrix)
    rows = [
        {"task": t, "forgetting": f["per_task"][t], "backward_transfer": v}
        for t, v in b["per_task"].items()
    ]
    rows.append(
        {
            "task": "**mean**",
            "forgetting": f["mean"],
            "backward_transfer": b["mean"],
        }
    )
    return tables.markdown_table(
        rows, ("task", "forgetting", "backward_transfer")
    )


def _cell(value):
    return "" if value == "" else tables.format_value(value)
