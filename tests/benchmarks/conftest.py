"""What the benchmark smoke tests share: one study workdir per session."""

import pytest


@pytest.fixture(scope="session")
def study_workdir(tmp_path_factory):
    """The smoke root system is trained there once, by the first user."""
    return str(tmp_path_factory.getbasetemp() / "study")


def smoke_argv(workdir, out, *extra):
    """A benchmark script's command line for a smoke run."""
    return ["--smoke", f"--workdir={workdir}", f"--out={out}", *extra]
