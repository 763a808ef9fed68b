import os
import subprocess
import sys
import uuid

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from mu2keras.storage import export
from mu2keras.storage import routing
from tests.system import systems
from tests.training import helpers


def saved_model_cli():
    """The `saved_model_cli` console script of this interpreter's TF."""
    script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


# Runs in a fresh interpreter where mu2keras cannot be imported: loads the
# SavedModel with TensorFlow alone and writes every signature's outputs.
_CLIENT = r"""
import importlib.abc
import sys
import uuid


class BlockMu2keras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mu2keras" or name.startswith("mu2keras."):
            raise ImportError(f"{name} is blocked in this process")
        return None


sys.meta_path.insert(0, BlockMu2keras())
try:
    import mu2keras  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("mu2keras is importable")

import numpy as np
import tensorflow as tf

model_dir, inputs_file, outputs_file = sys.argv[1:]
inputs = np.load(inputs_file)
loaded = tf.saved_model.load(model_dir)
info = {k: v.numpy() for k, v in loaded.signatures["task_names"]().items()}
outputs = {}
for task, name in zip(info["task_names"], info["signature_names"]):
    name = name.decode()
    result = loaded.signatures[name](images=tf.constant(inputs[name]))
    for key, value in result.items():
        outputs[f"{name}:{key}"] = value.numpy()
for name in ("routed", "serving_default"):
    result = loaded.signatures[name](
        images=tf.constant(inputs["mixed"]),
        task_index=tf.constant(inputs["task_index"]),
    )
    for key, value in result.items():
        outputs[f"{name}:{key}"] = value.numpy()
for key, value in info.items():
    if value.dtype == object:
        value = np.array([v.decode() for v in value])
    outputs[f"info:{key}"] = value
assert not any(m.startswith("mu2keras") for m in sys.modules)
np.savez(outputs_file, **outputs)
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    population, a, b = systems.two_task_system()
    directory = str(tmp_path_factory.mktemp("export") / "system")
    names = export.export_system(population, directory)
    return population, directory, names


def test_signatures_and_mapping(exported):
    population, directory, names = exported
    assert names == {"a": "task_a", "cmaterdb/b": "task_cmaterdb_b"}
    loaded = tf.saved_model.load(directory)
    assert sorted(loaded.signatures) == sorted(
        ["task_a", "task_cmaterdb_b", "routed", "task_names", "serving_default"]
        + ["task_a_uint8", "task_cmaterdb_b_uint8", "routed_uint8"]
    )
    info = loaded.signatures["task_names"]()
    assert [t.decode() for t in info["task_names"].numpy()] == [
        "a",
        "cmaterdb/b",
    ]
    assert info["num_classes"].numpy().tolist() == [3, 2]
    assert info["image_sizes"].numpy().tolist() == [8, 12]
    assert info["logit_padding"].numpy() == routing.LOGIT_PADDING
    assert export.signature_names(["a/b", "a_b", "routed", "x y"]) == {
        "a/b": "task_a_b",
        "a_b": "task_a_b_2",
        "routed": "task_routed",
        "x y": "task_x_y",
    }


def test_saved_model_needs_no_xla_jit(exported):
    # The engine's kernels compile GELU and LayerNorm with XLA; a serving
    # binary need not have XLA's JIT (TF Serving's is off by default), so
    # the exported graphs must keep plain ops.
    _, directory, _ = exported
    model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(
        os.path.join(directory, "saved_model.pb"), "rb"
    ) as f:
        model.ParseFromString(f.read())
    (meta_graph,) = model.meta_graphs
    library = meta_graph.graph_def.library
    functions = library.function
    assert len(functions) > 0
    assert helpers.xla_compiled_functions(library) == []
    assert not any(
        n.attr["_XlaMustCompile"].b for f in functions for n in f.node_def
    )


def test_reload_without_mu2keras_matches_in_memory(exported, tmp_path):
    population, directory, names = exported
    inputs = {
        "task_a": systems.images(5, size=8, seed=1),
        "task_cmaterdb_b": systems.images(3, size=12, seed=2),
        # A mixed batch at a third size: each task resizes to its own.
        "mixed": systems.images(6, size=10, seed=3),
        "task_index": np.array([1, 0, 0, 1, 0, 1], np.int32),
    }
    np.savez(tmp_path / "inputs.npz", **inputs)
    (tmp_path / "client.py").write_text(_CLIENT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-I", "client.py", directory, "inputs.npz", "out.npz"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = dict(np.load(tmp_path / "out.npz"))
    assert out["info:task_names"].tolist() == ["a", "cmaterdb/b"]
    for task, name in names.items():
        expected = population.predict(task, inputs[name]).numpy()
        np.testing.assert_allclose(
            out[f"{name}:logits"], expected, rtol=0, atol=1e-6
        )
        np.testing.assert_array_equal(
            out[f"{name}:classes"], expected.argmax(-1)
        )
    # The mixed batch: every row is its own task's prediction.
    index = inputs["task_index"]
    for signature in ("routed", "serving_default"):
        logits = out[f"{signature}:logits"]
        assert logits.shape == (6, 3)
        for i, task in enumerate(["a", "cmaterdb/b"]):
            rows = index == i
            expected = population.predict(task, inputs["mixed"][rows]).numpy()
            classes = expected.shape[1]
            np.testing.assert_allclose(
                logits[rows, :classes], expected, rtol=0, atol=1e-6
            )
            assert np.all(logits[rows, classes:] == routing.LOGIT_PADDING)
            np.testing.assert_array_equal(
                out[f"{signature}:classes"][rows], expected.argmax(-1)
            )
            assert np.all(out[f"{signature}:num_classes"][rows] == classes)


def test_saved_model_cli_show_and_run(exported, tmp_path):
    population, directory, names = exported
    cli = saved_model_cli()
    show = subprocess.run(
        cli + ["show", "--dir", directory, "--all"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert show.returncode == 0, show.stderr[-3000:]
    for name in ("task_a", "task_cmaterdb_b", "routed", "serving_default"):
        assert f"signature_def['{name}']" in show.stdout
    assert "inputs['task_index'] tensor_info" in show.stdout
    assert "outputs['logits'] tensor_info" in show.stdout

    images = systems.images(2, size=12, seed=5)
    np.save(tmp_path / "images.npy", images)
    run = subprocess.run(
        cli
        + [
            "run",
            "--dir",
            directory,
            "--tag_set",
            "serve",
            "--signature_def",
            "task_cmaterdb_b",
            "--inputs",
            f"images={tmp_path / 'images.npy'}",
            "--outdir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    logits = np.load(tmp_path / "out" / "logits.npy")
    np.testing.assert_allclose(
        logits, population.predict("cmaterdb/b", images), rtol=0, atol=1e-6
    )


def _variables_bytes(directory):
    folder = f"{directory}/variables"
    return sum(
        tf.io.gfile.stat(f"{folder}/{name}").length
        for name in tf.io.gfile.listdir(folder)
    )


def _stored_params(directory):
    reader = tf.compat.v1.train.NewCheckpointReader(
        f"{directory}/variables/variables"
    )
    shapes = reader.get_variable_to_shape_map()
    return sum(
        int(np.prod(shape))
        for name, shape in shapes.items()
        if "VARIABLE_VALUE" in name
    )


def _unique_params(population, tasks):
    components = {
        c.id: c for task in tasks for c in population.best_path(task).components
    }
    return sum(c.num_params for c in components.values())


def test_each_component_is_stored_once_ti16(tmp_path):
    """Ti/16: a duplicated block (1.8 MB) would exceed 5% + 1 MB."""
    population = systems.make_population(1, 16, variant="Ti/16")
    root = systems.root_path(population)
    population.start_task("a")
    systems.make_child(population, "a", root, 3, variant="Ti/16")
    population.end_task("a")
    population.start_task("b")
    systems.make_child(
        population, "b", root, 2, clone=["encoderblock_0"], variant="Ti/16"
    )
    population.end_task("b")
    directory = str(tmp_path / "ti")
    export.export_system(population, directory)
    unique = _unique_params(population, ["a", "b"])
    assert unique == 147_648 + 192 + 384 + 2 * 444_864 + 2 * 384 + 5 * 193
    assert _stored_params(directory) == unique
    size = _variables_bytes(directory)
    assert 4 * unique <= size <= 1.05 * 4 * unique + 2**20


def test_standalone_task_holds_only_its_path(exported, tmp_path):
    population, _, _ = exported
    directory = str(tmp_path / "b_only")
    assert export.export_task(population, "cmaterdb/b", directory) == (
        "task_cmaterdb_b"
    )
    b = population.best_path("cmaterdb/b")
    assert _stored_params(directory) == b.num_params
    assert _variables_bytes(directory) <= 1.05 * 4 * b.num_params + 2**20
    loaded = tf.saved_model.load(directory)
    assert sorted(loaded.signatures) == sorted(
        ["task_cmaterdb_b", "routed", "task_names", "serving_default"]
        + ["task_cmaterdb_b_uint8", "routed_uint8"]
    )
    images = systems.images(3, size=12)
    np.testing.assert_allclose(
        loaded.signatures["task_cmaterdb_b"](images=images)["logits"],
        population.predict("cmaterdb/b", images),
        rtol=0,
        atol=1e-6,
    )


def test_inputs_are_validated(exported):
    population, directory, _ = exported
    serve = tf.saved_model.load(directory).signatures
    images = systems.images(2, size=8)
    grey = images[..., :1]
    np.testing.assert_allclose(
        serve["task_a"](images=grey)["logits"],
        population.predict("a", np.tile(grey, [1, 1, 1, 3])),
        rtol=0,
        atol=1e-6,
    )
    errors = tf.errors.InvalidArgumentError
    with pytest.raises(errors, match=r"must have shape \(batch, height"):
        serve["task_a"](images=images[0])
    with pytest.raises(errors, match=r"1 \(grey\) or 3 \(RGB\) channels"):
        serve["task_a"](images=images[..., :2])
    with pytest.raises(errors, match="expected to be a float tensor"):
        serve["task_a"](images=tf.constant(images.astype(np.uint8)))
    with pytest.raises(errors, match=r"one task index in \[0, 2\) per image"):
        serve["routed"](images=images, task_index=tf.constant([0, 2]))
    with pytest.raises(errors, match=r"one task index in \[0, 2\) per image"):
        serve["routed"](images=images, task_index=tf.constant([0]))
    empty = serve["routed"](
        images=tf.zeros((0, 8, 8, 3)), task_index=tf.zeros((0,), tf.int32)
    )
    assert empty["logits"].shape == (0, 3)


def test_export_refusals(exported, tmp_path):
    population, directory, _ = exported
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        export.export_system(population, directory)
    with pytest.raises(ValueError, match="a task: \\['a', 'a'\\]"):
        export.export_system(population, str(tmp_path / "d"), ["a", "a"])
    with pytest.raises(ValueError, match="outside any tf.distribute"):
        with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
            export.export_system(population, str(tmp_path / "m"))
    empty = systems.make_population(1)
    with pytest.raises(ValueError, match="no task to export"):
        export.export_system(empty, str(tmp_path / "e"))
    assert sorted(os.listdir(tmp_path)) == []


def test_ram_filesystem_export(exported):
    population, _, _ = exported
    directory = f"ram://export_test_{uuid.uuid4().hex}/a"
    export.export_task(population, "a", directory)
    loaded = tf.saved_model.load(directory)
    images = systems.images(2, size=8)
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](
            images=images, task_index=tf.zeros([2], tf.int32)
        )["logits"],
        population.predict("a", images),
        rtol=0,
        atol=1e-6,
    )


def _saved_model_bytes(directory):
    return sum(
        tf.io.gfile.stat(f"{root}/{name}").length
        for root, _, names in tf.io.gfile.walk(directory)
        for name in names
    )


def test_whole_saved_model_stays_near_its_weights_as_tasks_grow(tmp_path):
    """12 tasks, each cloning one block: the graph is stored per structure.

    With a graph per task (and per signature), the 12 tasks' graphs alone
    took about 4 × 80 kB each, over the bound below.
    """
    population = systems.make_population(2, 8)
    parent = systems.root_path(population)
    sizes = {}
    for index in range(12):
        task = f"t{index}"
        population.start_task(task)
        clone = [f"encoderblock_{index % 2}"]
        parent = systems.make_child(population, task, parent, 3, clone=clone)
        population.end_task(task)
        if index in (0, 11):
            directory = str(tmp_path / task)
            export.export_system(population, directory)
            sizes[index + 1] = _saved_model_bytes(directory)
    unique = _unique_params(population, population.tasks)
    assert sizes[12] <= 1.05 * 4 * unique + 2**20
    # Each added task costs its weights and a few kB of graph and index.
    assert sizes[12] - sizes[1] <= 11 * 60_000, sizes
    loaded = tf.saved_model.load(directory)
    images = systems.images(2)
    np.testing.assert_allclose(
        loaded.signatures["task_t11"](images=images)["logits"],
        population.predict("t11", images),
        rtol=0,
        atol=1e-6,
    )
