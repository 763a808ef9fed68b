#!/usr/bin/env bash
# Runs the core training tests (tests/training) under tensorflow-cpu 2.19.1,
# the last TensorFlow Keras supports on TPU (tensorflow-tpu wheels exist for
# 2.19.1 and 2.20.0). Uses its own virtualenv, .venv-tf219, git-ignored by a
# .gitignore inside it; the main .venv (TensorFlow 2.21) is not touched.
#   scripts/test_tf219.sh [pytest args]
# The last result is recorded in docs/compat.md.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-tf219

if [[ ! -x "$venv/bin/python" ]]; then
  echo "test_tf219: creating $venv"
  python3 -m venv "$venv"
  # Everything inside is ignored by git (and so by ruff).
  echo '*' >"$venv/.gitignore"
fi

# Quiet pip unless it fails (this machine's pip config names local index
# folders that do not all exist, and pip warns about each one).
log=$(mktemp)
if ! "$venv/bin/pip" install -q --disable-pip-version-check \
  "tensorflow-cpu==2.19.1" "keras>=3.8" "tensorflow-datasets>=4.9" \
  matplotlib numpy scipy pytest absl-py ml-collections >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"

export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
"$venv/bin/python" -c 'import tensorflow as tf, keras
print("test_tf219: TensorFlow", tf.__version__, "Keras", keras.__version__)'
# The package from this checkout, without installing it.
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/training "$@"
