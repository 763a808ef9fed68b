r"""µ2Net on the Chars benchmark from 3 layers of a pretrained ViT-Ti/16.

Spec §8.2 ("ViT tiny 3 layers / Chars benchmark"): the AugReg ViT-Ti/16
(i21k, light1, wd 0.1) root, paths of its bottom 3 blocks, adapters
mutated, 2 iterations × 64 samples over the 8 Chars tasks, auto-tune v1.

Local (the checkpoint is read from gs://vit_models; TFDS data downloaded on
first use):

  python -m launch.evolve --config=configs/ti3_chars.py \
      --workdir=/tmp/mu2keras/ti3_chars

On a Cloud TPU VM:

  gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command \
    "cd mu2keras && .venv/bin/python -m launch.evolve \
       --config=configs/ti3_chars.py --tpu=local --auto_continue \
       --config.data_dir=gs://$BUCKET/tensorflow_datasets \
       --workdir=gs://$BUCKET/mu2keras/ti3_chars"

Arguments (`--config=configs/ti3_chars.py:ARG`): `method=mu2net|munet|
finetune_all|freeze_bottom:N|adapters:D|size_scale:P`, `autotune=v1|v2|off`
and `runlocal` (a tiny random root and budget: a wiring check).
"""

from configs import common
from mu2keras.tasks import BENCHMARKS


def get_config(arg=None):
    return common.benchmark_config("ti3", BENCHMARKS["chars"], arg)
