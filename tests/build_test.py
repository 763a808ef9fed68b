"""BUILD mirrors the package: every module and test file is in a target."""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bazel_query(expression):
    if shutil.which("bazel") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install bazel (scripts/setup.sh --test).")
        pytest.skip("bazel is not installed (scripts/setup.sh --test does).")
    # --batch: no server process outlives the test.
    result = subprocess.run(
        ["bazel", "--batch", "query", expression, "--output=label"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def files(pattern, exclude=()):
    found = glob.glob(pattern, root_dir=ROOT, recursive=True)
    return {f for f in found if os.path.basename(f) not in exclude}


def labels(paths):
    return {f"//:{path}" for path in paths}


def test_every_module_is_in_the_library():
    srcs = bazel_query("labels(srcs, //:mu2keras)")
    modules = files("mu2keras/**/*.py")
    assert modules and labels(modules) == srcs


def test_every_test_file_has_a_py_test():
    tests = files("tests/**/*_test.py")
    targets = bazel_query('kind("py_test", //...)')
    assert {f"//:{path[: -len('.py')]}" for path in tests} == targets
    srcs = bazel_query('labels(srcs, kind("py_test", //...))')
    assert labels(tests) == srcs


def test_every_launcher_has_a_py_binary_and_configs_a_library():
    launchers = files("launch/*.py", exclude=("__init__.py",))
    targets = bazel_query('kind("py_binary", //...)')
    assert {f"//:{path[: -len('.py')]}" for path in launchers} == targets
    configs = files("configs/*.py")
    assert labels(configs) == bazel_query("labels(srcs, //:configs)")
