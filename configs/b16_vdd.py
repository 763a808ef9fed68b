r"""µ2Net (and µNet's paper setting) on the Visual Domain Decathlon, ViT-B/16.

Spec §1.3, §2.6, §2.7: the AugReg ViT-B/16 (i21k, medium1, wd 0.1) root,
80×80 images, batch 256, N_e = 30 validations of up to 200 batches, adapters
mutated, 2 iterations × 64 samples over the 10 VDD tasks, auto-tune v1.

Local (VDD needs its manual TFDS download; see docs/data.md):

  python -m launch.evolve --config=configs/b16_vdd.py \
      --workdir=/tmp/mu2keras/b16_vdd

On a Cloud TPU VM:

  gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command \
    "cd mu2keras && .venv/bin/python -m launch.evolve \
       --config=configs/b16_vdd.py --tpu=local --auto_continue \
       --config.data_dir=gs://$BUCKET/tensorflow_datasets \
       --workdir=gs://$BUCKET/mu2keras/b16_vdd"

Arguments (`--config=configs/b16_vdd.py:ARG`): `method=mu2net|munet|
finetune_all|freeze_bottom:N|adapters:D|size_scale:P` (µNet's paper compares
finetune_all and size_scale:P here), `autotune=v1|v2|off` and `runlocal`.
"""

from configs import common
from mu2keras.tasks import BENCHMARKS


def get_config(arg=None):
    return common.benchmark_config(
        "b16", BENCHMARKS["vdd"], arg, runlocal_image_size=32
    )
