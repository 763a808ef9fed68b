"""A run's `workdir/saved_model`: stamped with its state, and repaired.

The controller refreshes the SavedModel after every task, from the state it
has just committed (`state_{loop}_0`). Each export holds `EXPORT.json`:

    {"format": "mu2keras-export", "version": 1,
     "state": "state_4_0",                   the state it was exported from
     "tasks": ["embedded/digits", ...],
     "files": {"saved_model.pb": 123456, ...}}   every other file, in bytes

written last into the temporary directory; a folder is complete iff its
stamp is readable and every file it lists is there with its size. The new
folder replaces the old one by `storage.replace_dir`: the old renamed
aside, the new into place, the old deleted.

A run killed during a refresh leaves `saved_model/` partial or missing,
beside complete `tmp-*.saved_model` temporaries. `repair`, run when a
controller starts (`mu2keras.storage.workdir.writer`), checks `saved_model/`
against the last task-end state and, if it does not match, moves a
complete temporary exported from that state into place, or exports it again
(from the loaded population when `LAST` is that state; else from that
state, read again, if `keep_states` kept it); then it deletes the
temporaries. On `gs://` a rename copies object by object, so a swap is not
atomic for readers meanwhile; a folder left partial by a crash fails the
check (a file or the stamp missing) and is rebuilt on resume.
"""

import json

import tensorflow as tf
from absl import logging

from mu2keras.storage import export
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib

SAVED_MODEL = "saved_model"
STAMP = "EXPORT.json"
FORMAT = "mu2keras-export"
VERSION = 1


def refresh(population, workdir):
    """Exports the system as `workdir/saved_model`, stamped with `LAST`.

    Call it right after saving the state it exports.
    """
    last = state_lib.latest_state(workdir)
    if last is None:
        raise ValueError(
            f"{workdir} has no state (no LAST) to stamp its SavedModel with; "
            "save the population first."
        )
    _export(population, workdir, storage.split(last)[1])


def exported_from(directory):
    """The state a complete stamped SavedModel was exported from, or None
    (missing, unstamped, partial or unreadable)."""
    if STAMP not in storage.names(directory):
        return None
    try:
        stamp = json.loads(storage.read(storage.join(directory, STAMP)))
    except (UnicodeDecodeError, json.JSONDecodeError, tf.errors.OpError):
        return None
    if not isinstance(stamp, dict) or stamp.get("format") != FORMAT:
        return None
    files = stamp.get("files")
    if not isinstance(files, dict) or "saved_model.pb" not in files:
        return None
    for name, size in files.items():
        try:
            found = tf.io.gfile.stat(storage.join(directory, name)).length
        except tf.errors.NotFoundError:
            return None
        if found != size:
            return None
    return stamp.get("state")


def repair(workdir, population, loop, generation):
    """Makes `workdir/saved_model` the export of the last task-end state.

    Args:
        workdir: str. The run's directory.
        population: the `Population` of `LAST`.
        loop, generation: int. `LAST`'s loop and generation.

    Returns:
        What was done: "current" (it matched), "moved" (a complete
        temporary moved into place), "exported", "unavailable" (the state
        to export is gone; the next task end refreshes it) or "none" (no
        task has ended yet).
    """
    try:
        if loop == 0:
            return "none"
        expected = state_lib.state_name(loop)
        final = storage.join(workdir, SAVED_MODEL)
        found = exported_from(final)
        if found == expected:
            return "current"
        problem = f"it is from {found}" if found else "it is missing or partial"
        for tmp in _temporaries(workdir):
            if exported_from(tmp) == expected:
                storage.replace_dir(tmp, final)
                logging.warning(
                    "Repaired %s (%s): moved the complete export of %s, %s, "
                    "into place.",
                    final,
                    problem,
                    expected,
                    tmp,
                )
                return "moved"
        source = _source(workdir, population, expected, generation)
        if source is None:
            logging.warning(
                "%s does not match %s (%s), and that state is gone (see "
                "keep_states); it is refreshed when the current task ends.",
                final,
                expected,
                problem,
            )
            return "unavailable"
        _export(source, workdir, expected)
        logging.warning("Rebuilt %s from %s (%s).", final, expected, problem)
        return "exported"
    finally:
        clean_temporaries(workdir)


def clean_temporaries(workdir):
    """Deletes the `tmp-*.saved_model` leftovers of interrupted exports."""
    for path in _temporaries(workdir):
        storage.remove(path)


def _temporaries(workdir):
    return [
        storage.join(workdir, name)
        for name in sorted(storage.names(workdir))
        if name.startswith(storage.TMP_PREFIX)
        and name.endswith("." + SAVED_MODEL)
    ]


def _source(workdir, population, expected, generation):
    """The population of state `expected`, or None if it is gone."""
    if generation == 0:  # LAST is `expected`.
        return population
    if expected not in storage.names(workdir):
        return None
    return state_lib.load_state(storage.join(workdir, expected)).population


def _export(population, workdir, state_name):
    tasks = population.tasks

    def stamp(tmp):
        record = {
            "format": FORMAT,
            "version": VERSION,
            "state": state_name,
            "tasks": tasks,
            "files": _sizes(tmp),
        }
        data = json.dumps(record, indent=1).encode("utf-8")
        storage.write(storage.join(tmp, STAMP), data)

    export.export_system(
        population,
        storage.join(workdir, SAVED_MODEL),
        tasks=tasks,
        overwrite=True,
        after_save=stamp,
    )


def _sizes(directory):
    """{path relative to `directory`: bytes} of every file under it."""
    result = {}
    root = directory.rstrip("/")
    for parent, _, files in tf.io.gfile.walk(root):
        prefix = parent.rstrip("/")[len(root) :].lstrip("/")
        for name in files:
            relative = f"{prefix}/{name}" if prefix else name
            path = storage.join(parent, name)
            result[relative] = tf.io.gfile.stat(path).length
    return dict(sorted(result.items()))
