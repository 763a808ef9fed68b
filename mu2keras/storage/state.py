"""The state of a µ2Net run on disk (spec §6.2, §6.3).

A work directory holds states `state_{loop}_{generation}` and a `LAST` file
naming the newest complete one:

    workdir/
      LAST                  "state_3_0"
      state_3_0/
        MANIFEST.json       format, version, loop, generation, and the size
                            and sha256 of every other file
        population.json     retained paths (hparams, metrics, parents,
                            component ids), components (class, config,
                            locks), private tasks, active task, id counters
        history.json        every path and component ever generated
        config.json         the experiment config (in every state, so any
                            state can resume on its own; spec §9 item 5)
        weights.index       each unique component's variables and momentum
        weights.data-*      once, as a TensorFlow tensor bundle

A save writes a temporary directory, renames it into place, then replaces
`LAST` by an atomic rename: a crash at any instant leaves `LAST` naming a
complete state (the big_vision pattern). On local disks every file and
directory is fsynced before the rename that refers to it, so a power loss
cannot leave `LAST` naming a state whose bytes never reached the disk.
Loading checks the format version and every file's size and checksum before
reading anything. All I/O goes through `tf.io.gfile` (but `fsync`), so
`gs://` and `ram://` work.
"""

import collections
import hashlib
import re

import tensorflow as tf

from mu2keras.storage import files as storage
from mu2keras.storage import state_codec
from mu2keras.storage.state_codec import StateError

FORMAT = "mu2keras-state"
VERSION = 1
LAST = "LAST"
MANIFEST = "MANIFEST.json"
STRUCTURE = "population.json"
HISTORY = "history.json"
CONFIG = "config.json"
WEIGHTS = "weights"  # Tensor bundle prefix.
_STATE_NAME = re.compile(r"^state_(\d+)_(\d+)$")

__all__ = [
    "State",
    "StateError",
    "earlier_state",
    "latest_state",
    "list_states",
    "load_state",
    "parse_state_name",
    "read_verified",
    "save_state",
    "state_name",
    "verify_state",
    "with_earlier",
]

State = collections.namedtuple(
    "State", ["population", "loop", "generation", "config", "directory"]
)
State.__doc__ = """A loaded state.

Attributes:
    population: the `Population`.
    loop: int. Task loops completed (spec §2.1: `state_{loop_id + 1}_0`
        is written after loop `loop_id`).
    generation: int. Generations done in the current loop (0 after a task).
    config: dict. The experiment config saved with the state.
    directory: str. The state directory read.
"""


def state_name(loop, generation=0):
    """`state_{loop}_{generation}`, the spec §6.2 name."""
    for name, value in (("loop", loop), ("generation", generation)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"`{name}` must be an int >= 0; got {value!r}.")
    return f"state_{loop}_{generation}"


def parse_state_name(path):
    """(loop, generation) of a `state_{loop}_{generation}` directory or
    name; None for any other name."""
    match = _STATE_NAME.match(storage.split(path)[1])
    return None if match is None else (int(match[1]), int(match[2]))


def _save_weights(prefix, tensors):
    # A seam of its own: the one write that does not go through `storage`.
    state_codec.save_tensors(prefix, tensors)


# --- Saving. ---


def save_state(
    population,
    workdir,
    loop,
    generation=0,
    config=None,
    keep=None,
    encoder=None,
):
    """Writes `workdir/state_{loop}_{generation}` atomically; moves `LAST`.

    Args:
        population: the `Population` to save.
        workdir: str. The run's directory (local, `gs://`, `ram://`...).
        loop: int. Task loops completed.
        generation: int. Generations done in the current loop.
        config: JSON-able dict or None. The experiment config.
        keep: int or None. Keep only the `keep` newest states (by loop,
            then generation); None keeps all.
        encoder: callable population -> (structure, history, tensors), or
            None for `state_codec.encode` (an agent's encodes only its own
            part of a shared system, `mu2keras.agents.codec`).

    Returns:
        The new state directory.
    """
    name = state_name(loop, generation)
    if keep is not None and (not isinstance(keep, int) or keep < 1):
        raise ValueError(f"`keep` must be an int >= 1 or None; got {keep!r}.")
    final = storage.join(workdir, name)
    tmp = storage.temp_path(final)
    # Encoded before anything on disk changes: a population that a load
    # could not rebuild is refused with the workdir untouched.
    encode = encoder or state_codec.encode
    structure, history, tensors = encode(population)
    files = {
        STRUCTURE: state_codec.to_json(structure, storage.join(tmp, STRUCTURE)),
        HISTORY: state_codec.to_json(history, storage.join(tmp, HISTORY)),
        CONFIG: state_codec.to_json(config or {}, storage.join(tmp, CONFIG)),
    }
    current = _last_name(workdir)
    if name in storage.names(workdir):
        if name == current:
            raise ValueError(
                f"{final} is the last complete state (named by LAST); it "
                "cannot be overwritten."
            )
        # Complete but never pointed to (a crash before LAST moved), or an
        # old state: not needed to recover.
        storage.rmtree(final)
    storage.makedirs(tmp)
    for filename, data in files.items():
        storage.write(storage.join(tmp, filename), data)
    _save_weights(storage.join(tmp, WEIGHTS), tensors)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "loop": loop,
        "generation": generation,
        "files": _checksums(tmp),
    }
    storage.write(
        storage.join(tmp, MANIFEST), state_codec.to_json(manifest, MANIFEST)
    )
    storage.sync_tree(tmp)  # Durable before any rename refers to it.
    storage.move_dir(tmp, final)
    storage.sync_parent(final)
    pointer = storage.temp_path(storage.join(workdir, LAST))
    storage.write(pointer, name.encode("utf-8"))
    storage.sync_tree(pointer)
    storage.rename(pointer, storage.join(workdir, LAST), overwrite=True)
    storage.sync_parent(pointer)  # The commit itself.
    _clean_up(workdir, name, keep)
    return final


