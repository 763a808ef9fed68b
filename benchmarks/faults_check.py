"""What benchmarks/faults.py checks after each kill and at the end.

`inspect`: after a kill, every `state_*` directory of the workdir loaded
with the library's loader, and the accepted paths of the readable ones.
`summarise`: the counts, lost accepted paths, and the final states and
SavedModels of the faulted run against the uninterrupted one.
"""

import json

import numpy as np
import tensorflow as tf

from mu2keras.storage import export
from mu2keras.storage import files as storage
from mu2keras.storage import state as state_lib
from mu2keras.storage import workdir_export

# What an accepted path is: the record's fields and metrics compared.
PATH_FIELDS = ("task", "components", "hparams", "origin_parent_id")
PATH_METRICS = ("quality", "score", "evals", "improved")
STATE_JSON = (state_lib.STRUCTURE, state_lib.HISTORY, state_lib.CONFIG)
TIMING_SUFFIX = "_time"  # Wall-clock metrics (prep_time...): not compared.
MAX_LISTED = 20


def state_key(name):
    """Orders state names by (loop, generation); None first."""
    if not name:
        return (-1, -1)
    return state_lib.parse_state_name(name)


def accepted(population):
    """{path id: what must never change} of every accepted path."""
    return {
        record["id"]: {
            **{k: record[k] for k in PATH_FIELDS},
            **{k: record["metrics"].get(k) for k in PATH_METRICS},
        }
        for record in population.history()[0]
        if record["metrics"].get("improved")
    }


def load(directory):
    """(State, None) or (None, "the error")."""
    try:
        return state_lib.load_state(directory), None
    except Exception as error:  # Any failure counts as unreadable.
        return None, f"{type(error).__name__}: {error}"


def inspect(workdir):
    """What a kill left: LAST, each state's readability, accepted paths."""
    states, paths = {}, {}
    try:
        last = storage.split(state_lib.latest_state(workdir) or "")[1] or None
    except state_lib.StateError as error:
        last, states["LAST"] = None, f"StateError: {error}"
    for _, _, name in state_lib.list_states(workdir):
        loaded, error = load(storage.join(workdir, name))
        states[name] = error or "ok"
        if loaded is not None:
            paths.update(
                {str(k): v for k, v in accepted(loaded.population).items()}
            )
    if last is not None and last not in states:
        states[last] = "LAST names a state that is not there"
    return {
        "last": last,
        "states": states,
        "accepted": paths,
        "export_from": workdir_export.exported_from(
            storage.join(workdir, workdir_export.SAVED_MODEL)
        ),
    }


def inside_export(kill):
    """Whether a kill came while the SavedModel of the task-end state LAST
    names was being refreshed (traced, written or swapped in): it is not
    that state's yet."""
    last = kill["last"]
    task_end = last and last.endswith("_0") and last != "state_0_0"
    return bool(task_end) and kill["export_from"] != last


def lost_paths(expected, final):
    """Ids of `expected` accepted paths missing or different in `final`."""
    return sorted(
        (i for i, record in expected.items() if final.get(i) != record),
        key=int,
    )


def _untimed(tree):
    if isinstance(tree, dict):
        return {
            k: _untimed(v)
            for k, v in tree.items()
            if not k.endswith(TIMING_SUFFIX)
        }
    if isinstance(tree, list):
        return [_untimed(v) for v in tree]
    return tree


def _differences(a, b, where=""):
    """Paths in two JSON trees where they differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in _differences(a.get(k), b.get(k), f"{where}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [where or "."]


def compare_states(a, b):
    """Two state directories: their JSON files, every tensor bit for bit,
    and the files' checksums. Wall-clock metrics (`*_time`) are not
    compared, and `reloads` differences (spec §4: the times a path was
    loaded from a state, so each resume adds one) are listed apart."""
    differences, reloads = [], []
    for name in STATE_JSON:
        x, y = (
            _untimed(json.loads(storage.read(storage.join(d, name))))
            for d in (a, b)
        )
        for where in _differences(x, y):
            kept = reloads if where.endswith(".reloads") else differences
            kept.append(f"{name}{where}")
    readers = [
        tf.train.load_checkpoint(storage.join(d, state_lib.WEIGHTS))
        for d in (a, b)
    ]
    maps = [r.get_variable_to_dtype_map() for r in readers]
    differing = sorted(
        n
        for n in set(maps[0]) | set(maps[1])
        if n not in maps[0]
        or n not in maps[1]
        or not _same_tensor(readers[0].get_tensor(n), readers[1].get_tensor(n))
    )
    differences += [f"tensor {n}" for n in differing]
    sums = [_checksums(d) for d in (a, b)]
    files = sorted(set(sums[0]) | set(sums[1]))
    return {
        "identical": not differences,
        "differences": differences[:MAX_LISTED],
        "num_differences": len(differences),
        "reloads_differences": reloads[:MAX_LISTED],
        "tensors": len(maps[0]),
        "tensors_differing": len(differing),
        "files_byte_identical": [
            f for f in files if sums[0].get(f) == sums[1].get(f)
        ],
        "files_differing": [
            f for f in files if sums[0].get(f) != sums[1].get(f)
        ],
    }


def _same_tensor(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return (
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    )


def _checksums(directory):
    manifest = json.loads(
        storage.read(storage.join(directory, state_lib.MANIFEST))
    )
    return {f: v["sha256"] for f, v in manifest["files"].items()}


def serve(path, seed=0, batch=4):
    """{signature/output: array} of every signature on random images."""
    loaded = tf.saved_model.load(path)
    info = loaded.signatures[export.TASK_NAMES]()
    names = [s.decode() for s in info["signature_names"].numpy()]
    sizes = [int(s) for s in info["image_sizes"].numpy()]
    rng = np.random.default_rng(seed)
    size = max(sizes)
    images = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    index = rng.integers(0, len(names), batch).astype(np.int32)
    outputs = {}
    calls = [(n, {"images": images}) for n in names]
    calls.append((export.ROUTED, {"images": images, "task_index": index}))
    for name, inputs in calls:
        result = loaded.signatures[name](
            **{k: tf.constant(v) for k, v in inputs.items()}
        )
        outputs.update({f"{name}/{k}": v.numpy() for k, v in result.items()})
    return outputs


def compare_saved_models(a, b, final_state):
    """The two runs' `saved_model`: stamps, and outputs bit for bit."""
    paths = [storage.join(d, workdir_export.SAVED_MODEL) for d in (a, b)]
    result = {"stamps": [workdir_export.exported_from(p) for p in paths]}
    result["stamped_with_final_state"] = all(
        s == final_state for s in result["stamps"]
    )
    try:
        outputs = [serve(p) for p in paths]
    except Exception as error:  # A missing or broken export.
        return dict(
            result, identical=False, error=f"{type(error).__name__}: {error}"
        )
    keys = sorted(set(outputs[0]) | set(outputs[1]))
    differing = [
        k
        for k in keys
        if k not in outputs[0]
        or k not in outputs[1]
        or not _same_tensor(outputs[0][k], outputs[1][k])
    ]
    return dict(
        result,
        outputs_compared=len(keys),
        outputs_differing=differing,
        identical=not differing and result["stamped_with_final_state"],
    )


