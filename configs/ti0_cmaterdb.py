r"""µ2Net's preliminary experiment: ViT tiny 0 layers on the Cmaterdb tasks.

Spec §8.1 ("ViT tiny 0 layers / Cmaterdb benchmark"): a randomly initialised
ViT-Ti/16 root without encoder blocks grows up to 3 of them while learning
cmaterdb/bangla, cmaterdb/devanagari and the private cmaterdb/telugu,
2 iterations × 32 samples per task, auto-tune v2.

Local (CPU; downloads the TFDS data on first use):

  python -m launch.evolve --config=configs/ti0_cmaterdb.py \
      --workdir=/tmp/mu2keras/ti0_cmaterdb

The same on a Cloud TPU VM (`--tpu=local`), state and data on GCS:

  gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command \
    "cd mu2keras && .venv/bin/python -m launch.evolve \
       --config=configs/ti0_cmaterdb.py --tpu=local --auto_continue \
       --config.data_dir=gs://$BUCKET/tensorflow_datasets \
       --workdir=gs://$BUCKET/mu2keras/ti0_cmaterdb"

Arguments (`--config=configs/ti0_cmaterdb.py:ARG`): `method=mu2net|munet|
finetune_all|freeze_bottom:N|adapters:D|size_scale:P`, `autotune=v1|v2|off`
and `runlocal` (a tiny root and budget: a wiring check in minutes).
"""

from configs import common


def get_config(arg=None):
    arg = common.parse_arg(arg, method="mu2net", autotune="", runlocal=False)
    config = common.setting_config("ti0", arg)
    # Telugu is private: its paths never seed the other tasks (spec §2.10).
    config.tasks = [
        "cmaterdb/bangla",
        "cmaterdb/devanagari",
        "private:cmaterdb/telugu",
    ]
    if arg.runlocal:
        config.update(common.RUNLOCAL)
        config.root.variant = "testing"
    return config
