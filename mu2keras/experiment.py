"""The experiment config every launcher and config file fills in.

`default_config()` lists every field the controller reads, with the values
of µ2Net's "ViT tiny 0 layers" setting (spec §8.1); `configs/*.py` start
from it. `check_config` fails fast, naming the field, before any work.
"""

import ml_collections

from mu2keras import architecture
from mu2keras import config_checks
from mu2keras import pretrained
from mu2keras import roots
from mu2keras.architecture import VARIANT_KEY
from mu2keras.evolution import method as method_lib
from mu2keras.evolution import search_space
from mu2keras.pretrained import augreg
from mu2keras.pretrained import checkpoints
from mu2keras.training import strategy as strategy_lib


def default_config():
    """The experiment config, with spec §8.1's values."""
    c = ml_collections.ConfigDict()
    c.tasks = [
        "cmaterdb/bangla",
        "cmaterdb/devanagari",
        "private:cmaterdb/telugu",
    ]
    c.data_dir = ""  # TFDS / embedded data folder ("" = defaults).
    # A user-task hook, "module:function" (`mu2keras.tasks.task_hook`): a
    # function returning a list of `from_arrays` / `from_datasets` tasks,
    # which `tasks` may then name. "" = none.
    c.user_tasks = ""
    # The root (spec §1.3): random, an AugReg .npz, a keras-hub preset, or
    # a task's best path promoted from another system.
    c.root = ml_collections.ConfigDict()
    c.root.variant = "Ti/16"
    # Blocks of a random root; -1: the setting's `num_layers`. The root is
    # built at the default `ds_image_size`.
    c.root.num_layers = -1
    c.root.seed = 0
    # A named checkpoint (`mu2keras.pretrained.checkpoints.names()`), e.g.
    # "dinov2_s14_imgfocus"; it sets the variant. Its `num_layers` blocks
    # are loaded (-1: all of them).
    c.root.checkpoint = ""
    c.root.augreg_npz = ""
    c.root.keras_hub_preset = ""
    # Promotion (`mu2keras.roots.promote_from_state`): a run's workdir or a
    # state directory, and one of its (ended, non-private) tasks, both or
    # neither. The root is a copy of that task's best path with a new head;
    # its ViT variant and resolution are the path's (`variant` and
    # `num_layers` above are unused), and the root path's `num_layers`,
    # `adapter_layers` and `adapter_dim` are the path's, so children start
    # as the promoted path (the baseline methods keep their own).
    c.root.promote_from = ""
    c.root.promote_task = ""
    # Search space (spec §2.6) and method (spec §7.4, §10).
    c.setting = "ti0"
    c.autotune = "default"
    c.method = "mu2net"
    c.hparams = ml_collections.ConfigDict()  # Overrides of the defaults.
    c.mutate_adapters = False
    c.score_base = 1.0  # size_scale:P sets P/100.
    c.reference_params = 1_484_162  # Ti/16 (spec §2.8).
    # µ3Net's score: FLOPs per example that cost one score_base (e.g.
    # score.REFERENCE_FLOPS); 0: no FLOPs term, µ2Net's score.
    c.reference_flops = 0.0
    # The loop (spec §2.1, §2.2) and the training budget (spec §2.7).
    c.num_task_iters = 2
    c.num_samples_per_task = 32
    # K, candidates per generation; 0: one per replica of the strategy, as
    # the reference runs one per device (spec §2.2, §6.1).
    c.num_candidates = 0
    c.batch_size = 512
    c.max_train_examples_between_validations = 51_200
    c.num_validations = 4
    c.max_validation_examples = 5_120
    # Engine.
    c.fused = "auto"  # Fused on accelerators, one by one on CPUs.
    c.jit_compile = "auto"
    c.momentum_dtype = "float32"
    # "bfloat16": components compute in bfloat16, their variables float32
    # (Keras' mixed_bfloat16); set when a system is made, kept by its state.
    c.compute_dtype = "float32"
    # State, checks, export (spec §2.10, §6.2).
    c.intermediate_state_secs = 3600.0
    c.keep_states = 3
    c.check_immutability = True
    # Test every ended task's best path again after each task visit (the
    # accuracy matrix, measured). False: only new best paths are tested and
    # the others' test accuracies are carried once the immutability check
    # has found their outputs bit-identical (the notebook's default; its
    # TEST_MODELS_IMMUTABILITY re-tests). It saves O(tasks²) test passes.
    c.retest_ended_tasks = True
    c.export_saved_model = True
    c.seed = 0
    return c


def check_config(config):
    """Raises ValueError naming the first bad field of `config`."""
    if not config.tasks:
        raise ValueError("config.tasks is empty: name at least one task.")
    config_checks.check_fields(config)
    method_lib.check_num_candidates(config.num_candidates)
    if config.max_validation_examples < config.batch_size:
        raise ValueError(
            f"config.max_validation_examples={config.max_validation_examples}"
            f" is smaller than config.batch_size={config.batch_size}."
        )
    root_variant(config)
    _check_root_source(config.root)
    defaults, ranges = hparam_space(config)
    method_lib.parse_method(config.method, defaults["num_layers"])
    if not 0.0 < config.score_base <= 1.0:
        raise ValueError(
            f"config.score_base must be in (0, 1]; got {config.score_base}."
        )
    if config.momentum_dtype not in ("float32", "bfloat16"):
        raise ValueError(
            "config.momentum_dtype must be float32 or bfloat16; got "
            f"{config.momentum_dtype!r}."
        )
    for name in ("fused", "jit_compile"):
        strategy_lib.parse_switch(f"config.{name}", config[name])
    if not (
        config.get("retest_ended_tasks", True) or config.check_immutability
    ):
        raise ValueError(
            "config.retest_ended_tasks=False carries test accuracies that "
            "the immutability check verified; it needs "
            "config.check_immutability=True."
        )
    return defaults, ranges


