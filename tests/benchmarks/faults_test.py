"""The fault-injection benchmark: its smoke run's figures, and its checks.

The smoke run kills `launch.evolve` twice (once at a random moment, once
inside an export), resumes it each time, and compares the end with an
uninterrupted run: nothing accepted may be lost, every state left must
load, and the final state and SavedModel must be bit-identical.
"""

import json
import shutil

import pytest

from benchmarks import faults
from benchmarks import faults_check
from mu2keras.storage import files as storage
from mu2keras.storage import lease
from mu2keras.storage import state as state_lib


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("faults")
    out = tmp_path_factory.mktemp("faults_out")
    argv = ["--smoke", f"--workdir={workdir}", f"--out={out}"]
    figures = faults.main(argv)
    return figures, workdir, out


def test_smoke_kills_resumes_and_loses_nothing(smoke):
    figures, _, out = smoke
    for suffix in ("json", "md", "png"):
        assert (out / f"faults_smoke.{suffix}").stat().st_size > 0
    saved = json.loads((out / "faults_smoke.json").read_text())
    assert {"machine", "command", "reference", "attempts"} <= set(saved)
    assert saved["kills"] == saved["planned_kills"] == 2
    assert saved["num_attempts"] == 3  # Two killed, the last to its end.
    assert [a["status"] for a in saved["attempts"]] == [-9, -9, 0]
    # The kill aimed at an export landed inside it: its temporary was left.
    aimed = [a for a in saved["attempts"] if a.get("target")]
    assert [a["target"] for a in aimed] == ["export"]
    assert "export" in aimed[0]["temporaries"].values()
    assert saved["kills_targeted_inside"] == 1
    assert saved["kills_inside_a_save"] >= 1
    assert saved["kills_during_an_export"] >= 1  # saved_model/ behind LAST.
    # Every state left after each kill loaded; each resume started from
    # the state LAST named; nothing accepted was lost.
    assert saved["states_loaded_after_kills"] >= 2
    assert saved["unreadable_states"] == 0 and saved["unreadable"] == []
    assert saved["resumes"] == 2 and saved["resumes_not_from_last"] == []
    assert saved["last_moved_back"] == 0
    assert saved["accepted_paths_reference"] >= 2
    assert saved["lost_accepted_paths"] == []
    # The final system: bit-identical to the uninterrupted run's.
    state = saved["final_state"]
    assert state["final_states"] == ["state_2_0", "state_2_0"]
    assert state["identical"] is True and state["differences"] == []
    assert state["tensors"] > 0 and state["tensors_differing"] == 0
    assert {"weights.index", "config.json"} <= set(
        state["files_byte_identical"]
    )
    served = saved["saved_model"]
    assert served["stamps"] == ["state_2_0", "state_2_0"]
    assert served["identical"] is True and served["outputs_differing"] == []
    assert served["outputs_compared"] >= 3  # 2 tasks and the routed one.
    assert saved["leftovers"] == []
    assert saved["verdict"] is True and figures["verdict"] is True
    table = (out / "faults_smoke.md").read_text()
    assert "nothing lost, nothing unreadable, final system identical" in table
    assert "| kills (SIGKILL), each followed by a resume | 2 of 2" in table


def test_temporaries_are_told_apart_by_name(tmp_path):
    workdir = str(tmp_path)
    names = {
        storage.temp_path(storage.join(workdir, "state_1_2")): "state",
        storage.temp_path(storage.join(workdir, "LAST")): "commit",
        storage.temp_path(storage.join(workdir, "saved_model")): "export",
    }
    for path, kind in names.items():
        assert faults.kind(storage.split(path)[1]) == kind
    for name in ("state_1_2", "LAST", "saved_model", "LEASE", "tensorboard"):
        assert faults.kind(name) is None
    # The lease writes its own temporaries, aside from `tmp-*`.
    assert faults.kind(storage.split(lease._temp(workdir))[1]) == "lease"


def test_differing_final_states_fail_the_verdict(smoke, tmp_path):
    # The faulted workdir replaced by a copy of the reference whose LAST
    # names its first state, from before the second task had a path (a
    # later one may differ from the last in its locks only): the comparison
    # must see it.
    figures, workdir, _ = smoke
    reference = workdir / "reference"
    earlier = tmp_path / "earlier"
    shutil.copytree(reference, earlier)
    (earlier / "LAST").write_text("state_1_0")
    attempts = [dict(a, accepted={}) for a in figures["attempts"]]
    for a in attempts:
        if a["killed"]:
            a["accepted"] = faults_check.inspect(str(reference))["accepted"]
    result = faults_check.summarise(str(reference), str(earlier), attempts)
    assert result["verdict"] is False
    assert result["final_state"]["identical"] is False
    assert result["final_state"]["tensors_differing"] > 0
    assert result["final_state"]["final_states"] == ["state_2_0", "state_1_0"]
    same = faults_check.compare_states(
        str(reference / "state_2_0"), str(reference / "state_2_0")
    )
    assert same["identical"] is True and same["tensors_differing"] == 0


def test_a_changed_accepted_path_counts_as_lost(smoke):
    _, workdir, _ = smoke
    loaded = state_lib.load_state(str(workdir / "faulted"))
    final = {
        str(k): v for k, v in faults_check.accepted(loaded.population).items()
    }
    assert final and faults_check.lost_paths(final, final) == []
    changed = {k: dict(v, score=v["score"] + 1e-9) for k, v in final.items()}
    assert faults_check.lost_paths(changed, final) == sorted(final, key=int)
    missing = dict(final, **{"999": next(iter(final.values()))})
    assert faults_check.lost_paths(missing, final) == ["999"]


def test_a_resume_from_another_state_than_last_fails_the_verdict(smoke):
    # A resume killed before it said where it resumed from is no wrong
    # resume; one that named another state than LAST's is.
    figures, workdir, _ = smoke
    reference = workdir / "reference"
    inspected = faults_check.inspect(str(reference))
    attempts = [dict(a, **inspected) for a in figures["attempts"]]
    resumed = [a for a in attempts if a["resumed_from"]]
    assert [a["killed"] for a in resumed] == [True, False]
    resumed[0]["resume_line_names"] = None
    result = faults_check.summarise(str(reference), str(reference), attempts)
    assert result["resumes_not_from_last"] == []
    assert result["verdict"] is True
    resumed[-1]["resume_line_names"] = "state_0_1"
    result = faults_check.summarise(str(reference), str(reference), attempts)
    assert result["resumes_not_from_last"] == [resumed[-1]["log"]]
    assert result["verdict"] is False
