"""mu2keras: µ2Net in Keras 3 and TensorFlow.

Grows one Vision Transformer, task by task, into a single multitask system
(Gesmundo & Dean, 2022, https://arxiv.org/abs/2205.12755).
"""

import warnings

from mu2keras.version import __version__

try:
    import tensorflow as _tf
except ImportError as e:  # TensorFlow is an extra: see setup.py.
    raise ImportError(
        "mu2keras needs TensorFlow 2.19-2.21. Install exactly one "
        "distribution, e.g. `pip install mu2keras[cpu]` (tensorflow-cpu), "
        "`[gpu]`, `[tpu]` or `[tf]`."
    ) from e

_TF_SUPPORTED = ((2, 19), (2, 21))
if not (
    _TF_SUPPORTED[0]
    <= tuple(int(x) for x in _tf.__version__.split(".")[:2])
    <= _TF_SUPPORTED[1]
):
    warnings.warn(
        f"mu2keras is tested with TensorFlow 2.19-2.21; found "
        f"{_tf.__version__}.",
        stacklevel=2,
    )

__all__ = ["__version__"]
