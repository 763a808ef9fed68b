"""Methods: µ2Net, µNet and the baselines (spec §7.4, §10).

A method string, as in the configs' `method=` argument:

* `mu2net`: the evolutionary method (per-path µ, decay sampling, score ≥
  parent, momentum inheritance);
* `munet`: µNet (spec §8.2, §10): a global mutation probability 0.1 (for
  the data hyperparameters too), µNet's parent policy (a seed phase, then
  decay over the task's own paths by total children: see
  `mu2keras.evolution.selection.MuNetSampler`), strict > acceptance, no
  momentum inheritance, new components seeded with the child's path id,
  a `num_layers` range 1..L and µNet's auto-tune table ("munet": learning
  rates up to 0.1, momentum without 0.85 and 0.98);
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

Candidates per generation (spec §2.2, §6.1): the reference trains one
candidate per device, so K = `config.num_candidates`, or with 0 (the
default) the strategy's replica count: 1 on one device, 8 on a TPUv3-8.
A task then takes ceil(num_samples_per_task / K) generations. An explicit
K is kept whatever the devices (a fused group may hold more candidates
than there are replicas); with 0, a resumed run takes the replica count of
the machine that resumes it.

Baselines on one device and on N replicas: the reference trains n_devices
replicas of one baseline candidate and keeps the best (spec §7.4). They
are the same computation: each clones the root with the same
hyperparameters, its new components from the same PRNG key, and trains on
the same batches, so the best of them is any of them. mu2keras trains one
candidate on one device and on N replicas alike; under N replicas it is
trained data-parallel over all of them, so the devices shorten the run
instead of repeating it. Its budget is the reference's on the same
devices: N_e × num_task_iters × ceil(num_samples_per_task / K), the time
the evolutionary method spends on the task.
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
        seed_phase: bool. µNet's parent policy, which begins each task
            visit with a deterministic pass over the seeds
            (`selection.make_sampler`).
        autotune: str or None. The auto-tune table `autotune="default"`
            means (None: the setting's).
        init_from_path_id: bool. New components are seeded with the
            child's path id (µNet) instead of 0 (µ2Net, spec §10).
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
    autotune: str = None
    init_from_path_id: bool = False
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
        # muNet.ipynb's ti3 and base configs add `num_layers` 1..L to their
        # ranges (its large one, not the l16 setting here, has none).
        return Method(
            text,
            max_layers=max(num_layers, 1),
            global_mu=MUNET_MUTATION_PROBABILITY,
            strict=True,
            inherit_momentum=False,
            seed_phase=True,
            autotune="munet",
            init_from_path_id=True,
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


def autotune_table(method, autotune):
    """The auto-tune table to use: "off" for a baseline, the method's own
    for "default" (µNet's), else `autotune` as given."""
    if method.baseline:
        return "off"
    if autotune == "default" and method.autotune:
        return method.autotune
    return autotune


def data_mu(method, defaults):
    """The probability of each data-hyperparameter mutation (spec §2.3):
    the config's default µ, or the method's global one (µNet's 0.1)."""
    if method.global_mu is not None:
        return method.global_mu
    return defaults["_mu_"]


def check_num_candidates(value):
    """Raises unless `value` is a valid `config.num_candidates` (int >= 0)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            "config.num_candidates must be an int >= 0 (0: one per "
            f"replica); got {value!r}."
        )


def generation_size(config, replicas):
    """K, the evolutionary method's candidates per generation: the
    config's `num_candidates`, or with 0 one per replica (spec §2.2)."""
    check_num_candidates(config.num_candidates)
    return config.num_candidates or max(int(replicas), 1)


def candidates_per_generation(config, method, replicas=1):
    """Candidates trained per generation: 1 for a baseline (see the module
    docstring), else `generation_size`."""
    return 1 if method.baseline else generation_size(config, replicas)


def num_generations(config, method, replicas=1):
    """Generations per task visit: ceil(num_samples_per_task / K), or 1
    for a baseline."""
    if method.baseline:
        return 1
    k = generation_size(config, replicas)
    return math.ceil(config.num_samples_per_task / k)


def training_budget(config, method, num_train_examples, replicas=1):
    """A candidate's N_v steps between validations and N_e validations.

    Spec §2.7; a baseline's one candidate trains for the whole budget that
    µ2Net spends on the task (spec §7.4).

    Args:
        config: the experiment ConfigDict.
        method: `mu2keras.evolution.method.Method`.
        num_train_examples: int. The task's training split size.
        replicas: int. The strategy's replicas (for K, see
            `generation_size`).

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
        generations = math.ceil(
            config.num_samples_per_task / generation_size(config, replicas)
        )
        n_e *= config.num_task_iters * generations
    return n_v, n_e
