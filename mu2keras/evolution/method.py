"""Methods: µ2Net, µNet and the baselines (spec §7.4, §10).

A method string, as in the configs' `method=` argument:

* `mu2net`: the evolutionary method (per-path µ, decay sampling, score ≥
  parent, momentum inheritance);
* `munet`: µNet (spec §10): a global mutation probability, a deterministic
  seed phase, strict > acceptance, no momentum inheritance;
* `finetune_all`: every component cloned (µ = 1) with a new head;
* `freeze_bottom:N`: blocks N and up, the norm and a new head trained; the
  rest shared frozen (µ = 0);
* `adapters:D`: adapters of width D before every block, the norm and a new
  head trained; the backbone frozen (µ = 0);
* `size_scale:P`: µ2Net with score base P/100 and a `num_layers` range
  1..L, so that layers can be dropped to save parameters (spec §2.8).

Baselines (`finetune_all`, `freeze_bottom`, `adapters`) clone the root for
every candidate, with no hyperparameter search; they train for the whole
budget the evolutionary run spends on a task (spec §7.4).
"""

import dataclasses
import math

from mu2keras import architecture
from mu2keras.training import budget

MUNET_MUTATION_PROBABILITY = 0.1  # µNet's global `mutation_prob` (§10).


@dataclasses.dataclass(frozen=True)
class Method:
    """What a method string means to the controller.

    Attributes:
        name: str. The method string.
        baseline: bool. Every candidate clones the root, without search.
        score_base: float. Base of the size penalty (spec §2.8).
        max_layers: int or None. Adds a `num_layers` range 1..max_layers.
        global_mu: float or None. Replaces each path's µ (µNet, baselines).
        strict: bool. Accept only a score > the parent's (µNet).
        inherit_momentum: bool. Clones start from the parent's momentum.
        seed_phase: bool. µNet's deterministic first pass over the seeds.
        force_finetune: tuple of component names always cloned.
        adapter_layers: str or None. Fixed adapters ("0_1_2"), baselines.
        adapter_dim: int or None. Their width.
        num_layers: int or None. Fixed depth, baselines.
    """

    name: str
    baseline: bool = False
    score_base: float = 1.0
    max_layers: int = None
    global_mu: float = None
    strict: bool = False
    inherit_momentum: bool = True
    seed_phase: bool = False
    force_finetune: tuple = (architecture.ENCODER_NORM,)
    adapter_layers: str = None
    adapter_dim: int = None
    num_layers: int = None


def parse_method(text, num_layers):
    """Parses a method string.

    Args:
        text: str, e.g. "mu2net", "freeze_bottom:2", "adapters:16".
        num_layers: int. The paths' depth L (the config's default
            `num_layers`), for the baselines and `size_scale`.

    Returns:
        A `Method`.
    """
    name, _, arg = text.partition(":")
    if name in ("mu2net", "munet", "finetune_all") and arg:
        raise ValueError(f"Method {name!r} takes no argument; got {text!r}.")
    if name == "mu2net":
        return Method(text)
    if name == "munet":
        return Method(
            text,
            global_mu=MUNET_MUTATION_PROBABILITY,
            strict=True,
            inherit_momentum=False,
            seed_phase=True,
        )
    if name == "finetune_all":
        return Method(text, baseline=True, global_mu=1.0, num_layers=num_layers)
    if name == "freeze_bottom":
        bottom = _int_arg(text, arg, 0, num_layers)
        blocks = tuple(
            architecture.encoder_block_name(i)
            for i in range(bottom, num_layers)
        )
        return Method(
            text,
            baseline=True,
            global_mu=0.0,
            force_finetune=(architecture.ENCODER_NORM,) + blocks,
            num_layers=num_layers,
        )
    if name == "adapters":
        dim = _int_arg(text, arg, 1, None)
        return Method(
            text,
            baseline=True,
            global_mu=0.0,
            adapter_layers="_".join(str(i) for i in range(num_layers)),
            adapter_dim=dim,
            num_layers=num_layers,
        )
    if name == "size_scale":
        percent = _int_arg(text, arg, 1, 100)
        return Method(
            text, score_base=percent / 100, max_layers=max(num_layers, 1)
        )
    raise ValueError(
        f"Unknown method {text!r}; use mu2net, munet, finetune_all, "
        "freeze_bottom:N, adapters:D or size_scale:P."
    )


def _int_arg(text, arg, low, high):
    if not arg.isdigit():
        raise ValueError(f"Method {text!r} needs an integer argument.")
    value = int(arg)
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"Method {text!r}: {value} is not in {bound}.")
    return value


def training_budget(config, method, num_train_examples):
    """A candidate's N_v steps between validations and N_e validations.

    Spec §2.7; a baseline's one candidate trains for the whole budget that
    µ2Net spends on the task (spec §7.4).

    Args:
        config: the experiment ConfigDict.
        method: `mu2keras.evolution.method.Method`.
        num_train_examples: int. The task's training split size.

    Returns:
        `(n_v, n_e)`.
    """
    n_v = budget.steps_between_validations(
        num_train_examples,
        config.max_train_examples_between_validations,
        config.batch_size,
    )
    n_e = config.num_validations
    if method.baseline:
        n_e *= config.num_task_iters * math.ceil(
            config.num_samples_per_task / config.num_candidates
        )
    return n_v, n_e
