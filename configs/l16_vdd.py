r"""µ2Net ViT-L/16, stage 3 of 5: the Visual Domain Decathlon (10 tasks).

Adds the Visual Domain Decathlon to the finished system of stage 2
(`l16_vtab_full`), which `--continue_from` reads and never modifies (spec §4).
Without `--continue_from` it starts from the AugReg ViT-L/16 root instead, like
`l16_vit`.

Spec §2.6-§2.8: 384×384 images, batch 64, N_v up to 2,002 batches (about a
tenth of ImageNet), N_e = 4, 9,984 validation examples, 128 samples per task
(4 generations × 32 candidates on the reference's TPUv4-32), 1 iteration,
auto-tune v2, no adapter mutation, size reference 303,303,682 parameters.

On a Cloud TPU VM (on every worker; `configs/l16_vit.py` sets W and DATA and
lists all five stages):

  python -m launch.evolve --config=configs/l16_vdd.py --tpu=local \
      --workdir=$W/l16_vdd --continue_from=$W/l16_vtab_full \
      --config.data_dir=$DATA --auto_continue

A local wiring check of this stage, with a tiny random root and budget (the
TFDS data must be reachable):

  python -m launch.evolve --config=configs/l16_vdd.py:runlocal \
      --workdir=/tmp/mu2keras/l16_vdd

Arguments (`--config=configs/l16_vdd.py:ARG`): `method=mu2net|munet|
finetune_all|freeze_bottom:N|adapters:D|size_scale:P`, `autotune=v1|v2|off`
and `runlocal`.
"""

from configs import common
from mu2keras.tasks import BENCHMARKS


def get_config(arg=None):
    return common.benchmark_config(
        "l16", BENCHMARKS["vdd"], arg, runlocal_image_size=32
    )
