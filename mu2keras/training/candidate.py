"""What the engine trains, and what it gives back.

The engine works on plain inputs, so that it needs nothing of the system's
bookkeeping (components, locks, paths): a `Candidate` is an ordered list of
built component layers, which of them are trainable, the optimizer
hyperparameters, the momentum each trainable layer starts from, and how its
validation quality turns into a score (spec §2.8).
"""

import math

import numpy as np

from mu2keras.pretrained import weights as weights_lib
from mu2keras.training import schedules

HPARAM_KEYS = (
    "opt_lr",
    "opt_lr_schedule",
    "opt_lr_warmup_ratio",
    "opt_momentum",
    "opt_nesterov",
)


class Candidate:
    """One path to train.

    Args:
        layers: list of built component layers, in path order. A layer
            object may appear in several candidates of a generation only
            while frozen (sharing by reference, spec §1.1).
        trainable: list of bool, one per layer. Trainable layers get
            gradients and updates; the others are constants.
        hparams: dict with the keys `HPARAM_KEYS` (other keys are ignored).
        momentum: list, one entry per layer: for a trainable layer, the
            momentum trace it starts from, a dict {variable path below the
            layer: array} (a clone's copy of its parent's, spec §2.7), or
            None for zeros (a new component). Ignored for frozen layers.
            None means zeros everywhere.
        score_fn: callable quality -> score, or None for the identity
            (µNet's scorer; spec §2.8 `ScorerDecay` with base 1).
        threshold: float. The score to reach to count as improved: the
            parent's score for a same-task parent, else -inf (spec §2.8).
        name: str. For messages and reports.
    """

    def __init__(
        self,
        layers,
        trainable,
        hparams,
        momentum=None,
        score_fn=None,
        threshold=-math.inf,
        name=None,
    ):
        layers = list(layers)
        trainable = [bool(t) for t in trainable]
        if not layers:
            raise ValueError("A candidate needs at least one layer.")
        if len(trainable) != len(layers):
            raise ValueError(
                f"`trainable` has {len(trainable)} flags for {len(layers)} "
                "layers."
            )
        if not any(trainable):
            raise ValueError(
                f"Candidate {name!r} has no trainable layer (its head, at "
                "least, is always trainable; spec §1.5)."
            )
        for layer in layers:
            if not layer.built:
                raise ValueError(f"Layer '{layer.name}' is not built.")
        trained = [id(x) for x, t in zip(layers, trainable, strict=True) if t]
        if len(set(trained)) != len(trained):
            raise ValueError(
                f"Candidate {name!r} uses a trainable layer twice."
            )
        momentum = [None] * len(layers) if momentum is None else momentum
        if len(momentum) != len(layers):
            raise ValueError(
                f"`momentum` has {len(momentum)} entries for {len(layers)} "
                "layers."
            )
        self.layers = layers
        self.trainable = trainable
        self.hparams = check_hparams(hparams)
        self.momentum = [
            _check_momentum(layer, m) if t else None
            for layer, t, m in zip(layers, trainable, momentum, strict=True)
        ]
        self.score_fn = score_fn
        self.threshold = float(threshold)
        self.name = name

    def score(self, quality):
        return quality if self.score_fn is None else self.score_fn(quality)

    def trainable_indices(self):
        return [i for i, t in enumerate(self.trainable) if t]

    def __repr__(self):
        names = [
            x.name + ("*" if t else "")
            for x, t in zip(self.layers, self.trainable, strict=True)
        ]
        return f"Candidate({self.name!r}, {names})"


def check_hparams(hparams):
    """Returns the optimizer hyperparameters, validated (spec §2.6)."""
    missing = [k for k in HPARAM_KEYS if k not in hparams]
    if missing:
        raise ValueError(f"hparams lack {missing}; got {sorted(hparams)}.")
    result = {k: hparams[k] for k in HPARAM_KEYS}
    # Validates lr, schedule and warmup ratio.
    schedules.schedule_numbers(
        result["opt_lr_schedule"],
        result["opt_lr"],
        result["opt_lr_warmup_ratio"],
        1,
        1,
    )
    momentum = result["opt_momentum"]
    if momentum is not None and not 0 <= momentum < 1:
        raise ValueError(f"opt_momentum must be in [0, 1); got {momentum!r}.")
    if not isinstance(result["opt_nesterov"], (bool, np.bool_)):
        raise ValueError(
            f"opt_nesterov must be a bool; got {result['opt_nesterov']!r}."
        )
    result["opt_nesterov"] = bool(result["opt_nesterov"])
    return result


def _check_momentum(layer, momentum):
    if momentum is None:
        return None
    variables = weights_lib.relative_variables(layer)
    unknown = sorted(set(momentum) - set(variables))
    if unknown:
        raise ValueError(
            f"Momentum keys {unknown} are not variables of '{layer.name}'; "
            f"its variables: {sorted(variables)}."
        )
    checked = {}
    for path, value in momentum.items():
        value = np.asarray(value, dtype=np.float32)
        if value.shape != tuple(variables[path].shape):
            raise ValueError(
                f"Momentum '{path}' of '{layer.name}' has shape "
                f"{value.shape}; the variable has "
                f"{tuple(variables[path].shape)}."
            )
        checked[path] = value
    return checked


class Snapshot:
    """The trainable state of a candidate at one evaluation (spec §2.7).

    Attributes:
        weights: dict layer index -> {variable path: numpy array}, for the
            candidate's trainable layers.
        momentum: dict layer index -> {variable path: numpy float32 array},
            or None when momentum is not carried (µNet, spec §10).
        evaluation: int. Which evaluation (0-based) it was taken at.
    """

    def __init__(self, weights, momentum, evaluation):
        self.weights = weights
        self.momentum = momentum
        self.evaluation = evaluation


def apply_snapshot(candidate, snapshot):
    """Writes a snapshot's weights into the candidate's trainable layers."""
    for index, values in snapshot.weights.items():
        layer = candidate.layers[index]
        variables = weights_lib.relative_variables(layer)
        for path, value in values.items():
            variables[path].assign(value)


def read_layer(layer):
    """{variable path: numpy array} of a layer's current weights."""
    return {
        path: np.array(variable.numpy())
        for path, variable in weights_lib.relative_variables(layer).items()
    }
