"""The candidate optimizer: clipped SGD with an optax-style momentum trace.

Spec §2.7: `optax.chain(clip_by_global_norm(1.0), sgd(lr, momentum,
nesterov))`. Clipping and the learning-rate schedule are Keras' own
(`global_clipnorm`, computed in fewer ops; a `LearningRateSchedule`); the
update rule is optax's `trace`, not Keras' `SGD`:

    optax:  t ← g + μ·t;           Δw = −lr·t     (nesterov: −lr·(g + μ·t))
    Keras:  v ← μ·v − lr·g;        Δw = v         (nesterov: μ·v − lr·g)

The two agree only while lr is constant. Keras' velocity has the learning
rate folded in, so under a warmup/cosine schedule the two diverge, and a
velocity inherited by a clone (µ2Net's momentum inheritance) would carry its
parent's learning rates. optax's trace is learning-rate free: it is what a
component carries from parent to child.
"""

import keras
import tensorflow as tf
from keras import ops

from mu2keras.training import schedules

# Spec §2.7: gradients are clipped to a global norm of 1.0 per candidate.
GLOBAL_CLIPNORM = 1.0


class TraceSGD(keras.optimizers.Optimizer):
    """SGD with an optax-style momentum trace, settable without retracing.

    `momentum` and `nesterov` are variables (as is every number of the
    `CandidateSchedule`), so one traced step serves all hyperparameters.
    Build it, like the variables it updates, under the distribution
    strategy's scope.

    Gradients passed to `apply` must already be summed over replicas: the
    training step all-reduces them *before* clipping, so that the global
    norm is that of the global batch's gradient (Keras' TF optimizer clips
    per replica, then sums).

    Args:
        learning_rate: float or `LearningRateSchedule`.
        momentum: float or None. μ of the trace; None means plain SGD.
        nesterov: bool. Nesterov momentum.
        momentum_dtype: str. Dtype the trace is stored in: "float32", or
            "bfloat16" as the reference (`accumulator_dtype`); updates are
            always computed in the variable's dtype, with μ rounded to the
            trace's dtype as the reference does (bfloat16: 0.9 acts as
            0.8984375).
        global_clipnorm: float. Global-norm clipping of the gradients.
        name: str.
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.9,
        nesterov=False,
        momentum_dtype="float32",
        global_clipnorm=GLOBAL_CLIPNORM,
        name="trace_sgd",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        if momentum_dtype not in ("float32", "bfloat16"):
            raise ValueError(
                "momentum_dtype must be 'float32' or 'bfloat16'; got "
                f"{momentum_dtype!r}."
            )
        self.momentum_dtype = momentum_dtype
        with keras.name_scope(self.name, caller=self):
            self.momentum = keras.Variable(
                0.0, dtype="float32", trainable=False, name="momentum"
            )
            # A 0/1 float rather than a bool variable: TPU-friendly.
            self.nesterov = keras.Variable(
                0.0, dtype="float32", trainable=False, name="nesterov"
            )
        self._track_variable(self.momentum)
        self._track_variable(self.nesterov)
        self._cached_scalars = None
        self.set_hyperparameters(momentum, nesterov)

    def set_hyperparameters(self, momentum, nesterov):
        """Sets μ (None means 0, plain SGD) and the Nesterov flag."""
        momentum = 0.0 if momentum is None else momentum
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); got {momentum!r}.")
        if not isinstance(nesterov, bool):
            raise ValueError(f"nesterov must be a bool; got {nesterov!r}.")
        self.momentum.assign(float(momentum))
        self.nesterov.assign(1.0 if nesterov else 0.0)

    def build(self, variables, traces=None):
        """Creates the momentum traces, or takes `traces` (one per variable,
        of `momentum_dtype`, e.g. shared between optimizers that never run
        at the same time: the engine's `LayerPool`)."""
        if self.built:
            return
        super().build(variables)
        if traces is None:
            traces = [
                self.add_variable(
                    shape=variable.shape,
                    initializer="zeros",
                    dtype=self.momentum_dtype,
                    name=slot_name(variable),
                )
                for variable in variables
            ]
        for variable, trace in zip(variables, traces, strict=True):
            if trace.shape != variable.shape or trace.dtype != (
                self.momentum_dtype
            ):
                name = getattr(variable, "path", variable.name)
                raise ValueError(
                    f"Trace {trace.name!r} ({trace.shape}, {trace.dtype}) "
                    f"does not fit variable {name!r} "
                    f"({variable.shape}, {self.momentum_dtype})."
                )
        self.traces = list(traces)

    def update_step(self, gradient, variable, learning_rate):
        trace = self.traces[self._get_variable_index(variable)]
        if trace.dtype == variable.dtype:
            self._fused_update(gradient, variable, trace, learning_rate)
        else:
            self._cast_update(gradient, variable, trace, learning_rate)

    def _fused_update(self, gradient, variable, trace, learning_rate):
        # Two fused ops instead of about ten (tracing a new structure's step
        # is a cost per candidate): with t ← g + μ·t, the update is t, or
        # g + μ·t with Nesterov, that is b·t + a·g (b = 1 or μ, a = 0 or 1).
        # Without Nesterov, subtracting 0·g leaves the weights as they are.
        dtype = variable.dtype
        lr_trace, lr_gradient, mu = self._scalars(learning_rate, dtype)
        gradient = tf.cast(gradient, dtype)
        tf.raw_ops.ResourceApplyMomentum(
            var=variable.handle,
            accum=trace.value.handle,
            lr=lr_trace,
            grad=gradient,
            momentum=mu,
        )
        tf.raw_ops.ResourceApplyGradientDescent(
            var=variable.handle, alpha=lr_gradient, delta=gradient
        )

    def _scalars(self, learning_rate, dtype):
        # (lr·b, lr·a, μ), made once per `apply` and dtype rather than per
        # variable: every variable gets the same learning-rate tensor (one
        # per device under MirroredStrategy, hence the identity check).
        cached = self._cached_scalars
        if cached and cached[0] is learning_rate and cached[1] == dtype:
            return cached[2]
        lr = tf.cast(learning_rate, dtype)
        mu = tf.cast(self.momentum.value, dtype)
        nesterov = tf.cast(self.nesterov.value, dtype)
        trace_scale = nesterov * mu + (1 - nesterov)  # Exactly 1 or μ.
        scalars = (lr * trace_scale, lr * nesterov, mu)
        self._cached_scalars = (learning_rate, dtype, scalars)
        return scalars

    def apply(self, grads, trainable_variables=None):
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._cached_scalars = None  # Holds graph tensors otherwise.

    def _cast_update(self, gradient, variable, trace, learning_rate):
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        mu = ops.cast(self.momentum, dtype)
        # As the reference's jitted step: optax's trace, `g + decay * t` with
        # decay a Python float, multiplies by decay in the trace's dtype, so
        # μ is rounded to it (0.9 is 0.8984375 in bfloat16); XLA then keeps
        # the product in float32 (excess precision), as here.
        rounded_mu = ops.cast(ops.cast(self.momentum, trace.dtype), dtype)
        new_trace = gradient + rounded_mu * ops.cast(trace, dtype)
        update = ops.where(
            self.nesterov > 0.5, gradient + mu * new_trace, new_trace
        )
        # As optax: the update uses the full-precision trace; only the
        # stored trace is rounded to momentum_dtype.
        self.assign(trace, ops.cast(new_trace, trace.dtype))
        self.assign_sub(variable, ops.cast(learning_rate, dtype) * update)

    def _clip_gradients(self, grads):
        # Keras' `clip_by_global_norm` in as few TF ops as possible: its
        # Keras ops (about four per variable) were half of the optimizer's
        # tracing, which every new structure pays. Same formula: scale by
        # clip / max(norm, clip), NaN when the norm is not finite.
        if not self.global_clipnorm or self.clipnorm or self.clipvalue:
            return super()._clip_gradients(grads)
        present = [g for g in grads if g is not None]
        if not present:
            return grads
        norm = tf.sqrt(2 * tf.add_n([tf.nn.l2_loss(g) for g in present]))
        clip = tf.cast(self.global_clipnorm, norm.dtype)
        scale = clip * tf.minimum(1 / norm, 1 / clip) + (norm - norm)
        return [None if g is None else g * scale for g in grads]

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # The engine sums gradients over replicas before `apply` (so that
        # clipping sees the global gradient); summing again would multiply
        # them by the number of replicas.
        return grads_and_vars

    def reset(self):
        """Zeroes the step counter (restarting the schedule)."""
        self._iterations.assign(0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": float(self.momentum.numpy()),
                "nesterov": bool(self.nesterov.numpy() > 0.5),
                "momentum_dtype": self.momentum_dtype,
            }
        )
        return config


def slot_name(variable):
    """The name of `variable`'s trace (Keras names may not contain "/")."""
    name = getattr(variable, "path", None) or variable.name
    return "trace_" + name.split(":")[0].replace("/", "_")


def make_optimizer(momentum_dtype="float32", name="trace_sgd"):
    """A `TraceSGD` driven by a fresh `CandidateSchedule`.

    Returns:
        (optimizer, schedule). Set them per candidate with
        `schedule.set(schedules.schedule_numbers(...))` and
        `optimizer.set_hyperparameters(...)`.
    """
    schedule = schedules.CandidateSchedule(name=f"{name}_lr")
    optimizer = TraceSGD(
        learning_rate=schedule, momentum_dtype=momentum_dtype, name=name
    )
    return optimizer, schedule
