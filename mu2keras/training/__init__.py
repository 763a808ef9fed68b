"""The training engine: candidates, fused generations, tf.distribute.

The controller builds a `Candidate` per path (its layers, trainable flags,
optimizer hyperparameters, inherited momentum, score function and
acceptance threshold), then calls `Trainer.train` once per generation.
"""

from mu2keras.training.budget import steps_between_validations
from mu2keras.training.budget import total_steps
from mu2keras.training.cache import WorkspaceCache
from mu2keras.training.candidate import Candidate
from mu2keras.training.candidate import Snapshot
from mu2keras.training.candidate import apply_snapshot
from mu2keras.training.optimizer import TraceSGD
from mu2keras.training.schedules import CandidateSchedule
from mu2keras.training.schedules import schedule_numbers
from mu2keras.training.strategy import make_strategy
from mu2keras.training.strategy import resolve_fused
from mu2keras.training.strategy import resolve_jit_compile
from mu2keras.training.structure import Structure
from mu2keras.training.trainer import TIMINGS
from mu2keras.training.trainer import BestTracker
from mu2keras.training.trainer import CandidateResult
from mu2keras.training.trainer import Trainer

__all__ = [
    "TIMINGS",
    "BestTracker",
    "Candidate",
    "CandidateResult",
    "CandidateSchedule",
    "Snapshot",
    "Structure",
    "TraceSGD",
    "Trainer",
    "WorkspaceCache",
    "apply_snapshot",
    "make_strategy",
    "resolve_fused",
    "resolve_jit_compile",
    "schedule_numbers",
    "steps_between_validations",
    "total_steps",
]
