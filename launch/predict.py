r"""Classifies images with a µ2Net system: top-k labels per image and task.

Run from the repository root. The model is an exported SavedModel
(`launch.export`) or a run's workdir or state directory; each task runs only
its own path. Image files (PNG or JPEG, grey or RGB, any size; an alpha
channel is dropped if every pixel is opaque, else the file is refused):

  python -m launch.predict --model=/tmp/demo/export --task=embedded/mnist \
      --images=seven.png,two.jpg

A `.npy` batch `(N, H, W)` or `(N, H, W, 1 or 3)`, uint8 in [0, 255] or float
in [-1, 1]:

  python -m launch.predict --model=/tmp/demo --task=embedded/digits \
      --npy=batch.npy --top_k=1

The first N test images of every task of the model, with their true labels
(needs the tasks' data; a run's user tasks come from its config's hook,
`config.user_tasks`, given again here):

  python -m launch.predict --model=/tmp/demo/export --examples=1
  python -m launch.predict --model=/tmp/mine --examples=1 \
      --user_tasks=my_tasks:make_tasks
"""

import re

import numpy as np
from absl import app
from absl import flags

_MODEL = flags.DEFINE_string(
    "model", None, "A SavedModel, or a run's workdir or state directory."
)
_TASK = flags.DEFINE_list(
    "task", None, "Tasks to run (default: every task of the model)."
)
_IMAGES = flags.DEFINE_list("images", None, "PNG or JPEG files.")
_NPY = flags.DEFINE_string("npy", None, "A .npy batch of images.")
_EXAMPLES = flags.DEFINE_integer(
    "examples", 0, "Classify the first N test images of each task instead."
)
_TOP_K = flags.DEFINE_integer("top_k", 3, "Labels to print per image.")
_USER_TASKS = flags.DEFINE_string(
    "user_tasks",
    None,
    "The run's user-task hook, `module:function` (its config.user_tasks): "
    "the data and class names of its user tasks.",
)
flags.mark_flags_as_required(["model"])
flags.register_validator("top_k", lambda k: k >= 1, "--top_k must be >= 1.")
flags.register_validator(
    "examples", lambda n: n >= 0, "--examples must be >= 0."
)


def fail(message):
    raise SystemExit(f"predict: {message}")


def load_model(path):
    """(task names, logits function) of a SavedModel or a state."""
    import tensorflow as tf

    from mu2keras.storage import files as storage
    from mu2keras.storage import state as state_lib

    if "saved_model.pb" in storage.names(path):
        model = tf.saved_model.load(path)
        info = model.signatures["task_names"]()
        tasks = [t.decode() for t in info["task_names"].numpy()]
        signatures = [s.decode() for s in info["signature_names"].numpy()]
        by_task = dict(zip(tasks, signatures, strict=True))

        def logits(task, images):
            serve = model.signatures[by_task[task]]
            return serve(images=tf.constant(images))["logits"].numpy()

        return tasks, logits
    try:
        population = state_lib.load_state(path).population
    except (OSError, state_lib.StateError) as error:
        text = state_lib.with_earlier(error, path, "--model")
        fail(f"--model={path} is no SavedModel, and no state: {text}")
    return population.tasks, lambda t, x: population.predict(t, x).numpy()


def read_inputs():
    """[(name, uint8 or float image)] from --images or --npy, checked."""
    if _NPY.value:
        batch = read_npy(_NPY.value)
        return [(f"{_NPY.value}[{i}]", x) for i, x in enumerate(batch)]
    return [(f, read_image(f)) for f in _IMAGES.value]


def read_npy(path):
    """The batch of --npy: `(N, H, W, 1 or 3)`, uint8 or float in [-1, 1]."""
    from mu2keras.tasks import package_data

    where = f"--npy={path}"
    try:
        batch = package_data.read_npy(path)
    except ValueError as error:  # It names the file.
        fail(f"--npy={error}")
    shape = batch.shape
    if batch.ndim == 3:
        batch = batch[..., None]
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
        fail(
            f"{where} has shape {shape}; expected (N, H, W) or "
            "(N, H, W, 1 or 3)."
        )
    if 0 in batch.shape:
        fail(f"{where} has shape {shape}: no image, or empty images.")
    check_values(batch, where)
    return batch


