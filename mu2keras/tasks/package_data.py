"""Finding and reading data files that ship inside installed packages.

The embedded sets come with pip or Debian packages (see docs/data.md); these
helpers find a package's files without importing the package, and read
them through `tf.io.gfile`, so a copy on gs:// works the same way.
"""

import gzip
import importlib.util
import io
import os

import numpy as np
import tensorflow as tf


class DataUnavailableError(FileNotFoundError):
    """An embedded set's files are missing; the message says what to install.

    A subclass of `FileNotFoundError`, so callers (and tests that must skip
    where a package is absent) can catch either.
    """


def package_file(package, relative_path, install, data_dir=None):
    """Returns the path of a data file inside an installed package.

    Args:
        package: str. Top-level package name, e.g. "sklearn".
        relative_path: str. The file's path inside the package.
        install: str. The command that installs the package.
        data_dir: str or None. A folder holding the file (under its base
            name) to use instead of the package's copy.
    """
    if data_dir is not None:
        return folder_file(data_dir, os.path.basename(relative_path), install)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(
            f"Package {package!r} is not installed; install it with "
            f"`{install}`."
        )
    for root in spec.submodule_search_locations:
        path = os.path.join(root, relative_path)
        if tf.io.gfile.exists(path):
            return path
    raise DataUnavailableError(
        f"Package {package!r} has no file {relative_path!r}; install the "
        f"version that ships it with `{install}`."
    )


def folder_file(folder, filename, install):
    """Returns `folder/filename`, or raises saying how to get it.

    Args:
        folder: str. Local or gs:// folder.
        filename: str. File name.
        install: str. The command that installs the file.
    """
    path = os.path.join(folder, filename)
    if not tf.io.gfile.exists(path):
        raise DataUnavailableError(
            f"{path} not found. Install it with `{install}`, or pass "
            "`data_dir` pointing at a folder that holds it."
        )
    return path


def read_bytes(path):
    """Returns the bytes of a local or gs:// file."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def read_gzip(path):
    """Returns the decompressed bytes of a gzip file."""
    return gzip.decompress(read_bytes(path))


def read_idx(path):
    """Reads a gzipped IDX file (the MNIST format) of unsigned bytes.

    The header is two zero bytes, a type code (0x08: uint8), the number of
    dimensions, then each dimension as a big-endian uint32.

    Args:
        path: str. A `*-ubyte.gz` file.

    Returns:
        A uint8 numpy array with the file's dimensions.
    """
    data = read_gzip(path)
    if len(data) < 4 or data[0:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes (header "
            f"{data[:4].hex()})."
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], ">u4"))
    values = np.frombuffer(data, np.uint8, offset=header)
    if values.size != int(np.prod(shape)):
        raise ValueError(
            f"{path}: header says shape {shape} ({int(np.prod(shape))} "
            f"values) but the file holds {values.size}."
        )
    return values.reshape(shape)


def read_csv_ints(path):
    """Reads a (gzipped if `.gz`) CSV file of integers into an int64 array."""
    data = read_gzip(path) if path.endswith(".gz") else read_bytes(path)
    return np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.int64, ndmin=2)


def read_image(path):
    """Decodes a PNG or JPEG file to a uint8 `[H, W, C]` array."""
    return tf.io.decode_image(read_bytes(path), expand_animations=False).numpy()


def read_npy(path):
    """Loads a `.npy` file; object arrays are refused (no pickle).

    Raises:
        ValueError: "PATH is no .npy file ..." or "PATH is no readable .npy
            array: ..." (a damaged header, an object array).
    """
    data = read_bytes(path)
    if not data.startswith(b"\x93NUMPY"):  # Else numpy blames pickling.
        raise ValueError(f"{path} is no .npy file (write one with numpy.save).")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"{path} is no readable .npy array: {error}") from None
