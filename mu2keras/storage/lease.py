"""A lease on a directory: one writer at a time, local or `gs://`.

The lease is the file `LEASE` in the directory, JSON:

    {"format": "mu2keras-lease", "version": 1,
     "owner": "Controller.run (evolve.py)",   what the holder is
     "token": "9f1c…",                        unique to one `acquire`
     "host": "tpu-vm-0", "pid": 4242,         the holding process
     "since": 1767225600.0,                   acquired (Unix seconds)
     "heartbeat": 1767225660.0}               last renewed

`acquire` creates it exclusively; a second writer is refused with
`LeaseHeld`, naming the holder. A lease is *stale*, and taken over (with a
warning in the log), when its holder is dead: on this host, its pid is gone;
on any host, no heartbeat for `stale_after` seconds (hosts' clocks are
assumed to agree to well within that bound). The holder renews the heartbeat
from a daemon thread every `renew_every` seconds, so the bound can stay
short however long a generation takes, and `renew()` may also be called
before each write: it checks that the lease is still this holder's and
raises `LeaseLost` otherwise (a stalled holder whose lease was taken over).

Exclusive creation: on local paths a hard link (`os.link`), atomic and
failing if the file exists. `tf.io.gfile.rename(overwrite=False)` only
checks, then renames, so on `gs://` two creators can both pass the check;
there the creator waits `SETTLE_SECONDS` and reads the lease back, and the
one whose token is not in it withdraws. A stale lease is removed by the one
taker that creates its tombstone (a file named after the stale lease's
bytes), and only while it is unchanged; then takers race to create a fresh
lease as above. Renewal is read, check, replace,
also not atomic: a holder stalled past the bound can overwrite its
successor's lease once, and one of them finds out at its next renewal.

    with lease.acquire(workdir, owner="my agent") as held:
        ...        # write; held.renew() before each commit if you like
"""

import hashlib
import json
import os
import socket
import threading
import time
import uuid

import tensorflow as tf
from absl import logging

from mu2keras.storage import files as storage

FILENAME = "LEASE"
FORMAT = "mu2keras-lease"
VERSION = 1
STALE_AFTER = 600.0
RENEW_EVERY = 60.0
SETTLE_SECONDS = 2.0  # Non-local file systems: see the module docstring.
_ATTEMPTS = 20
_RETRY_SECONDS = 0.05
# Not `storage.TMP_PREFIX`: a state save deletes `tmp-*` entries, which
# would race with this holder's own heartbeat.
_TEMP_PREFIX = ".lease-"

__all__ = ["Lease", "LeaseError", "LeaseHeld", "LeaseLost", "acquire"]


class LeaseError(RuntimeError):
    """A directory's lease cannot be had or kept."""


class LeaseHeld(LeaseError):
    """Another live writer holds the lease: names it."""


class LeaseLost(LeaseError):
    """This holder's lease was taken over or removed."""


def lease_path(directory):
    return storage.join(directory, FILENAME)


def read(directory):
    """The lease record of `directory`: a dict, {} if unreadable, or None."""
    raw = _read_raw(lease_path(directory))
    return None if raw is None else _parse(raw)


def describe(directory, record, now=None):
    """`DIR is leased by OWNER (host H, pid P, since T, heartbeat Ns ago)`."""
    if not record:
        return f"{directory} has an unreadable lease {lease_path(directory)}"
    age = (time.time() if now is None else now) - record["heartbeat"]
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record["since"]))
    return (
        f"{directory} is leased by {record['owner']} (host {record['host']}, "
        f"pid {record['pid']}, since {since}, heartbeat {age:.0f}s ago)"
    )


def stale_reason(record, stale_after=STALE_AFTER, now=None):
    """Why the lease `record` is stale, or None if its holder may be alive."""
    if not record:
        return "unreadable"
    age = (time.time() if now is None else now) - record["heartbeat"]
    if record["host"] == socket.gethostname() and not _alive(record["pid"]):
        return f"its process {record['pid']} is gone"
    if age > stale_after:
        return f"no heartbeat for {age:.0f}s (> {stale_after:.0f}s)"
    return None