def read_image(path):
    """A PNG or JPEG file as uint8 `(H, W, 1 or 3)`; opaque alpha dropped."""
    import tensorflow as tf

    from mu2keras.tasks import package_data

    try:
        image = package_data.read_image(path)
    except tf.errors.InvalidArgumentError as error:
        # Without TF's "{{function_node ...}}" and "[Op:...]" parts.
        reason = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", error.message)
        fail(f"--images: cannot decode {path}: {reason.strip()}")
    if image.shape[-1] in (2, 4):  # Grey or RGB, and alpha.
        alpha = image[..., -1]
        if alpha.min() < 255:
            fail(
                f"--images: {path} has transparent pixels (alpha down to "
                f"{alpha.min()} of 255); flatten it onto a background first."
            )
        image = image[..., :-1]
    return image


def check_values(images, where):
    """Fails unless `images` are uint8, or float numbers in [-1, 1]."""
    if images.dtype == np.uint8:
        return
    expected = "expected uint8 in [0, 255] or float in [-1, 1]"
    if images.dtype.kind != "f":
        fail(f"{where} has dtype {images.dtype}; {expected}.")
    nan = int(np.isnan(images).sum())
    if nan:
        fail(f"{where} holds NaN ({nan} of {images.size} values); {expected}.")
    low, high = images.min(), images.max()
    if low < -1.0 or high > 1.0:
        fail(f"{where} holds floats in [{low}, {high}]; {expected}.")


def to_float(image):
    """uint8 [0, 255] -> float32 [-1, 1] (inputs are checked when read)."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 127.5 - 1.0
    return image.astype(np.float32)


def load_user_tasks():
    """The tasks of --user_tasks (dict name -> Task; empty without it)."""
    from mu2keras.tasks import task_hook

    hook = _USER_TASKS.value or ""
    try:
        return task_hook.load_user_tasks(hook, where=f"--user_tasks={hook}")
    except ValueError as error:
        fail(str(error))


def task_info(task, num_examples, user_tasks):
    """(class names or None, [(name, image, label)] test examples)."""
    from mu2keras import tasks as tasks_lib

    try:
        found = user_tasks.get(task) or tasks_lib.get_task(task, download=False)
    except Exception as error:  # Any: class names are only a nicety.
        if num_examples:
            hint = "" if user_tasks else " (a user task? pass --user_tasks)"
            fail(f"--examples: cannot read the data of {task}: {error}{hint}")
        return None, []
    examples = [
        (f"{task} test[{i}]", image.numpy(), int(label))
        for i, (image, label) in enumerate(
            found.dataset("test").take(num_examples)
        )
    ]
    return found.class_names, examples


def describe(index, names):
    return f"{index} {names[index]!r}" if names else str(index)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    sources = [bool(_IMAGES.value), bool(_NPY.value), _EXAMPLES.value > 0]
    if sum(sources) != 1:
        fail("give exactly one of --images, --npy and --examples.")
    import tensorflow as tf

    try:
        inputs = [] if _EXAMPLES.value else read_inputs()
    except (OSError, ValueError, tf.errors.OpError) as error:
        fail(f"cannot read the images: {error}")
    user_tasks = load_user_tasks()
    tasks, logits = load_model(_MODEL.value)
    chosen = _TASK.value or tasks
    unknown = [t for t in chosen if t not in tasks]
    if unknown:
        fail(f"--task: {unknown} not in the model; its tasks: {tasks}.")
    for task in chosen:
        names, examples = task_info(task, _EXAMPLES.value, user_tasks)
        items = examples or [(name, image, None) for name, image in inputs]
        print(f"{task}:")
        for name, image, label in items:
            scores = tf.nn.softmax(logits(task, to_float(image)[None])[0])
            scores = scores.numpy()
            top = np.argsort(-scores)[: _TOP_K.value]
            guesses = ", ".join(
                f"{describe(i, names)} {scores[i]:.3f}" for i in top
            )
            truth = "" if label is None else f" (true {describe(label, names)})"
            print(f"  {name}{truth}: {guesses}")


if __name__ == "__main__":
    app.run(main)
