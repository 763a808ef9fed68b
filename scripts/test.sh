#!/usr/bin/env bash
# Sets everything up, then runs mu2keras' checks: ruff and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q "$@"
