"""Files through `tf.io.gfile`, written so that a crash leaves no half file.

Everything µ2Net persists (states, SavedModels) is written under a temporary
name in the destination's directory and renamed into place at the end, so
readers only ever see complete directories. Works on local disks, `gs://`
and `ram://`.

Durability: on local paths `sync_tree` and `sync_parent` `fsync` files and
directories, so that what a rename commits reaches the disk before it (the
only `os` calls: `tf.io.gfile` has no fsync). `gs://` objects are durable
once closed, and `ram://` is memory: nothing to do there.
"""

import errno
import hashlib
import os
import uuid

import tensorflow as tf

# Prefix of unfinished files and directories; leftovers of a crash.
TMP_PREFIX = "tmp-"


def join(*parts):
    return "/".join(p.rstrip("/") for p in parts)


def split(path):
    """(parent directory, base name) of a path."""
    path = path.rstrip("/")
    parent, _, name = path.rpartition("/")
    return parent, name


def temp_path(path):
    """A fresh temporary sibling of `path`, `tmp-{uuid}.{name}`.

    Not `{name}.tmp`: on `ram://` a rename onto `name` fails while any entry
    whose name starts with `name` exists.
    """
    parent, name = split(path)
    return join(parent, f"{TMP_PREFIX}{uuid.uuid4().hex}.{name}")


def names(directory):
    """The entries of a directory (none if it does not exist).

    Exact names: `tf.io.gfile.exists` on `ram://` matches any path that
    merely starts with the one asked for.
    """
    if not tf.io.gfile.isdir(directory):
        return set()
    return {name.rstrip("/") for name in tf.io.gfile.listdir(directory)}


def exists(path):
    parent, name = split(path)
    return name in names(parent)


def read(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def digest(path, chunk_size=2**24):
    """(size in bytes, sha256 hex digest) of a file, read in chunks."""
    sha256, size = hashlib.sha256(), 0
    with tf.io.gfile.GFile(path, "rb") as f:
        while chunk := f.read(chunk_size):
            sha256.update(chunk)
            size += len(chunk)
    return size, sha256.hexdigest()


# The write operations below are the steps where a crash can happen; tests
# replace them to simulate one.


def makedirs(path):
    tf.io.gfile.makedirs(path)


def write(path, data):
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)


def rename(src, dst, overwrite=False):
    tf.io.gfile.rename(src, dst, overwrite=overwrite)


def rmtree(path):
    tf.io.gfile.rmtree(path)


def remove(path):
    """Deletes a file or a directory tree."""
    if tf.io.gfile.isdir(path):
        rmtree(path)
    else:
        tf.io.gfile.remove(path)


def move_dir(src, dst):
    """Renames a directory; file by file where the filesystem cannot.

    TF's `ram://` filesystem renames only the directory entry and leaves
    the files under the old name; those are then moved one by one.
    """
    rename(src, dst)
    if not tf.io.gfile.exists(src):
        return
    for parent, _, files in list(tf.io.gfile.walk(src)):
        target = dst + parent[len(src.rstrip("/")) :]
        makedirs(target)
        for name in files:
            rename(join(parent, name), join(target, name))
    if tf.io.gfile.exists(src):  # Empty subdirectory entries are left.
        try:
            rmtree(src)
        except tf.errors.NotFoundError:
            # `ram://` deletes them, then misses `src`'s own entry (already
            # renamed): nothing is left.
            pass


def replace_dir(src, dst):
    """Moves directory `src` to `dst`, replacing any `dst` in two renames.

    The old `dst` is first renamed aside (to a temporary name), then `src`
    into place, then the old one deleted: `dst` is never a mix of both, and
    a kill leaves both complete (the old one as a temporary; an exception
    puts the old one back). Locally each
    rename is atomic; on `gs://` a rename copies object by object, so a
    reader can see a partial directory meanwhile.
    """
    old = None
    if exists(dst):
        old = temp_path(dst)
        move_dir(dst, old)
    try:
        move_dir(src, dst)
    except BaseException:
        if old is not None and not exists(dst):
            move_dir(old, dst)  # An error, not a kill: put it back.
        raise
    sync_parent(dst)
    if old is not None:
        rmtree(old)


def write_atomically(path, fill, overwrite=False):
    """Creates directory `path` via `fill(tmp_dir)`, synced, then renamed.

    Args:
        path: str. The directory to create.
        fill: callable taking a temporary directory path and writing the
            contents there.
        overwrite: bool. Replace an existing `path` (`replace_dir`).

    Returns:
        `path`.
    """
    if exists(path):
        if not overwrite:
            raise ValueError(f"{path} exists; pass overwrite=True.")
    tmp = temp_path(path)
    try:
        fill(tmp)
        sync_tree(tmp)
        replace_dir(tmp, path)
    finally:
        if tf.io.gfile.exists(tmp):
            rmtree(tmp)
    return path


def create_exclusive(src, dst):
    """Makes file `dst` hold file `src`'s bytes unless `dst` exists.

    Returns:
        True if this call created `dst`. `src` may remain: delete it.

    Locally a hard link, atomic. Elsewhere `tf.io.gfile.rename` with
    `overwrite=False`, which checks, then renames: two callers can both
    succeed (see `mu2keras.storage.lease`).
    """
    try:
        if is_local(dst):
            _link(src, dst)
        else:
            rename(src, dst, overwrite=False)
    except (FileExistsError, tf.errors.AlreadyExistsError):
        return False
    return True


def _link(src, dst):
    try:
        os.link(_local(src), _local(dst))
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        rename(src, dst, overwrite=False)  # No hard links on this disk.


# --- Durability. ---


def is_local(path):
    """Whether `path` is on a local file system (no scheme, or file://)."""
    return "://" not in path or path.startswith("file://")


def _local(path):
    return path[len("file://") :] if path.startswith("file://") else path


def _fsync(path):
    fd = os.open(_local(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(path):
    """Flushes a local file, or every file and directory under a local
    directory, to disk; does nothing elsewhere."""
    if not is_local(path):
        return
    if not tf.io.gfile.isdir(path):
        _fsync(path)
        return
    for parent, _, files in tf.io.gfile.walk(path):
        for name in files:
            _fsync(join(parent, name))
        _fsync(parent)


def sync_parent(path):
    """Flushes the directory holding local `path`: makes its creation or
    renaming durable. Does nothing elsewhere."""
    if is_local(path):
        parent = split(path)[0]
        _fsync(parent or ("/" if path.startswith("/") else "."))