def summarise(reference_dir, faulted_dir, attempts):
    """Every figure of the benchmark from the runs' workdirs and attempts."""
    kills = [a for a in attempts if a["killed"]]
    inside = [a for a in kills if a["temporaries"]]
    by_kind = {}
    for a in inside:
        for what in sorted(set(a["temporaries"].values())):
            by_kind[what] = by_kind.get(what, 0) + 1
    loaded = [s for a in kills for s in a["states"].values()]
    unreadable = [
        {"kill": i, "state": name, "error": error, "last": name == a["last"]}
        for i, a in enumerate(kills)
        for name, error in a["states"].items()
        if error != "ok"
    ]
    resumes = [a for a in attempts if a["resumed_from"]]
    # Each resume that got as far as saying where it resumed from named
    # LAST's state (one killed during its start-up said nothing).
    wrong_resumes = [
        a["log"]
        for a in resumes
        if a["resume_line_names"] not in (None, a["resumed_from"])
        or (not a["killed"] and a["resume_line_names"] is None)
    ]
    # LAST never moves back.
    lasts = [a["last"] for a in kills]
    backwards = sum(
        state_key(y) < state_key(x)
        for x, y in zip(lasts, lasts[1:], strict=False)
    )
    final = [load(d) for d in (reference_dir, faulted_dir)]
    errors = [e for _, e in final if e]
    if errors:
        raise SystemExit(f"faults: a final state is unreadable: {errors}")
    (ref, _), (got, _) = final
    ref_paths, got_paths = (
        {str(k): v for k, v in accepted(s.population).items()}
        for s in (ref, got)
    )
    seen = {}
    for a in kills:
        seen.update(a["accepted"])
    lost_ref, lost_seen = (
        lost_paths(ref_paths, got_paths),
        lost_paths(seen, got_paths),
    )
    final_name = storage.split(ref.directory)[1]
    states = compare_states(ref.directory, got.directory)
    states["final_states"] = [final_name, storage.split(got.directory)[1]]
    saved_models = compare_saved_models(reference_dir, faulted_dir, final_name)
    leftovers = sorted(
        n
        for n in storage.names(faulted_dir)
        if n.startswith((storage.TMP_PREFIX, ".lease-")) or n == "LEASE"
    )
    figures = {
        "kills": len(kills),
        "kills_inside_a_save": len(inside),
        "kills_inside_a_save_by_kind": by_kind,
        "kills_during_an_export": sum(map(inside_export, kills)),
        "kills_targeted": sum(bool(a["target"]) for a in kills),
        "kills_targeted_inside": sum(
            bool(a["target"]) and a["target"] in a["temporaries"].values()
            for a in kills
        ),
        "num_attempts": len(attempts),
        "kills_during_start_up": sum(a["during_start_up"] for a in kills),
        "states_loaded_after_kills": len(loaded),
        "unreadable_states": len(unreadable),
        "unreadable_last": sum(u["last"] for u in unreadable),
        "unreadable": unreadable,
        "resumes": len(resumes),
        "resumes_not_from_last": wrong_resumes,
        "last_moved_back": backwards,
        "accepted_paths_reference": len(ref_paths),
        "accepted_paths_seen_after_kills": len(seen),
        "lost_accepted_paths": sorted(set(lost_ref) | set(lost_seen), key=int),
        "final_state": states,
        "saved_model": saved_models,
        "leftovers": leftovers,
    }
    figures["verdict"] = (
        not figures["lost_accepted_paths"]
        and not unreadable
        and not wrong_resumes
        and not backwards
        and states["identical"]
        and saved_models["identical"]
    )
    return figures
