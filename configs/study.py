r"""The offline study: µ2Net against its baselines on the embedded tasks.

The paper grows a ViT pretrained on ImageNet-21k; no such weights reach an
offline machine. The stand-in root is a small ViT ("Mu/4": patch 4, width
64, 4 blocks, 28 px) trained from scratch on the largest embedded set,
Fashion-MNIST (60k images), as the only task of a first system
(`stage=root`). Its path is then *promoted* to be the root of the systems
the study compares (`stage=grow`), which learn MNIST, digits and textures
one after the other. `stage=scratch` trains an independent model per task
from a random root of the same architecture. The benchmarks in
`benchmarks/` (quality, forgetting, scaling, serving) run these stages;
docs/benchmarks.md has their figures.

The two stages by hand (2 cores: about 4 minutes, then 1 to 3 minutes per
method):

  python -m launch.evolve --config=configs/study.py:stage=root \
      --workdir=/tmp/mu2keras/study/root
  python -m launch.evolve --config=configs/study.py:method=mu2net \
      --promote_from=/tmp/mu2keras/study/root \
      --promote_task=embedded/fashion_mnist \
      --workdir=/tmp/mu2keras/study/mu2net_0 --seed=0

Arguments (`--config=configs/study.py:ARG`): `stage=root|grow|scratch`,
`method=mu2net|munet|finetune_all|freeze_bottom:N|adapters:D|size_scale:P`
(grow; N and D as in `METHODS`), `autotune=v1|v2|off` and `smoke`: the
"testing" ViT at 16 px and a few steps per candidate, for the benchmarks'
`--smoke` runs in CI.

Every method shares the grow stage's defaults and budget: the same
hyperparameter defaults, and the same training steps per task (µ2Net's 8
candidates × 4 validations × 10 steps; a baseline trains one candidate for
all 320, spec §7.4). µ2Net searches with the ti3 setting's µ and adapter
mutation and auto-tune v2 (v1 would mutate the image size, which the 28 px
root does not take).
"""

import ml_collections

from configs import common
from mu2keras.evolution import method as method_lib

ROOT_TASK = "embedded/fashion_mnist"
TASKS = ("embedded/mnist", "embedded/digits", "embedded/textures")
# The methods the quality benchmark compares, "scratch" being `stage=scratch`.
METHODS = (
    "mu2net",
    "finetune_all",
    "freeze_bottom:1",
    "freeze_bottom:3",
    "adapters:8",
    "adapters:32",
    "scratch",
)
STAGES = ("root", "grow", "scratch")
VARIANT, NUM_LAYERS, IMAGE_SIZE = "Mu/4", 4, 28

# (batch, N_v cap in examples, N_e, validation cap, candidates per task).
BUDGETS = {
    "root": (128, 32_768, 6, 2_048, 1),
    "grow": (64, 640, 4, 512, 8),
    "smoke_root": (16, 64, 2, 32, 1),
    "smoke_grow": (16, 32, 2, 32, 2),
}


def get_config(arg=None):
    arg = common.parse_arg(
        arg, stage="grow", method="mu2net", autotune="v2", smoke=False
    )
    if arg.stage not in STAGES:
        raise ValueError(
            f"Config argument stage must be one of {STAGES}; got {arg.stage!r}."
        )
    method = arg.method if arg.stage == "grow" else "finetune_all"
    baseline = method_lib.parse_method(method, NUM_LAYERS).baseline
    config = common.setting_config(
        "ti3",
        ml_collections.ConfigDict(
            dict(method=method, autotune="" if baseline else arg.autotune)
        ),
    )
    config.tasks = [ROOT_TASK] if arg.stage == "root" else list(TASKS)
    config.root.variant = "testing" if arg.smoke else VARIANT
    config.root.augreg_npz = ""
    config.root.num_layers = NUM_LAYERS
    config.reference_params = common.REFERENCE_PARAMS[VARIANT]
    if arg.stage == "grow":
        config.root.promote_task = ROOT_TASK  # From --promote_from.
    config.hparams.num_layers = NUM_LAYERS
    config.hparams.ds_image_size = 16 if arg.smoke else IMAGE_SIZE
    # Digits are not mirror-symmetric, and on 28 px images random crops
    # slow short trainings down (300 steps from scratch: 0.52 validation
    # accuracy with crops of at least half the image, 0.67 with
    # crops of the whole image). µ2Net's auto-tune can still turn both on.
    config.hparams.ds_flip_left_right = False
    config.hparams.ds_crop = False
    # From scratch the root needs a larger step than fine-tuning does.
    config.hparams.opt_lr = 0.1 if arg.stage == "root" else 0.01
    budget = BUDGETS[("smoke_" if arg.smoke else "") + _budget(arg.stage)]
    (
        config.batch_size,
        config.max_train_examples_between_validations,
        config.num_validations,
        config.max_validation_examples,
        config.num_samples_per_task,
    ) = budget
    config.num_candidates = 1
    config.num_task_iters = 1
    # The benchmarks export and measure systems themselves.
    config.export_saved_model = False
    config.intermediate_state_secs = 1e9
    config.keep_states = 1
    return config


def _budget(stage):
    return "root" if stage == "root" else "grow"
