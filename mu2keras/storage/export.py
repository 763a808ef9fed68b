"""The whole µ2Net system as one TensorFlow SavedModel (spec §3).

`export_system` writes a SavedModel that needs neither Keras nor mu2keras
to run (`tf.saved_model.load`, TF Serving, `saved_model_cli`). Signatures:

* one per task, named `signature_name(task)` ("cmaterdb/bangla" becomes
  `task_cmaterdb_bangla`): `images` → `logits` `(batch, classes of the
  task)` and `classes` (the argmax), running only that task's path;
* `routed`, also `serving_default`: `images` and `task_index` (int32,
  `(batch,)`) → `logits` padded to the largest class count with
  `LOGIT_PADDING` (the lowest finite float32), `classes` and
  `num_classes`; each example runs only its own task's path
  (`tf.dynamic_partition` / `tf.dynamic_stitch`), so a batch can mix tasks;
* the uint8 twin of each of these, named with `UINT8` appended
  (`task_cmaterdb_bangla_uint8`, `routed_uint8`);
* `task_names`: no input → `task_names`, `signature_names`,
  `uint8_signature_names`, `num_classes` and `image_sizes` (one entry per
  task index), and `logit_padding`.

`images` are `(batch, H, W, 1 or 3)`, any H and W: grey is tiled to RGB
and each task resizes to its own resolution, in the graph
(`mu2keras.storage.routing.prepare_images`). float32 signatures take values in
[-1, 1]; uint8 ones take [0, 255], scaled as the input pipeline does
(`x / 127.5 - 1`): their logits are bitwise equal to the float32 ones on
the pipeline's images. The graph checks the whole batch and names the
problem (`InvalidArgumentError`): rank, channels, a float outside [-1, 1]
or NaN (giving min, max and NaN count), a `task_index` that is not one
index in [0, tasks) per image. A tensor of another dtype is refused.
Clients that convert arrays to the signature's dtype first
(`saved_model_cli run`, numpy arrays given to a loaded signature) cast
silently, where no graph can see it: integer images sent to a float32
signature arrive in [0, 255] and fail the range check (unless all are 0
or 1), float64 ones are rounded to float32, and floats sent to a uint8
signature arrive truncated to integers.

Each task signature's logits are bitwise equal to its path run as a
`tf.function` on the same batch, and within float32 rounding of eager
`Population.predict` (tests/system/serving_inputs_test.py: the bound).

Every unique component's variables are saved once and shared by all the
signatures that use them. Exports are written to a temporary directory,
synced, and renamed into place (`mu2keras.storage.files.write_atomically`).
"""

import re

import numpy as np
import tensorflow as tf

from mu2keras import architecture
from mu2keras.storage import files as storage
from mu2keras.storage import routing
from mu2keras.storage.routing import LOGIT_PADDING
from mu2keras.system.component import compute_input
from mu2keras.system.component import stateless_variables
from mu2keras.system.component import structure_key
from mu2keras.system.population import parse_task_name

ROUTED = "routed"
TASK_NAMES = "task_names"
# The uint8 twin of a float32 signature is named `name + UINT8`.
UINT8 = "_uint8"
_RESERVED = {ROUTED, ROUTED + UINT8, TASK_NAMES, "serving_default"}
_RANGE_HINT = (
    f" (uint8 images in [0, 255] go to the `*{UINT8}` signature of the "
    "same name)"
)


def signature_name(task):
    """A SavedModel signature name for a task: `task_` + [A-Za-z0-9_]."""
    return "task_" + re.sub(r"[^A-Za-z0-9_]", "_", task)


def signature_names(tasks):
    """Distinct signature names for `tasks` (dict task -> name).

    Each name `n` also keeps `n + UINT8` free, for its uint8 twin.
    """
    result, used = {}, set(_RESERVED)
    for task in tasks:
        name, suffix = signature_name(task), 2
        while name in used or name + UINT8 in used:
            name, suffix = f"{signature_name(task)}_{suffix}", suffix + 1
        used.update([name, name + UINT8])
        result[task] = name
    return result


def _images_spec(dtype=tf.float32):
    # Unknown rank, so that a wrong rank reaches our own clear message.
    return tf.TensorSpec(None, dtype, name="images")


