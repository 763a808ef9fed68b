"""Fused generations: K candidates trained together in one graph.

A generation's candidates train on identical batches (spec §6.1). Their
trainable variables are disjoint (trainable components are always fresh
clones, spec §2.5), so one step on the *sum* of their losses gives each
candidate exactly its own gradients; clipping, learning rate and momentum
stay per candidate (one optimizer each). Shared frozen prefixes are
computed once per batch (the trie of `structure.Structure`).

The graph does not run on the candidates' own layers but on a `Workspace`:
blank copies of the distinct layers (from a `LayerPool`, built under the
distribution strategy's scope) and optimizers with their momentum slots,
into which each generation's weights, momentum and hyperparameters are
assigned. A workspace (so its traced and compiled functions) is reused by
every later generation with the same `Structure.signature()`: same layer
classes, configs and build shapes, same trainable flags, same trie.
Hyperparameters are variables, never trace constants.
"""

import functools

import numpy as np
import tensorflow as tf

from mu2keras.pretrained import weights as weights_lib
from mu2keras.training import evaluation as evaluation_lib
from mu2keras.training import kernels as kernels_lib
from mu2keras.training import layer_pool as layer_pool_lib
from mu2keras.training import optimizer as optimizer_lib
from mu2keras.training import schedules
from mu2keras.training import structure as structure_lib