def check_free(directory, stale_after=STALE_AFTER):
    """Raises `LeaseHeld` if a live writer holds `directory` now.

    Advisory (the holder may change right after): `acquire` decides.
    """
    record = read(directory)
    if record is not None and stale_reason(record, stale_after) is None:
        raise LeaseHeld(_refusal(directory, record))


def acquire(
    directory,
    owner,
    stale_after=STALE_AFTER,
    renew_every=RENEW_EVERY,
):
    """Takes the lease of `directory` (created if missing).

    Args:
        directory: str. Local, `gs://` or `ram://`.
        owner: str. Who holds it, for people reading a refusal.
        stale_after: float. Seconds without a heartbeat after which a lease
            is stale, whatever its host.
        renew_every: float or None. Seconds between heartbeats from a daemon
            thread; None renews only on `renew()`.

    Returns:
        A `Lease`, held: `release()` it, or use it as a context manager.

    Raises:
        LeaseHeld: a live writer holds it, named in the message.
    """
    if renew_every is not None and not 0 < renew_every < stale_after:
        raise ValueError(
            f"`renew_every` must be in (0, stale_after={stale_after}); got "
            f"{renew_every!r}."
        )
    storage.makedirs(directory)
    record = _new_record(owner)
    for _ in range(_ATTEMPTS):
        if _create(directory, lease_path(directory), record):
            lease = Lease(directory, record, renew_every)
            _clean_temporaries(directory, stale_after)
            return lease
        raw = _read_raw(lease_path(directory))
        if raw is None:  # Released meanwhile: try again.
            continue
        current = _parse(raw)
        reason = stale_reason(current, stale_after)
        if reason is None:
            raise LeaseHeld(_refusal(directory, current))
        if _take_over(directory, raw, stale_after):
            logging.warning(
                "Took over the stale lease (%s): %s.",
                reason,
                describe(directory, current),
            )
        else:  # Another taker is removing it.
            time.sleep(_RETRY_SECONDS)
    raise LeaseHeld(f"{directory}: its lease keeps changing hands; retry.")


class Lease:
    """A held lease; made by `acquire`. Renewed in the background.

    Attributes:
        directory: str. The leased directory.
        record: dict. The lease file's contents as last written.
    """

    def __init__(self, directory, record, renew_every):
        self.directory = directory
        self.record = record
        self._lock = threading.Lock()
        self._released = False
        self._error = None
        self._stop = threading.Event()
        self._thread = None
        if renew_every is not None:
            self._thread = threading.Thread(
                target=self._beat,
                args=(renew_every,),
                name=f"lease heartbeat {directory}",
                daemon=True,
            )
            self._thread.start()

    @property
    def path(self):
        return lease_path(self.directory)

    @property
    def held(self):
        return not self._released and self._error is None

    def renew(self):
        """Checks the lease is still this holder's; writes a new heartbeat.

        Raises:
            LeaseLost: taken over, removed, released, or the background
                heartbeat failed (its error is the cause).
        """
        if self._error is not None:
            raise LeaseLost(
                f"{self.path}: the heartbeat failed: {self._error}"
            ) from self._error
        with self._lock:
            if self._released:
                raise LeaseLost(f"{self.path} was released by this holder.")
            self._check_owned()
            record = dict(self.record, heartbeat=time.time())
            tmp = _temp(self.directory)
            storage.write(tmp, _dump(record))
            storage.rename(tmp, self.path, overwrite=True)
            self.record = record

    def release(self):
        """Stops the heartbeat and deletes the lease if still this one's."""
        self._stop.set()
        if self._thread is not None and self._thread is not (
            threading.current_thread()
        ):
            self._thread.join()
        with self._lock:
            if self._released:
                return
            self._released = True
            try:
                if self._owned():
                    tf.io.gfile.remove(self.path)
            except tf.errors.OpError as error:
                logging.warning("Could not release %s: %s", self.path, error)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()

    def _owned(self):
        record = read(self.directory)
        return bool(record) and record["token"] == self.record["token"]

    def _check_owned(self):
        record = read(self.directory)
        if record is None:
            raise LeaseLost(f"{self.path} was removed by someone else.")
        if not record or record["token"] != self.record["token"]:
            raise LeaseLost(
                f"Lost the lease: {describe(self.directory, record)}."
            )

    def _beat(self, every):
        while not self._stop.wait(every):
            try:
                self.renew()
            except (LeaseError, tf.errors.OpError, OSError) as error:
                if not self._stop.is_set():
                    logging.error("Lease heartbeat stopped: %s", error)
                    self._error = error
                return


