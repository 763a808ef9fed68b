"""The workdir lease: one writer, stale leases taken over, released."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from mu2keras.storage import lease

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
HOLDER = """
import sys
from mu2keras.storage import lease
held = lease.acquire(sys.argv[1], owner="holder test", renew_every=None)
print("held", flush=True)
sys.stdin.read()  # Holds until the test closes stdin (or kills it).
held.release()
"""


def record(**fields):
    now = time.time()
    base = {
        "format": lease.FORMAT,
        "version": lease.VERSION,
        "owner": "elsewhere",
        "token": "t0",
        "host": "another-host",
        "pid": 1,
        "since": now,
        "heartbeat": now,
    }
    return {**base, **fields}


def write_lease(directory, data):
    path = os.path.join(directory, lease.FILENAME)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def test_a_second_process_is_refused_until_the_holder_dies(tmp_path, caplog):
    workdir = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, workdir],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        path = os.path.join(workdir, lease.FILENAME)
        before = open(path, "rb").read()
        with pytest.raises(lease.LeaseHeld) as refused:
            lease.acquire(workdir, owner="second")
        message = str(refused.value)
        assert "\n" not in message
        for part in (
            f"{workdir} is leased by holder test",
            f"host {socket.gethostname()}",
            f"pid {holder.pid}",
            "since 20",
        ):
            assert part in message, message
        assert open(path, "rb").read() == before  # Refused: nothing changed.
        with pytest.raises(lease.LeaseHeld):
            lease.check_free(workdir)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)  # Reaped: its pid is gone.
    # Same host, dead pid: stale at once, taken over and said so.
    with lease.acquire(workdir, owner="second") as held:
        assert lease.read(workdir)["token"] == held.record["token"]
        assert "is gone" in caplog.text and "holder test" in caplog.text
    assert not os.path.exists(path)


def test_old_heartbeat_of_another_host_is_taken_over(tmp_path):
    workdir = str(tmp_path)
    write_lease(workdir, record(heartbeat=time.time() - 30))
    with pytest.raises(lease.LeaseHeld, match="leased by elsewhere .*host"):
        lease.acquire(workdir, owner="me", stale_after=60, renew_every=None)
    write_lease(workdir, record(heartbeat=time.time() - 61))
    held = lease.acquire(workdir, owner="me", stale_after=60, renew_every=None)
    assert lease.read(workdir)["owner"] == "me"
    held.release()
    assert lease.read(workdir) is None


def test_unreadable_lease_is_stale(tmp_path):
    write_lease(str(tmp_path), b"{not json")
    assert lease.stale_reason(lease.read(str(tmp_path))) == "unreadable"
    with lease.acquire(str(tmp_path), owner="me", renew_every=None):
        assert lease.read(str(tmp_path))["owner"] == "me"


def test_release_keeps_a_successors_lease_and_renew_says_lost(tmp_path):
    workdir = str(tmp_path)
    held = lease.acquire(workdir, owner="me", renew_every=None)
    before = held.record["heartbeat"]
    held.renew()
    assert lease.read(workdir)["heartbeat"] >= before
    write_lease(workdir, record(owner="successor", token="t1"))
    with pytest.raises(lease.LeaseLost, match="leased by successor"):
        held.renew()
    held.release()  # Not its lease any more: left alone.
    assert lease.read(workdir)["owner"] == "successor"
    with pytest.raises(lease.LeaseLost, match="released"):
        held.renew()


def test_heartbeat_thread_renews_and_stops(tmp_path):
    workdir = str(tmp_path)
    held = lease.acquire(workdir, owner="me", stale_after=5, renew_every=0.05)
    first = held.record["heartbeat"]
    time.sleep(0.5)
    assert lease.read(workdir)["heartbeat"] > first
    os.remove(os.path.join(workdir, lease.FILENAME))  # Someone deletes it.
    time.sleep(0.3)
    assert not held.held
    with pytest.raises(lease.LeaseLost, match="heartbeat failed"):
        held.renew()
    held.release()
    assert not held._thread.is_alive()


@pytest.mark.parametrize("existing", [None, "stale"])
def test_concurrent_acquirers_one_wins(tmp_path, existing):
    workdir = str(tmp_path)
    if existing:
        write_lease(workdir, record(heartbeat=time.time() - 3600))
    barrier, results = threading.Barrier(8), []

    def contend(i):
        barrier.wait()
        try:
            results.append(lease.acquire(workdir, f"t{i}", renew_every=None))
        except lease.LeaseHeld as error:
            results.append(error)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (winner,) = [r for r in results if isinstance(r, lease.Lease)]
    assert lease.read(workdir)["token"] == winner.record["token"]
    assert len(results) == 8
    assert not [n for n in os.listdir(workdir) if n != lease.FILENAME]
    winner.release()


def test_a_late_taker_leaves_the_new_lease_in_place(tmp_path, monkeypatch):
    """A taker that read the stale lease before another took it over must
    not move the new holder's lease, even for a moment: a third writer
    would get in, and two would hold the directory (seen under load)."""
    workdir = str(tmp_path)
    path = write_lease(workdir, record(heartbeat=time.time() - 3600))
    stale = open(path, "rb").read()
    first = lease.acquire(workdir, "first", renew_every=None)
    fresh = open(path, "rb").read()
    late, third = [stale], []  # What the late taker read, before `first`.
    real_read, real_read_raw = lease.storage.read, lease._read_raw

    def read(name):  # A third writer tries whenever the lease is missing.
        if not os.path.exists(path) and not third:
            third.append(lease.acquire(workdir, "third", renew_every=None))
        return real_read(name)

    def read_raw(name):
        return late.pop() if late else real_read_raw(name)

    monkeypatch.setattr(lease.storage, "read", read)
    monkeypatch.setattr(lease, "_read_raw", read_raw)
    with pytest.raises(lease.LeaseHeld, match="leased by first"):
        lease.acquire(workdir, "late", renew_every=None)
    assert third == []
    assert open(path, "rb").read() == fresh
    first.renew()  # Still its holder's.
    first.release()
    assert os.listdir(workdir) == []
