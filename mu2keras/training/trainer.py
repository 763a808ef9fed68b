"""Training a generation of candidates (spec §2.7, §2.8).

Each candidate trains for N_e intervals of N_v steps on the generation's
shared batches; after each interval it is evaluated on the fixed validation
subset, scored, and, when the score reaches the running best (which starts
at the candidate's acceptance threshold), snapshotted: trainable weights and
momentum copied to host memory. A candidate that reached its threshold at
some evaluation has *improved*; its best snapshot is written back into its
layers (`Trainer(write_back=True)`, the default) and returned. The other
candidates' layers are left exactly as they were: training happens in a
workspace, never on the candidates' own variables.
"""

import math
import time

import numpy as np
import tensorflow as tf

from mu2keras.training import cache as cache_lib
from mu2keras.training import candidate as candidate_lib
from mu2keras.training import data as data_lib
from mu2keras.training import evaluation as evaluation_lib
from mu2keras.training import fused as fused_lib
from mu2keras.training import kernels as kernels_lib
from mu2keras.training import layer_pool as layer_pool_lib
from mu2keras.training import strategy as strategy_lib
from mu2keras.training import structure as structure_lib

# What `CandidateResult.timings` holds, in seconds (see there).
TIMINGS = ("prep", "compile", "train", "eval", "copy")


class BestTracker:
    """The evaluation bookkeeping of one candidate (spec §2.7, §2.8).

    `best_score` starts at the threshold (the parent's score for a same-task
    parent, -inf across tasks). An evaluation whose score is >= the best so
    far (> in µNet, `strict=True`) becomes the best and must be
    snapshotted; reaching the threshold at all makes the candidate improved.

    Args:
        threshold: float.
        strict: bool. µNet's strict comparison (spec §10).
    """

    def __init__(self, threshold, strict=False):
        self.threshold = float(threshold)
        self.strict = strict
        self.best_score = self.threshold
        self.best_evaluation = None
        self.evaluations = []

    def update(self, quality, score, train_loss=float("nan")):
        """Records an evaluation; returns True if it is the new best."""
        self.evaluations.append(
            {
                "quality": float(quality),
                "score": float(score),
                "train_loss": float(train_loss),
            }
        )
        better = (
            score > self.best_score if self.strict else score >= self.best_score
        )
        if better:
            self.best_score = float(score)
            self.best_evaluation = len(self.evaluations) - 1
        return better

    @property
    def improved(self):
        return self.best_evaluation is not None

    @property
    def quality(self):
        """The path's quality: the maximum over evaluations (spec §2.8)."""
        return max((e["quality"] for e in self.evaluations), default=math.nan)

    @property
    def score(self):
        """The best score over evaluations (the snapshot's, if improved)."""
        return max((e["score"] for e in self.evaluations), default=math.nan)


class CandidateResult:
    """What training one candidate produced.

    Attributes:
        candidate: the `Candidate`.
        evaluations: list of dicts {quality, score, train_loss}, one per
            evaluation; `train_loss` is the mean over the interval before it.
        quality: float. Maximum validation quality.
        score: float. Maximum score.
        improved: bool. Some score reached the threshold.
        best_evaluation: int or None. The snapshot's evaluation.
        snapshot: `Snapshot` or None (not improved).
        losses: numpy array (T,), the training loss of every step.
        timings: dict of seconds for the group the candidate trained in:
            `prep` (workspace lookup or creation, weight/momentum/
            hyperparameter copies), `compile` (tracing and XLA compilation,
            0 when the structure's workspace was reused), `train`, `eval`
            and `copy` (snapshots and write-back).
        group_size: int. Candidates trained together (fused) with it.
        reused: bool. The group's traced functions were reused.
    """

    def __init__(self, candidate, tracker, snapshot, losses, timings, size):
        self.candidate = candidate
        self.evaluations = tracker.evaluations
        self.quality = tracker.quality
        self.score = tracker.score
        self.improved = tracker.improved
        self.best_evaluation = tracker.best_evaluation
        self.snapshot = snapshot
        self.losses = losses
        self.timings = timings
        self.group_size = size
        self.reused = timings["compile"] == 0.0

    def momentum(self):
        """The snapshot's momentum per layer (None where not trained).

        A list aligned with `candidate.layers`, to store in the components
        (spec §2.7, "optimizer state inheritance").
        """
        layers = self.candidate.layers
        if self.snapshot is None or self.snapshot.momentum is None:
            return [None] * len(layers)
        return [self.snapshot.momentum.get(i) for i in range(len(layers))]