class Workspace:
    """Variables, optimizers and traced step functions for one structure.

    Args:
        structure: `Structure`. Its layers serve as templates only.
        strategy: `tf.distribute.Strategy`.
        global_batch_size: int. Training batch size over all replicas.
        jit_compile: bool. Compile the per-replica computations with XLA.
        momentum_dtype: str. Storage dtype of the momentum traces.
        kernels: `LayerKernels` or None (a new one). Without XLA, layers
            run through these, shared with the trainer's other workspaces.
        layer_pool: `LayerPool` or None (a new one): where the workspace's
            layers come from, shared with the trainer's other workspaces.
        evaluation: `Evaluation` or None (a new one), of these layers and
            this structure's trie.
    """

    def __init__(
        self,
        structure,
        strategy,
        global_batch_size,
        jit_compile,
        momentum_dtype,
        kernels=None,
        layer_pool=None,
        evaluation=None,
    ):
        self.strategy = strategy
        self.nodes = list(structure.nodes)
        self.leaves = list(structure.leaves)
        self.slot_trainable = list(structure.slot_trainable)
        self.candidate_slots = [list(s) for s in structure.slots]
        self.global_batch_size = global_batch_size
        self.jit_compile = jit_compile
        self._kernels = kernels_lib.for_steps(jit_compile, kernels)
        if layer_pool is None:
            layer_pool = layer_pool_lib.LayerPool(strategy)
        elif layer_pool.strategy is not strategy:
            raise ValueError(
                f"The layer pool serves strategy {layer_pool.strategy!r}, "
                f"not this workspace's {strategy!r}."
            )
        self.layers = layer_pool.take(structure.sources, structure.kinds)
        if evaluation is None:
            evaluation = evaluation_lib.Evaluation(
                strategy, self.layers, structure, jit_compile, self._kernels
            )
        elif not _same_trie(evaluation, self):
            raise ValueError(
                "The evaluation runs other layers or another trie than this "
                "workspace's; make it with the workspace's layer pool and an "
                "equal `Structure.inference_signature()`."
            )
        self.evaluation = evaluation
        with strategy.scope():
            self._init_optimizers(momentum_dtype, layer_pool)
        # Each workspace traces its functions once. TF's retracing warning
        # counts traces per code object, which a bound method or a lambda
        # shares with every other workspace (a run of new structures would
        # warn of retracing); a partial is its own key.
        self._grad_fn = tf.function(
            functools.partial(self._grads),
            jit_compile=jit_compile,
            autograph=False,
        )
        self._train_fn = tf.function(
            functools.partial(self._train_loop), autograph=False
        )

    @property
    def num_candidates(self):
        return len(self.leaves)

    def _init_optimizers(self, momentum_dtype, layer_pool):
        self.optimizers, self.schedules = [], []
        # Per candidate: [(layer index, variable path, variable)].
        self.trained = []
        for k, slots in enumerate(self.candidate_slots):
            entries = []
            for index, slot in enumerate(slots):
                if not self.slot_trainable[slot]:
                    continue
                by_path = weights_lib.relative_variables(self.layers[slot])
                entries += [(index, p, v) for p, v in by_path.items()]
            optimizer, schedule = optimizer_lib.make_optimizer(
                momentum_dtype, name=f"candidate_{k}"
            )
            variables = [v for _, _, v in entries]
            optimizer.build(
                variables,
                layer_pool.momentum_traces(variables, momentum_dtype),
            )
            self.optimizers.append(optimizer)
            self.schedules.append(schedule)
            self.trained.append(entries)
        self._variables = [v for e in self.trained for _, _, v in e]
        # GradientTape wants the backend (tf.Variable) objects.
        self._tf_variables = [v.value for v in self._variables]
        bounds = np.cumsum([0] + [len(e) for e in self.trained])
        self._ranges = list(zip(bounds[:-1], bounds[1:], strict=True))

    # --- Host side: loading and reading state. ---

    def load(
        self,
        candidates,
        steps_between_validations,
        num_validations,
        inherit_momentum=True,
    ):
        """Assigns the group's weights, momentum and hyperparameters.

        Args:
            candidates: the group this workspace's structure was made from
                (or one with the same signature), in the same order.
            steps_between_validations: int. N_v (sets the schedules).
            num_validations: int. N_e.
            inherit_momentum: bool. Start from the candidates' momentum
                (µ2Net) or from zeros (µNet, spec §10).
        """
        sources = structure_lib.Structure(candidates).sources
        for layer, source in zip(self.layers, sources, strict=True):
            _assign_layer(layer, source)
        for k, cand in enumerate(candidates):
            hp = cand.hparams
            self.schedules[k].set(
                schedules.schedule_numbers(
                    hp["opt_lr_schedule"],
                    hp["opt_lr"],
                    hp["opt_lr_warmup_ratio"],
                    steps_between_validations,
                    num_validations,
                )
            )
            optimizer = self.optimizers[k]
            optimizer.set_hyperparameters(
                hp["opt_momentum"], hp["opt_nesterov"]
            )
            optimizer.reset()
            for (index, path, _), trace in zip(
                self.trained[k], optimizer.traces, strict=True
            ):
                momentum = cand.momentum[index] if inherit_momentum else None
                if momentum is None or path not in momentum:
                    trace.assign(tf.zeros(trace.shape, trace.dtype))
                else:
                    trace.assign(tf.cast(momentum[path], trace.dtype))

    def read(self, k, with_momentum=True):
        """Candidate k's trainable weights (and momentum), as numpy.

        Returns:
            (weights, momentum): dicts layer index -> {path: array};
            momentum is None when `with_momentum` is False.
        """
        weights, momentum = {}, {} if with_momentum else None
        traces = self.optimizers[k].traces
        for (index, path, variable), trace in zip(
            self.trained[k], traces, strict=True
        ):
            weights.setdefault(index, {})[path] = np.array(variable.numpy())
            if with_momentum:
                value = tf.cast(trace.value, tf.float32).numpy()
                momentum.setdefault(index, {})[path] = value
        return weights, momentum

    # --- Device side: the traced functions. ---

    def _grads(self, images, labels):
        # Only trainable variables are watched, so frozen layers cost no
        # weight-gradient work.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(self._tf_variables)
            logits = structure_lib.forward(
                self.layers,
                self.nodes,
                self.leaves,
                images,
                self._kernels,
                self.slot_trainable,
            )
            losses = tf.stack(
                [
                    tf.reduce_sum(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(
                            labels=labels, logits=tf.cast(x, tf.float32)
                        )
                    )
                    for x in logits
                ]
            )
            # Summing over replicas gives the mean over the global batch.
            losses = losses / self.global_batch_size
            total = tf.reduce_sum(losses)
        return losses, tape.gradient(total, self._tf_variables)

    def _replica_step(self, images, labels):
        losses, grads = self._grad_fn(images, labels)
        context = tf.distribute.get_replica_context()
        if context.num_replicas_in_sync > 1:
            # Before clipping: each candidate's global norm is that of the
            # global batch's gradient (spec §2.7).
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        for optimizer, (lo, hi) in zip(
            self.optimizers, self._ranges, strict=True
        ):
            optimizer.apply(grads[lo:hi], self._variables[lo:hi])
        return losses

    def _train_loop(self, iterator, num_steps):
        strategy = self.strategy

        def body(step, losses):
            images, labels = iterator.get_next()
            per_replica = strategy.run(self._replica_step, (images, labels))
            loss = strategy.reduce("SUM", per_replica, axis=None)
            return step + 1, losses.write(step, loss)

        losses = tf.TensorArray(
            tf.float32, size=num_steps, element_shape=(self.num_candidates,)
        )
        _, losses = tf.while_loop(
            lambda step, _: step < num_steps, body, (tf.constant(0), losses)
        )
        return losses.stack()

    def warm_up(self, train_iterator, eval_iterator):
        """Traces, optimises and compiles the step functions.

        Without XLA, the functions run with zero steps and zero batches:
        that traces them and has TensorFlow optimise and instantiate their
        graphs (the while loops' bodies included) without computing a
        step, so the workspace is left as it was. XLA compiles a function
        on its first execution, so with `jit_compile` one training step and
        one evaluation batch run, which change the weights, momentum and
        step counter: `load` again afterwards.

        Args:
            train_iterator: an iterator of training batches (e.g. zeros).
            eval_iterator: an iterator of validation batches.

        Returns:
            bool. Whether the state changed (so `load` is needed).
        """
        steps = 1 if self.jit_compile else 0
        self.train(train_iterator, steps).numpy()
        self.evaluation.warm_up(eval_iterator, steps)  # Once if shared.
        return steps > 0

    def train(self, iterator, num_steps):
        """Runs `num_steps` steps; returns the losses, shape (steps, K)."""
        return self._train_fn(iterator, tf.constant(num_steps, tf.int32))

    def evaluate(self, iterator, num_batches):
        """Returns each candidate's mean top-1 accuracy, shape (K,)."""
        return self.evaluation(iterator, num_batches)


def _assign_layer(target, source):
    targets = weights_lib.relative_variables(target)
    values = weights_lib.relative_variables(source)
    if set(targets) != set(values):
        raise ValueError(
            f"Layer '{source.name}' has variables {sorted(values)}; its "
            f"workspace copy has {sorted(targets)}."
        )
    for path, variable in targets.items():
        variable.assign(values[path].value)


def _same_trie(evaluation, workspace):
    return (
        evaluation.strategy is workspace.strategy
        and evaluation.nodes == workspace.nodes
        and evaluation.leaves == workspace.leaves
        and len(evaluation.layers) == len(workspace.layers)
        and all(
            a is b
            for a, b in zip(evaluation.layers, workspace.layers, strict=True)
        )
    )
