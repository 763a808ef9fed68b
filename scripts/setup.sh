#!/usr/bin/env bash
# Sets up mu2keras on a fresh Debian machine (Python >= 3.10, root or sudo):
# Debian packages, the git-ignored virtualenv .venv, the package and extras.
# Re-running is cheap: each step is skipped when already done.
#   scripts/setup.sh          what the main job needs
#   scripts/setup.sh --test   plus what the tests need (bazel for BUILD checks)
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(dataset-fashion-mnist graphviz)
if [[ "${1:-}" == "--test" ]]; then
  apt_packages+=(bazel-bootstrap)
fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi

# pip, quiet unless it fails (this machine's pip config names local index
# folders that do not all exist, and pip warns about each one).
pip_install() {
  local log
  log=$(mktemp)
  if ! .venv/bin/pip install -q --disable-pip-version-check "$@" >"$log" 2>&1
  then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# Reinstall only when the requirements changed.
stamp=$(cat setup.py requirements-nodeps.txt | sha256sum | cut -c1-16)
if [[ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp" ]]; then
  echo "setup: installing mu2keras and its dependencies into .venv"
  pip_install -e ".[cpu,test,data,pretrained]"
  pip_install --no-deps -r requirements-nodeps.txt
  echo "$stamp" > .venv/.setup-stamp
fi
