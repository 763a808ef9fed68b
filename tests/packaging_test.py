"""What a user installing mu2keras relies on: one TensorFlow, versions."""

import importlib.metadata
import re

import keras
import tensorflow as tf

import mu2keras

TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-tpu")


def installed(name):
    try:
        importlib.metadata.version(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def test_exactly_one_tensorflow_distribution_is_installed():
    # keras-hub's tensorflow-text would pull `tensorflow` beside
    # tensorflow-cpu; scripts/setup.sh installs it with --no-deps.
    present = [name for name in TF_DISTRIBUTIONS if installed(name)]
    assert len(present) == 1, present
    assert installed("keras-hub")


def test_supported_versions():
    major, minor = (int(x) for x in tf.__version__.split(".")[:2])
    assert (2, 19) <= (major, minor) <= (2, 21)
    assert tuple(int(x) for x in keras.__version__.split(".")[:2]) >= (3, 8)


def test_version_matches_setup():
    assert re.fullmatch(r"\d+\.\d+\.\d+", mu2keras.__version__)
    assert importlib.metadata.version("mu2keras") == mu2keras.__version__