def _checksums(directory):
    result = {}
    for filename in sorted(storage.names(directory)):
        size, sha256 = storage.digest(storage.join(directory, filename))
        result[filename] = {"bytes": size, "sha256": sha256}
    return result


def _clean_up(workdir, current, keep):
    """Deletes leftovers of interrupted saves, and states beyond `keep`."""
    for name in storage.names(workdir):
        if name.startswith(storage.TMP_PREFIX):
            storage.remove(storage.join(workdir, name))
    if keep is None:
        return
    names = [name for _, _, name in list_states(workdir)]
    for name in names[:-keep]:
        if name != current:
            storage.rmtree(storage.join(workdir, name))


# --- Finding and loading. ---


def list_states(workdir):
    """Complete-looking states, oldest first: [(loop, generation, name)]."""
    result = []
    for name in storage.names(workdir):
        parsed = parse_state_name(name)
        if parsed is not None:
            result.append((*parsed, name))
    return sorted(result)


def _last_name(workdir):
    pointer = storage.join(workdir, LAST)
    if LAST not in storage.names(workdir):
        return None
    name = storage.read(pointer).decode("utf-8", "replace").strip()
    if parse_state_name(name) is None:
        raise StateError(f"{pointer} names {name!r}, not a state.")
    return name


def latest_state(workdir):
    """The directory `workdir/LAST` names, or None if there is no LAST."""
    name = _last_name(workdir)
    return None if name is None else storage.join(workdir, name)


def load_state(path):
    """Loads a state: a work directory (its `LAST`) or a state directory.

    Args:
        path: str. A directory with a `LAST` file, or a `state_*` one.

    Returns:
        A `State`.

    Raises:
        StateError: naming the file, for a `LAST` that names no state, a
            missing or unreadable file, an unknown format version, a size
            (truncation) or checksum mismatch, or inconsistent contents.
            Nothing is parsed before the manifest and every file's size
            and checksum are verified. An older state is never loaded
            instead: `earlier_state(path)` names one, for the user to pick.
    """
    directory, manifest, parsed = _verified(path)
    population = state_codec.decode(
        parsed[STRUCTURE],
        parsed[HISTORY],
        storage.join(directory, WEIGHTS),
        (
            storage.join(directory, STRUCTURE),
            storage.join(directory, WEIGHTS + ".*"),
        ),
    )
    return State(
        population,
        manifest["loop"],
        manifest["generation"],
        parsed[CONFIG],
        directory,
    )


def verify_state(path):
    """Checks a state as `load_state` does, but builds nothing.

    Returns:
        A `State` whose `population` is None.

    Raises:
        StateError: as `load_state`, but for the population's contents.
    """
    directory, manifest, parsed = _verified(path)
    loop, generation = manifest["loop"], manifest["generation"]
    return State(None, loop, generation, parsed[CONFIG], directory)