def _image_check(dtype):
    """A graph: `images` of `dtype` -> checked float32 images in [-1, 1].

    Rank 4 and 1 or 3 channels, checked on the whole batch (before the
    routed endpoint splits it, so that messages give its shape); uint8 is
    scaled as the input pipeline does, float32 must be in [-1, 1]. One
    `tf.function` per dtype, shared by its signatures: the SavedModel holds
    it once.
    """

    def check(images):
        images = routing.check_channels(routing.check_rank(images))
        if dtype == tf.uint8:
            return routing.from_uint8(images)
        return routing.check_range(images, _RANGE_HINT)

    return tf.function(
        check, input_signature=[_images_spec(dtype)], autograph=False
    )


class _Kernels:
    """One graph per component structure, shared by all its components.

    A kernel is a `tf.function` of the input and a component's weights,
    run through `keras.Layer.stateless_call`; components of one structure
    (class, forward-relevant config, input shape) call the same one with
    their own weights. Each component's weights are stored as one flat
    variable per dtype (the kernel slices and reshapes them), since
    TensorFlow's save and restore functions grow by about 1 kB per
    variable. So the SavedModel holds a graph per structure and a few
    variables per component, and its size stays close to 4 bytes per
    parameter as tasks are added.
    """

    def __init__(self):
        self._kernels = {}
        self._weights = {}  # id(layer) -> list of flat tf.Variables.

    @property
    def variables(self):
        return [v for flat in self._weights.values() for v in flat]

    def add(self, layer):
        """Copies a component's weights into new variables (eagerly)."""
        if id(layer) not in self._weights:
            self._weights[id(layer)] = _flat_weights(stateless_variables(layer))

    def __call__(self, layer, x):
        key = (structure_key(layer), tuple(x.shape[1:]))
        if key not in self._kernels:
            self._kernels[key] = _kernel(layer, x)
        flat = [tf.convert_to_tensor(v) for v in self._weights[id(layer)]]
        return self._kernels[key](x, flat)


def _dtypes(variables):
    return sorted({v.dtype for v in variables})


def _flat_weights(variables):
    return [
        tf.Variable(
            np.concatenate(
                [np.ravel(v.numpy()) for v in variables if v.dtype == dtype]
            ),
            trainable=False,
        )
        for dtype in _dtypes(variables)
    ]


def _kernel(template, x):
    variables = stateless_variables(template)
    num_trainable = len(template.trainable_variables)

    def run(inputs, flat):
        values = [None] * len(variables)
        for dtype, tensor in zip(_dtypes(variables), flat, strict=True):
            offset = 0
            for i, v in enumerate(variables):
                if v.dtype == dtype:
                    size = int(np.prod(v.shape))
                    part = tensor[offset : offset + size]
                    values[i] = tf.reshape(part, v.shape)
                    offset += size
        outputs, _ = template.stateless_call(
            values[:num_trainable],
            values[num_trainable:],
            compute_input(template, inputs),
            **architecture.call_kwargs(template, False),
        )
        return outputs

    signature = [
        tf.TensorSpec([None, *x.shape[1:]], x.dtype),
        [tf.TensorSpec([None], dtype) for dtype in _dtypes(variables)],
    ]
    return tf.function(run, input_signature=signature, autograph=False)


class _Task:
    """One task's path, on copied layers, as graph code.

    `logits` is one `tf.function`: the task's signature and the routed one
    call it, so the SavedModel holds each path's (small) graph once.
    """

    def __init__(self, name, layers, image_size, num_classes, kernels):
        self.name = name
        self.layers = layers
        self.image_size = image_size
        self.num_classes = num_classes
        self.logits = tf.function(
            self._logits, input_signature=[_images_spec()], autograph=False
        )
        self._kernels = kernels

    def _logits(self, images):
        x = routing.prepare_images(images, self.image_size)
        for layer in self.layers:
            x = self._kernels(layer, x)
        # float32 logits whatever the compute dtype (mixed precision).
        return tf.cast(x, tf.float32)


def _task_paths(population, tasks):
    """Per task, its best path as graph code, and the shared kernels.

    The exported variables are new ones holding copies of the weights:
    this decouples the export from ongoing training and gives plain
    variables even if the originals were made under a distribution
    strategy (tensorflow#36447: save from default-strategy variables).
    They hold the exported weights a second time in memory until the
    export returns.
    """
    result, kernels = [], _Kernels()
    for task in tasks:
        path = population.best_path(task)
        for layer in path.layers:
            kernels.add(layer)
        result.append(
            _Task(task, path.layers, path.image_size, path.num_classes, kernels)
        )
    return result, kernels


def _task_endpoint(task, dtype, check):
    def serve(images):
        logits = task.logits(check(images))
        classes = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"logits": logits, "classes": classes}

    return tf.function(
        serve, input_signature=[_images_spec(dtype)], autograph=False
    )


