"""Test accuracy: each path traced once, its weights read at every test."""

import numpy as np

from mu2keras import evaluation
from mu2keras import roots
from mu2keras import tasks as tasks_lib
from mu2keras.architecture import VARIANT_KEY
from mu2keras.evolution import mutation
from mu2keras.evolution import search_space
from mu2keras.system.population import Population

LABELS = np.arange(30) % 3  # 10 images of each class.


def path_and_task():
    root = roots.make_root("testing", num_layers=1, image_size=8)
    defaults = dict(search_space.DEFAULT_HPARAMS["ti0"], ds_image_size=8)
    defaults[VARIANT_KEY] = root.variant._asdict()
    population = Population.from_root(root, defaults)
    population.start_task("a")
    data = {k: v for k, v in defaults.items() if k.startswith("ds_")}
    path = mutation.make_child(
        population,
        population.paths["NOT_TRAINABLE"][0],
        "a",
        3,
        data,
        mutation.MutationOptions(ranges={}),
        np.random.default_rng(0),
    )
    images = np.random.default_rng(0).integers(0, 255, (30, 8, 8, 1))
    task = tasks_lib.from_arrays(
        "a", images.astype("uint8"), LABELS, num_classes=3
    )
    return path, task


def counted_predictor(monkeypatch):
    made = []

    def predictor(path):
        made.append(path.id)
        return original(path)

    original = evaluation.predictor
    monkeypatch.setattr(evaluation, "predictor", predictor)
    return made


def test_a_path_is_traced_once_and_its_new_weights_are_read(monkeypatch):
    path, task = path_and_task()
    made = counted_predictor(monkeypatch)
    tester = evaluation.Tester(batch_size=8)
    bias = path.component("head").layer.dense.bias
    accuracies = []
    for favoured in (0, 2, 1):  # The zero head picks class 0 first.
        bias.assign(np.eye(3)[favoured] * 1e4)
        accuracies.append(tester(path, task))
    # Each split's class holds a third of the test images.
    test_labels = task.arrays("test")[1]
    expected = [np.mean(test_labels == c) for c in (0, 2, 1)]
    np.testing.assert_allclose(accuracies, expected, rtol=1e-6)
    assert made == [path.id]
    # The same figure as a test that traces its own.
    assert accuracies[-1] == evaluation.test_accuracy(path, task, 8)


def test_keep_forgets_the_traces_of_other_paths(monkeypatch):
    path, task = path_and_task()
    made = counted_predictor(monkeypatch)
    tester = evaluation.Tester(batch_size=8)
    tester(path, task)
    tester.keep([path])
    tester(path, task)
    assert made == [path.id]
    tester.keep([])
    tester(path, task)
    assert made == [path.id, path.id]
