"""Files through `tf.io.gfile`, written so that a crash leaves no half file.

Everything µ2Net persists (states, SavedModels) is written under a temporary
name in the destination's directory and renamed into place at the end, so
readers only ever see complete directories. Works on local disks, `gs://`
and `ram://`.
"""

import hashlib
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


def write_atomically(path, fill, overwrite=False):
    """Creates directory `path` via `fill(tmp_dir)` and one rename.

    Args:
        path: str. The directory to create.
        fill: callable taking a temporary directory path and writing the
            contents there.
        overwrite: bool. Replace an existing `path` (the replacement itself
            is then not atomic: the old one is deleted first).

    Returns:
        `path`.
    """
    if exists(path):
        if not overwrite:
            raise ValueError(f"{path} exists; pass overwrite=True.")
    tmp = temp_path(path)
    try:
        fill(tmp)
        if exists(path):
            rmtree(path)
        move_dir(tmp, path)
    finally:
        if tf.io.gfile.exists(tmp):
            rmtree(tmp)
    return path