def _routed_endpoint(tasks, dtype, check):
    max_classes = max(task.num_classes for task in tasks)
    num_classes = tf.constant([t.num_classes for t in tasks], tf.int32)

    def serve(images, task_index):
        images = check(images)
        task_index = routing.check_task_index(
            task_index, tf.shape(images)[0], len(tasks)
        )
        positions = tf.range(tf.shape(task_index)[0])
        part_images = tf.dynamic_partition(images, task_index, len(tasks))
        part_positions = tf.dynamic_partition(positions, task_index, len(tasks))
        part_logits = [
            tf.pad(
                task.logits(x),
                [[0, 0], [0, max_classes - task.num_classes]],
                constant_values=LOGIT_PADDING,
            )
            for task, x in zip(tasks, part_images, strict=True)
        ]
        logits = tf.dynamic_stitch(part_positions, part_logits)
        logits = tf.ensure_shape(logits, [None, max_classes])
        return {
            "logits": logits,
            "classes": tf.argmax(logits, axis=-1, output_type=tf.int32),
            "num_classes": tf.gather(num_classes, task_index),
        }

    # task_index of any shape, so that a wrong one reaches our message.
    signature = [
        _images_spec(dtype),
        tf.TensorSpec(None, tf.int32, "task_index"),
    ]
    return tf.function(serve, input_signature=signature, autograph=False)


def _names_endpoint(tasks, names):
    def serve():
        return {
            "task_names": tf.constant([t.name for t in tasks]),
            "signature_names": tf.constant([names[t.name] for t in tasks]),
            "uint8_signature_names": tf.constant(
                [names[t.name] + UINT8 for t in tasks]
            ),
            "num_classes": tf.constant([t.num_classes for t in tasks]),
            "image_sizes": tf.constant([t.image_size for t in tasks]),
            "logit_padding": tf.constant(LOGIT_PADDING, tf.float32),
        }

    return tf.function(serve, input_signature=[], autograph=False)


def export_system(
    population, directory, tasks=None, overwrite=False, after_save=None
):
    """Writes the system (or some of its tasks) as one SavedModel.

    Args:
        population: the `Population`. Each task exports its best path.
        directory: str. The SavedModel directory to create.
        tasks: list of str or None. The tasks, in task-index order; None
            means all, in order of introduction (`population.tasks`).
        overwrite: bool. Replace an existing `directory` (the old one is
            renamed aside, then the new one into place).
        after_save: callable or None. Called with the temporary directory
            once the SavedModel is in it, before it is moved into place:
            to add files (`mu2keras.storage.workdir_export` records its source).

    Returns:
        dict task -> signature name.
    """
    if tf.distribute.has_strategy():
        raise ValueError(
            "Call export_system outside any tf.distribute strategy scope; "
            f"it was called in {tf.distribute.get_strategy()!r}."
        )
    if tasks is None:
        tasks = population.tasks
    tasks = [parse_task_name(task)[0] for task in tasks]
    if not tasks:
        raise ValueError("The population has no task to export.")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"Tasks to export repeat a task: {tasks}.")
    paths, kernels = _task_paths(population, tasks)
    names = signature_names(tasks)
    module = tf.Module()
    # Tracked once each, whatever the number of signatures using them.
    module.component_variables = kernels.variables
    endpoints = {}
    for dtype, suffix in ((tf.float32, ""), (tf.uint8, UINT8)):
        check = _image_check(dtype)
        for t in paths:
            endpoints[names[t.name] + suffix] = _task_endpoint(t, dtype, check)
        endpoints[ROUTED + suffix] = _routed_endpoint(paths, dtype, check)
    endpoints[TASK_NAMES] = _names_endpoint(paths, names)
    # Signatures only: functions kept on the module would be saved again.
    signatures = {
        name: fn.get_concrete_function() for name, fn in endpoints.items()
    }
    signatures["serving_default"] = signatures[ROUTED]

    def fill(tmp):
        tf.saved_model.save(module, tmp, signatures=signatures)
        if after_save is not None:
            after_save(tmp)

    storage.write_atomically(directory, fill, overwrite=overwrite)
    return names


def export_task(population, task, directory, overwrite=False):
    """Writes one task's best path alone as a SavedModel.

    The same signatures as `export_system` with a single task (index 0);
    only that path's variables are saved.

    Returns:
        The task's signature name.
    """
    names = export_system(population, directory, [task], overwrite)
    return names[parse_task_name(task)[0]]
