"""A damaged or missing state is refused, naming the file and the damage.

Nothing is parsed before the manifest and every file's size and sha256
are checked, so a changed `config.json` is a checksum failure, never a
config the user changed. An earlier complete state is named for the user
to choose (`earlier_state`), never loaded in its place.
"""

import os
import re
import shutil

import pytest

from mu2keras.storage import files as storage
from mu2keras.storage import state
from tests.system import systems

CONFIG = {"experiment": {"num_samples_per_task": 3, "seed": 0}}
FILES = (
    "population.json",
    "history.json",
    "config.json",
    "weights.index",
    "weights.data-00000-of-00001",
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A workdir with states 1_0, 1_1 (mid-task) and 2_0; LAST: 2_0."""
    workdir = tmp_path_factory.mktemp("saved")
    population, _, _ = systems.two_task_system()
    for loop, generation in ((1, 0), (1, 1), (2, 0)):
        state.save_state(population, str(workdir), loop, generation, CONFIG)
    return workdir


@pytest.fixture
def workdir(saved, tmp_path):
    """A fresh copy of `saved`, to damage."""
    copy = tmp_path / "run"
    shutil.copytree(saved, copy)
    return copy


def flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def refused(path, pattern):
    """Asserts that loading and verifying `path` both raise `pattern`."""
    for check in (state.load_state, state.verify_state):
        with pytest.raises(state.StateError, match=pattern):
            check(str(path))


@pytest.mark.parametrize("filename", FILES)
def test_a_flipped_byte_is_a_checksum_failure_naming_the_file(
    workdir, filename
):
    path = workdir / "state_2_0" / filename
    flip(path)
    refused(workdir, re.escape(f"State file {path} fails its sha256 checksum"))


@pytest.mark.parametrize("filename", FILES)
def test_a_truncated_file_is_named_with_its_size(workdir, filename):
    path = workdir / "state_2_0" / filename
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    refused(
        workdir,
        re.escape(
            f"State file {path} has {size // 2} bytes; the manifest says "
            f"{size} (truncated or overwritten)."
        ),
    )


@pytest.mark.parametrize("filename", FILES)
def test_a_deleted_file_is_named(workdir, filename):
    path = workdir / "state_2_0" / filename
    path.unlink()
    refused(workdir, re.escape(f"Missing state file {path}."))


def test_invalid_json_in_config_is_a_checksum_failure(workdir):
    path = workdir / "state_2_0" / "config.json"
    path.write_bytes(b"[" + path.read_bytes()[1:])  # Same size: no JSON.
    refused(workdir, re.escape(f"State file {path} fails its sha256"))


def test_a_changed_config_value_is_a_checksum_failure(workdir):
    """Not a config the user changed: the bytes differ from the manifest's."""
    path = workdir / "state_2_0" / "config.json"
    data = path.read_bytes()
    changed = data.replace(
        b'"num_samples_per_task": 3', b'"num_samples_per_task": 4'
    )
    assert changed != data and len(changed) == len(data)
    path.write_bytes(changed)
    refused(workdir, re.escape(f"State file {path} fails its sha256"))


def test_a_damaged_manifest_is_named(workdir):
    manifest = workdir / "state_2_0" / "MANIFEST.json"
    manifest.write_bytes(manifest.read_bytes()[:50])
    refused(workdir, re.escape(f"{manifest} is not valid JSON"))
    manifest.unlink()
    refused(
        workdir,
        re.escape(
            f"{workdir}/state_2_0, named by {workdir}/LAST, is incomplete: "
            f"missing {manifest}."
        ),
    )


def test_last_naming_a_missing_state_says_so(workdir):
    shutil.rmtree(workdir / "state_2_0")
    refused(
        workdir,
        re.escape(
            f"{workdir}/LAST names state_2_0, but there is no "
            f"{workdir}/state_2_0 (deleted)."
        ),
    )


def test_verify_state_builds_nothing_and_returns_the_config(saved):
    verified = state.verify_state(str(saved))
    assert verified == state.State(
        None, 2, 0, CONFIG, storage.join(str(saved), "state_2_0")
    )


def test_the_earlier_complete_state_is_named_never_loaded(workdir):
    flip(workdir / "state_2_0" / "weights.index")
    last = storage.join(str(workdir), "state_2_0")
    mid_task = storage.join(str(workdir), "state_1_1")
    finished = storage.join(str(workdir), "state_1_0")
    assert state.earlier_state(str(workdir)) == mid_task
    assert state.earlier_state(last) == mid_task  # A state directory.
    assert state.earlier_state(str(workdir), finished=True) == finished
    assert state.earlier_state(mid_task) == finished
    flip(workdir / "state_1_1" / "population.json")  # Damaged: skipped.
    assert state.earlier_state(str(workdir)) == finished
    assert state.earlier_state(finished) is None  # None before it.
    with pytest.raises(state.StateError, match="state_2_0/weights.index"):
        state.load_state(str(workdir))
    assert state.latest_state(str(workdir)) == last  # LAST did not move.


def test_without_a_usable_last_any_complete_state_is_named(workdir):
    (workdir / "LAST").write_text("nonsense")
    newest = storage.join(str(workdir), "state_2_0")
    assert state.earlier_state(str(workdir)) == newest
    os.remove(workdir / "LAST")
    assert state.earlier_state(str(workdir)) == newest


def test_the_message_offers_the_earlier_state_with_the_flag(workdir):
    shutil.rmtree(workdir / "state_2_0")
    with pytest.raises(state.StateError) as error:
        state.load_state(str(workdir))
    earlier = f"{workdir}/state_1_1"
    assert state.with_earlier(error.value, str(workdir), "--state") == (
        f"{error.value} An earlier complete state exists: {earlier}; pass "
        f"--state={earlier} to use it."
    )
    finished = f"{workdir}/state_1_0"
    text = state.with_earlier(
        state.StateError("Bad (x)"), str(workdir), "--continue_from", True
    )
    assert text == (
        f"Bad (x). An earlier complete state exists: {finished}; pass "
        f"--continue_from={finished} to use it."
    )
    empty = str(workdir / "nothing")
    assert state.with_earlier(error.value, empty, "--state") == str(error.value)
