r"""Classifies images with a µ2Net system: top-k labels per image and task.

Run from the repository root. The model is an exported SavedModel
(`launch.export`) or a run's workdir or state directory; each task runs only
its own path. Image files (PNG or JPEG, grey or RGB, any size):

  python -m launch.predict --model=/tmp/demo/export --task=embedded/mnist \
      --images=seven.png,two.jpg

A `.npy` batch `(N, H, W)` or `(N, H, W, 1 or 3)`, uint8 in [0, 255] or float
in [-1, 1]:

  python -m launch.predict --model=/tmp/demo --task=embedded/digits \
      --npy=batch.npy --top_k=1

The first N test images of every task of the model, with their true labels
(needs the tasks' data):

  python -m launch.predict --model=/tmp/demo/export --examples=1
"""

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

    from mu2keras import state as state_lib
    from mu2keras import storage

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
        fail(f"--model={path} is no SavedModel, and no state: {error}")
    return population.tasks, lambda t, x: population.predict(t, x).numpy()


def read_inputs():
    """[(name, uint8 or float image)] from --images or --npy."""
    from mu2keras.tasks import package_data

    if _NPY.value:
        batch = package_data.read_npy(_NPY.value)
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
            fail(
                f"--npy={_NPY.value} has shape {batch.shape}; expected "
                "(N, H, W) or (N, H, W, 1 or 3)."
            )
        return [(f"{_NPY.value}[{i}]", x) for i, x in enumerate(batch)]
    return [(f, package_data.read_image(f)) for f in _IMAGES.value]


def to_float(image):
    """uint8 [0, 255] -> float32 [-1, 1]; float images are checked."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 127.5 - 1.0
    image = image.astype(np.float32)
    if image.min() < -1.0 or image.max() > 1.0:
        fail(
            f"Float images must lie in [-1, 1]; got [{image.min()}, "
            f"{image.max()}]."
        )
    return image


def task_info(task, num_examples):
    """(class names or None, [(name, image, label)] test examples)."""
    from mu2keras import tasks as tasks_lib

    try:
        found = tasks_lib.get_task(task, download=False)
    except Exception as error:  # Any: class names are only a nicety.
        if num_examples:
            fail(f"--examples: cannot read the data of {task}: {error}")
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
    tasks, logits = load_model(_MODEL.value)
    chosen = _TASK.value or tasks
    unknown = [t for t in chosen if t not in tasks]
    if unknown:
        fail(f"--task: {unknown} not in the model; its tasks: {tasks}.")
    for task in chosen:
        names, examples = task_info(task, _EXAMPLES.value)
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
