"""launch.agent refuses bad flags in one line, before writing anything."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
# The TPU resolver asks the GCE metadata server for the project; here a
# closed local port refuses it at once.
ENV = dict(
    os.environ, TF_CPP_MIN_LOG_LEVEL="2", GCE_METADATA_HOST="127.0.0.1:9"
)


def agent(tmp_path, *flags):
    system = tmp_path / "system"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "launch.agent",
            "--config=configs/agent.py:runlocal",
            f"--system={system}",
            *flags,
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, system


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--task=embedded/nope"],
            "agent: --task=embedded/nope: Unknown task 'embedded/nope'",
        ),
        (
            ["--task=embedded/digits,embedded/digits"],
            "agent: --task=embedded/digits,embedded/digits: give each task "
            "once",
        ),
        (
            ["--task=embedded/digits", "--name=no/slash"],
            "agent: --name: Invalid agent name 'no/slash'",
        ),
        (
            ["--task=embedded/digits", "--tpu=nosuch"],
            "agent: --tpu=nosuch: cannot reach this TPU (URLError: <urlopen "
            "error [Errno 111] Connection refused>).",
        ),
    ],
    ids=["task", "task twice", "name", "tpu"],
)
def test_bad_flags_fail_in_one_line_and_write_nothing(tmp_path, flags, message):
    result, system = agent(tmp_path, *flags)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(message), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not system.exists()