class Trainer:
    """Trains generations of candidates under one strategy.

    Keep one `Trainer` for a whole run: it caches a workspace (optimizers,
    traced and compiled functions) per structure, and reuses it for every
    later group with the same structure. Its workspaces share blank layers
    (`layer_pool`), layer kernels (`kernels`, without XLA) and evaluations
    (`evaluations`, one per forward pass).

    Args:
        strategy: `tf.distribute.Strategy` or None for the current one
            (see `make_strategy`).
        jit_compile: bool or "auto" (see `strategy.resolve_jit_compile`).
        fused: bool or "auto". Train a generation's candidates in one
            graph (True) or one after the other (False); the results are
            the same. "auto" (see `strategy.resolve_fused`): fused on
            accelerators, one by one on CPUs.
        inherit_momentum: bool. µ2Net carries momentum (True); µNet starts
            every candidate at zero momentum and returns none (spec §10).
        strict_improvement: bool. µNet's strict `>` acceptance (spec §10).
        momentum_dtype: str. "float32", or "bfloat16" as the reference.
        max_cached_structures: int or None. Workspaces (and evaluations)
            kept (LRU). None: 32 one by one, 8 fused (the retracing and
            memory trade-off is in docs/benchmarks.md).
        write_back: bool. Write improved candidates' best snapshots into
            their layers.

    Example:

    ```python
    trainer = Trainer(strategy=make_strategy())
    results = trainer.train(
        candidates, train_ds, val_ds, steps_between_validations=8,
        num_validations=4)
    ```
    """

    def __init__(
        self,
        strategy=None,
        jit_compile="auto",
        fused="auto",
        inherit_momentum=True,
        strict_improvement=False,
        momentum_dtype="float32",
        max_cached_structures=None,
        write_back=True,
    ):
        self.strategy = strategy or tf.distribute.get_strategy()
        self.jit_compile = strategy_lib.resolve_jit_compile(
            jit_compile, self.strategy
        )
        self.fused = strategy_lib.resolve_fused(fused, self.strategy)
        self.inherit_momentum = inherit_momentum
        self.strict_improvement = strict_improvement
        self.momentum_dtype = momentum_dtype
        self.write_back = write_back
        if max_cached_structures is None:
            # One by one, a run's candidates have few distinct structures
            # (24 in 200 ti0-like ones). A cached workspace holds graphs,
            # not weights or momentum (those are pooled): over those 200,
            # 12 kept retraced 51 times (+161 MB), 32 kept traced each
            # structure once (+192 MB). A fused group's structure rarely
            # recurs.
            max_cached_structures = 8 if self.fused else 32
        self.cache = cache_lib.WorkspaceCache(max_cached_structures)
        # Shared by the workspaces: layer kernels (without XLA), blank
        # layers, and evaluations (structures that differ only in trainable
        # flags evaluate alike).
        self.kernels = kernels_lib.for_steps(self.jit_compile)
        self.layer_pool = layer_pool_lib.LayerPool(self.strategy)
        self.evaluations = cache_lib.WorkspaceCache(max_cached_structures)
        # The last completed generation's validation stream.
        self._validation = None

    def train(
        self,
        candidates,
        train_data,
        validation_data,
        steps_between_validations,
        num_validations,
        validation_steps=None,
    ):
        """Trains a generation; returns one `CandidateResult` per candidate.

        Args:
            candidates: list of `Candidate`, all for the same task and
                image size.
            train_data: `tf.data.Dataset` of `(images, labels)` global
                batches with a static batch size (`drop_remainder=True`),
                at least N_v × N_e of them. Every group starts reading it
                from the beginning (a new iterator), so all candidates see
                the same batches if every iterator yields the same stream,
                as `mu2keras.tasks.pipeline.train_dataset` does (a
                `shuffle(reshuffle_each_iteration=True)` does not).
            validation_data: `tf.data.Dataset` of `(images, labels)` or
                `(images, labels, weights)` batches: the fixed validation
                subset (`mu2keras.tasks.pipeline.validation_dataset(...)
                .dataset`, built without a strategy: the engine
                distributes both datasets itself). Pass the same object
                every generation while it does not change: the trainer
                then keeps reading its one iterator.
            steps_between_validations: int. N_v.
            num_validations: int. N_e.
            validation_steps: int or None. Batches per evaluation; None
                reads the (finite) dataset's cardinality.
        """
        candidates = list(candidates)
        if not candidates:
            raise ValueError("No candidates to train.")
        for name, value in (
            ("steps_between_validations", steps_between_validations),
            ("num_validations", num_validations),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"`{name}` must be an int; got {value!r}.")
            if value < 1:
                raise ValueError(f"`{name}` must be >= 1; got {value}.")
        # Only a completed generation's validation stream is handed on: a
        # failed one may have stopped mid-pass (the same batches, but summed
        # in another order).
        previous, self._validation = self._validation, None
        run = data_lib.GenerationData(
            self.strategy,
            train_data,
            validation_data,
            validation_steps,
            previous,
        )
        del previous  # A new validation set's cache fills without the old.
        groups = [candidates] if self.fused else [[c] for c in candidates]
        results = []
        for group in groups:
            results += self._train_group(
                group, run, steps_between_validations, num_validations
            )
        self._validation = run.validation
        return results

    def _workspace(self, group, run):
        structure = structure_lib.Structure(group)
        options = (run.signature, self.jit_compile, self.momentum_dtype)
        return self.cache.get(
            (structure.signature(), *options),
            lambda: fused_lib.Workspace(
                structure,
                self.strategy,
                run.global_batch_size,
                self.jit_compile,
                self.momentum_dtype,
                self.kernels,
                self.layer_pool,
                self._evaluation(structure, run),
            ),
        )

    def _evaluation(self, structure, run):
        evaluation, _ = self.evaluations.get(
            (
                structure.inference_signature(),
                run.signature[1],
                self.jit_compile,
            ),
            lambda: evaluation_lib.Evaluation(
                self.strategy,
                self.layer_pool.take(structure.sources, structure.kinds),
                structure,
                self.jit_compile,
                self.kernels,
            ),
        )
        return evaluation

    def _train_group(self, group, run, steps_between, num_validations):
        timings = dict.fromkeys(TIMINGS, 0)
        start = time.perf_counter()
        workspace, created = self._workspace(group, run)
        workspace.load(
            group, steps_between, num_validations, self.inherit_momentum
        )
        train_iterator = run.train_iterator()
        timings["prep"] = time.perf_counter() - start
        if created:
            # Trace and compile on zeros (restoring the state if a step ran).
            start = time.perf_counter()
            if workspace.warm_up(*run.zeros_iterators()):
                workspace.load(
                    group, steps_between, num_validations, self.inherit_momentum
                )
            timings["compile"] = time.perf_counter() - start
        trackers = [
            BestTracker(c.threshold, self.strict_improvement) for c in group
        ]
        snapshots = [None] * len(group)
        losses = []
        for evaluation in range(num_validations):
            start = time.perf_counter()
            interval = workspace.train(train_iterator, steps_between).numpy()
            losses.append(interval)
            timings["train"] += time.perf_counter() - start
            start = time.perf_counter()
            qualities = workspace.evaluate(
                run.validation_iterator, run.validation_steps
            ).numpy()
            timings["eval"] += time.perf_counter() - start
            start = time.perf_counter()
            for k, cand in enumerate(group):
                quality = float(qualities[k])
                if trackers[k].update(
                    quality, cand.score(quality), interval[:, k].mean()
                ):
                    weights, momentum = workspace.read(
                        k, with_momentum=self.inherit_momentum
                    )
                    snapshots[k] = candidate_lib.Snapshot(
                        weights, momentum, evaluation
                    )
            timings["copy"] += time.perf_counter() - start
        start = time.perf_counter()
        if self.write_back:
            for cand, snapshot in zip(group, snapshots, strict=True):
                if snapshot is not None:
                    candidate_lib.apply_snapshot(cand, snapshot)
        timings["copy"] += time.perf_counter() - start
        losses = np.concatenate(losses, axis=0)
        return [
            CandidateResult(
                cand,
                trackers[k],
                snapshots[k],
                losses[:, k],
                timings,
                len(group),
            )
            for k, cand in enumerate(group)
        ]
