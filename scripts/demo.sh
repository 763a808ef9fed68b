#!/usr/bin/env bash
# Sets everything up, then runs mu2keras' main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# The µ2Net "ViT tiny 0 layers" root (spec §8.1) that the demo grows from.
.venv/bin/python -m launch.describe_root --variant=Ti/16 --num_layers=0 \
  --image_size=32 "$@"