def earlier_state(path, finished=False):
    """The newest complete state older than the one `path` names, or None.

    To offer it when that state cannot be loaded (never loaded in its
    place). Looked for in `path`, or the parent of a `state_*` directory;
    with no usable `LAST`, any state there counts as earlier.

    Args:
        path: str. As for `load_state`.
        finished: bool. Only states saved at the end of a task
            (generation 0), those `continue_from` accepts.

    Returns:
        The state directory whose manifest and every file verify, or None.
    """
    workdir, bound = path, None
    try:
        name = _last_name(path)
    except (StateError, tf.errors.OpError):
        name = None  # No usable LAST: every state is a candidate.
    if name is None and LAST not in storage.names(path):
        parent, base = storage.split(path)
        if parse_state_name(base) is not None:
            workdir, name = parent, base
    if name is not None:
        bound = parse_state_name(name)
    for loop, generation, name in reversed(list_states(workdir)):
        later = bound is not None and (loop, generation) >= bound
        if later or (finished and generation):
            continue
        try:
            return _verified(storage.join(workdir, name))[0]
        except StateError:
            continue
    return None


def with_earlier(error, path, flag, finished=False):
    """A launcher's message for `error`, loading `path`: "ERROR. An earlier
    complete state exists: P; pass FLAG=P to use it.", P the
    `earlier_state(path, finished)`; only "ERROR." if there is none."""
    text = str(error).rstrip(".") + "."
    earlier = earlier_state(path, finished)
    if earlier is None:
        return text
    return (
        f"{text} An earlier complete state exists: {earlier}; pass {flag}="
        f"{earlier} to use it."
    )


def read_verified(path):
    """(directory, manifest, {JSON file: parsed}) of the state `path`
    names, every file's size and checksum verified first (`StateError`)."""
    return _verified(path)


def _verified(path):
    """(directory, manifest, {JSON file: parsed}) of the state `path` names.

    The manifest is checked, then every file's size and sha256, and only
    then is any JSON parsed.
    """
    try:
        directory = _state_directory(path)
        manifest_file = storage.join(directory, MANIFEST)
        manifest = state_codec.from_json(
            storage.read(manifest_file), manifest_file
        )
        _check_manifest(manifest, manifest_file)
        contents = _verify_files(directory, manifest["files"])
    except tf.errors.OpError as error:  # E.g. permission denied.
        raise StateError(f"Cannot read the state at {path}: {error}") from None
    parsed = {
        filename: state_codec.from_json(data, storage.join(directory, filename))
        for filename, data in contents.items()
    }
    return directory, manifest, parsed


def _state_directory(path):
    """The state directory `path` names (its `LAST`'s, or itself), with a
    manifest; raises `StateError` naming what is missing."""
    name = _last_name(path)
    if name is None:
        if MANIFEST not in storage.names(path):
            raise StateError(
                f"No state at {path}: missing {storage.join(path, MANIFEST)} "
                f"(and no {storage.join(path, LAST)})."
            )
        return path
    pointer, directory = storage.join(path, LAST), storage.join(path, name)
    if name not in storage.names(path):
        raise StateError(
            f"{pointer} names {name}, but there is no {directory} (deleted)."
        )
    if MANIFEST not in storage.names(directory):
        raise StateError(
            f"{directory}, named by {pointer}, is incomplete: missing "
            f"{storage.join(directory, MANIFEST)}."
        )
    return directory


def _check_manifest(manifest, filename):
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StateError(f"{filename} is not a {FORMAT} manifest.")
    if manifest.get("version") != VERSION:
        raise StateError(
            f"{filename} has state format version {manifest.get('version')!r}"
            f"; this mu2keras reads version {VERSION}."
        )
    files = manifest.get("files")
    required = {STRUCTURE, HISTORY, CONFIG, WEIGHTS + ".index"}
    if not isinstance(files, dict) or not required <= set(files):
        raise StateError(
            f"{filename} does not list the files {sorted(required)}."
        )


def _verify_files(directory, files):
    """Checks every listed file's size and sha256; returns the JSON ones."""
    contents = {}
    present = storage.names(directory)
    for filename, expected in files.items():
        path = storage.join(directory, filename)
        if filename not in present:
            raise StateError(f"Missing state file {path}.")
        if not isinstance(expected, dict) or {"bytes", "sha256"} - set(
            expected
        ):
            raise StateError(f"The manifest entry of {path} is malformed.")
        if filename.endswith(".json"):
            # Checked as read: the bytes parsed are the bytes verified.
            data = contents[filename] = storage.read(path)
            size, sha256 = len(data), hashlib.sha256(data).hexdigest()
        else:  # Weights: possibly gigabytes, streamed.
            size, sha256 = storage.digest(path)
        if size != expected["bytes"]:
            raise StateError(
                f"State file {path} has {size} bytes; the manifest says "
                f"{expected['bytes']} (truncated or overwritten)."
            )
        if sha256 != expected["sha256"]:
            raise StateError(
                f"State file {path} fails its sha256 checksum (corrupt)."
            )
    return contents