# --- Records and files. ---


def _new_record(owner):
    now = time.time()
    return {
        "format": FORMAT,
        "version": VERSION,
        "owner": str(owner),
        "token": uuid.uuid4().hex,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": now,
        "heartbeat": now,
    }


def _dump(record):
    return json.dumps(record, indent=1).encode("utf-8")


def _parse(raw):
    """A checked record, or {} for a file that is no lease of this format."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    fields = {"owner": str, "token": str, "host": str, "pid": int}
    valid = (
        isinstance(record, dict)
        and record.get("format") == FORMAT
        and all(isinstance(record.get(k), t) for k, t in fields.items())
        and all(
            isinstance(record.get(k), (int, float))
            for k in ("since", "heartbeat")
        )
    )
    return record if valid else {}


def _read_raw(path):
    try:
        return storage.read(path) if storage.exists(path) else None
    except tf.errors.NotFoundError:
        return None


def _refusal(directory, record):
    return (
        f"{describe(directory, record)}: one writer per directory. Wait for "
        f"it to end, or delete {lease_path(directory)} if it is dead."
    )


def _temp(directory):
    return storage.join(directory, f"{_TEMP_PREFIX}{uuid.uuid4().hex}")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Another user's process.
        return True
    return True


def _create(directory, path, record):
    """Creates the file `path` exclusively, holding `record`; True if this
    call did."""
    tmp = _temp(directory)
    storage.write(tmp, _dump(record))
    try:
        created = storage.create_exclusive(tmp, path)
    finally:
        if storage.exists(tmp):
            tf.io.gfile.remove(tmp)
    if not created:
        return False
    if storage.is_local(directory) or directory.startswith("ram://"):
        return True
    time.sleep(SETTLE_SECONDS)  # Another creator's check-then-rename.
    current = _read_raw(path)
    token = None if current is None else _parse(current).get("token")
    return token == record["token"]


def _take_over(directory, raw, stale_after):
    """Removes the stale lease `raw` if it is still there; True if this
    call removed it.

    Takers race to create its tombstone, a file named after `raw`; only
    the one that does may remove the lease, and only if it still holds
    `raw`. A taker that read `raw` before another took it over finds a
    fresh lease and leaves it: the lease file is never moved away, so no
    third writer can slip in.
    """
    digest = hashlib.sha256(raw).hexdigest()[:32]
    tombstone = storage.join(directory, f"{_TEMP_PREFIX}over-{digest}")
    if not _create(directory, tombstone, _new_record("take-over")):
        _remove_if_older(tombstone, stale_after)  # A taker that crashed.
        return False
    try:
        if _read_raw(lease_path(directory)) != raw:
            return False
        tf.io.gfile.remove(lease_path(directory))
        return True
    finally:
        tf.io.gfile.remove(tombstone)


def _clean_temporaries(directory, stale_after):
    """Deletes lease temporaries left by crashed writers (old ones only)."""
    for name in storage.names(directory):
        if name.startswith(_TEMP_PREFIX):
            _remove_if_older(storage.join(directory, name), stale_after)


def _remove_if_older(path, seconds):
    try:
        age = time.time() - tf.io.gfile.stat(path).mtime_nsec / 1e9
        if age > seconds:
            tf.io.gfile.remove(path)
    except tf.errors.NotFoundError:
        pass