_ROOT_SOURCES = ("promote_from", "checkpoint", "augreg_npz", "keras_hub_preset")


def _check_root_source(rc):
    if bool(rc.promote_from) != bool(rc.promote_task):
        raise ValueError(
            "config.root.promote_from and config.root.promote_task go "
            f"together; got promote_from={rc.promote_from!r}, "
            f"promote_task={rc.promote_task!r}."
        )
    given = [name for name in _ROOT_SOURCES if rc.get(name)]
    if len(given) > 1:
        raise ValueError(
            f"config.root: {', '.join(f'{n}={rc[n]!r}' for n in given)} each "
            'make the root; give one of them (set the others to "").'
        )


def root_variant(config):
    """The root's ViT variant: a named checkpoint's, else config.root's."""
    name = config.root.get("checkpoint", "")
    if name:
        return architecture.get_variant(checkpoints.variant(name))
    return architecture.get_variant(config.root.variant)


def hparam_space(config):
    """The defaults (with `config.hparams` applied) and the ranges."""
    num_layers = search_space.DEFAULT_HPARAMS[config.setting]["num_layers"]
    num_layers = config.hparams.get("num_layers", num_layers)
    method = method_lib.parse_method(config.method, num_layers)
    defaults, ranges = search_space.search_space(
        config.setting,
        method_lib.autotune_table(method, config.autotune),
        max_layers=method.max_layers,
        num_layers=num_layers,
    )
    for key, value in config.hparams.items():
        if key not in defaults:
            raise ValueError(
                f"config.hparams.{key} is not a hyperparameter; known: "
                f"{sorted(defaults)}."
            )
        defaults[key] = value
    if method.num_layers is not None:
        defaults["num_layers"] = method.num_layers
    if method.adapter_layers is not None:
        defaults["adapter_layers"] = method.adapter_layers
        defaults["adapter_dim"] = method.adapter_dim
    patch = None  # A promoted root's patch is known once it is loaded.
    if not config.root.promote_from:
        patch = root_variant(config).patch_size
    config_checks.check_hparams(defaults, patch)
    if "ds_image_size" in ranges and patch:
        ranges["ds_image_size"] = _image_sizes(ranges["ds_image_size"], patch)
    search_space.validate(defaults, ranges)
    return defaults, ranges


def _image_sizes(sizes, patch_size):
    """The auto-tuned image sizes for a root's patch size: the reference's
    list when the patch divides it (16 px steps), else the multiples of the
    patch over the same span (a patch-14 root: 28, 42, ..., 378)."""
    if all(size % patch_size == 0 for size in sizes):
        return sizes
    low = -(-min(sizes) // patch_size) * patch_size
    return list(range(low, max(sizes) + 1, patch_size))


def build_root(config, defaults):
    """Makes the root of a new system from `config.root` (spec §1.3).

    Returns:
        A `mu2keras.roots.Root`, and the root path's hyperparameters: the
        defaults plus the root's ViT variant; for a promoted root also its
        `roots.root_hparams` (depth and adapters), except with a baseline
        method, which fixes them.
    """
    rc = config.root
    image_size = defaults["ds_image_size"]
    _check_root_source(rc)
    if rc.promote_from:
        root = roots.promote_from_state(
            rc.promote_from, rc.promote_task, seed=rc.seed
        )
    elif rc.get("checkpoint"):
        num_layers = None if rc.num_layers < 0 else rc.num_layers
        root = pretrained.load_checkpoint(rc.checkpoint, image_size, num_layers)
    elif rc.augreg_npz:
        root = pretrained.load_augreg_npz(rc.augreg_npz, rc.variant, image_size)
    elif rc.keras_hub_preset:
        import keras_hub

        backbone = keras_hub.models.ViTBackbone.from_preset(rc.keras_hub_preset)
        root = pretrained.from_keras_hub(backbone, image_size)
    else:
        num_layers = rc.num_layers
        if num_layers < 0:
            num_layers = max(defaults["num_layers"], 0)
        root = roots.make_root(rc.variant, num_layers, image_size, rc.seed)
    policy = architecture.dtype_policy(config.get("compute_dtype", "float32"))
    root = roots.with_dtype_policy(root, policy)
    hparams = dict(defaults)
    method = method_lib.parse_method(config.method, defaults["num_layers"])
    if rc.promote_from and not method.baseline:
        hparams.update(roots.root_hparams(root))
    hparams[VARIANT_KEY] = root.variant._asdict()
    return root, hparams


def has_position_source(config):
    """Whether the root comes from a checkpoint `position_source` reads."""
    return bool(config.root.get("checkpoint") or config.root.augreg_npz)


def position_source(config):
    """The position embedding a new image size is resized from.

    For a checkpoint root, the checkpoint's own (read again, as the
    reference reloads it), so that every resize starts from the original
    grid; None for other roots (the root path's own is used).
    """
    rc = config.root
    if rc.get("checkpoint"):
        return checkpoints.load_position_source(rc.checkpoint)
    if rc.augreg_npz:
        return augreg.load_position_embedding(rc.augreg_npz, rc.variant)
    return None
