r"""µ2Net ViT-L/16, stage 1 of 5: the ViT benchmark (ImageNet, CIFAR-100, -10).

The first stage of the 69-task system builds the root, the AugReg ViT-L/16
(i21k, medium2, wd 0.03, sd 0.1; spec §1.3), and grows it on the ViT benchmark.
Each later stage (`l16_vtab_full`, `l16_vdd`, `l16_chars`, `l16_vtab_1k`) adds
one benchmark to the finished system of the stage before (`--continue_from`,
spec §4).

Spec §2.6-§2.8: 384×384 images, batch 64, N_v up to 2,002 batches (about a
tenth of ImageNet), N_e = 4, 9,984 validation examples, 128 samples per task
(4 generations × 32 candidates on the reference's TPUv4-32), 1 iteration,
auto-tune v2, no adapter mutation, size reference 303,303,682 parameters.

The five stages on a Cloud TPU VM (run each line on every worker with
`gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command`;
`--auto_continue` makes a re-run resume a preempted stage):

  W=gs://$BUCKET/mu2keras/l16 DATA=gs://$BUCKET/tensorflow_datasets
  python -m launch.evolve --config=configs/l16_vit.py --tpu=local \
      --workdir=$W/l16_vit \
      --config.data_dir=$DATA --auto_continue
  python -m launch.evolve --config=configs/l16_vtab_full.py --tpu=local \
      --workdir=$W/l16_vtab_full --continue_from=$W/l16_vit \
      --config.data_dir=$DATA --auto_continue
  python -m launch.evolve --config=configs/l16_vdd.py --tpu=local \
      --workdir=$W/l16_vdd --continue_from=$W/l16_vtab_full \
      --config.data_dir=$DATA --auto_continue
  python -m launch.evolve --config=configs/l16_chars.py --tpu=local \
      --workdir=$W/l16_chars --continue_from=$W/l16_vdd \
      --config.data_dir=$DATA --auto_continue
  python -m launch.evolve --config=configs/l16_vtab_1k.py --tpu=local \
      --workdir=$W/l16_vtab_1k --continue_from=$W/l16_chars \
      --config.data_dir=$DATA --auto_continue

A local wiring check of this stage, with a tiny random root and budget (the
TFDS data must be reachable):

  python -m launch.evolve --config=configs/l16_vit.py:runlocal \
      --workdir=/tmp/mu2keras/l16_vit

Arguments (`--config=configs/l16_vit.py:ARG`): `method=mu2net|munet|
finetune_all|freeze_bottom:N|adapters:D|size_scale:P`, `autotune=v1|v2|off`
and `runlocal`.
"""

from configs import common
from mu2keras.tasks import BENCHMARKS


def get_config(arg=None):
    return common.benchmark_config(
        "l16", BENCHMARKS["vit"], arg, runlocal_image_size=32
    )
