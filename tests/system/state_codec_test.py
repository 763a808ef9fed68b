"""What a state may build: component classes from their own arguments.

A state's `population.json` names each component's class and config;
loading builds only component layer classes, or subclasses of them that
this process registered with Keras, and only from their constructor
arguments. A save refuses, before writing anything, what a load could not
rebuild.
"""

import json

import keras
import numpy as np
import pytest

from mu2keras import layers
from mu2keras.storage import files as storage
from mu2keras.storage import state
from tests.system import systems

PACKAGE = "state_codec_test"
WIDTH = 16  # The "testing" ViT's token width.
TASK_HEAD_ARGUMENTS = (
    "['dtype', 'hidden_dim', 'name', 'num_classes', 'trainable']"
)
REGISTER = "@keras.saving.register_keras_serializable(package=...)"


@keras.saving.register_keras_serializable(package=PACKAGE)
class TemperatureHead(layers.TaskHead):
    """The README's subclass: logits divided by a temperature."""

    def __init__(self, num_classes, hidden_dim, temperature=2.0, **kwargs):
        super().__init__(num_classes, hidden_dim, **kwargs)
        self.temperature = temperature

    def call(self, tokens):
        return super().call(tokens) / self.temperature

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


class UnregisteredHead(TemperatureHead):
    pass


@keras.saving.register_keras_serializable(package=PACKAGE)
class InitializerHead(layers.TaskHead):
    """Stores a Keras object in its config: not a plain argument."""

    def __init__(self, num_classes, hidden_dim, init="zeros", **kwargs):
        super().__init__(num_classes, hidden_dim, **kwargs)
        self.init = keras.initializers.get(init)

    def get_config(self):
        init = keras.initializers.serialize(self.init)
        return {**super().get_config(), "init": init}


@keras.saving.register_keras_serializable(package=PACKAGE)
class NotAComponent(keras.layers.Layer):
    pass


def system_with_head(head):
    """Root (2 layers), then task "a" whose path ends in `head`."""
    population = systems.make_population()
    population.start_task("a")
    root = systems.root_path(population)
    assert root.component("head").layer.hidden_dim == WIDTH
    head.build((None, 5, WIDTH))
    new = population.new_component(head)
    systems.randomize(new, seed=3)
    components = [new if c.name == "head" else c for c in root.components]
    path = population.new_path("a", components, root, metrics={"score": 1})
    population.add_path(path)
    population.end_task("a")
    return population, path


def logits(path):
    return path(systems.images()).numpy()


def saved_directory(tmp_path):
    population, _, _ = systems.two_task_system()
    return state.save_state(population, str(tmp_path), 1)


def edit_structure(directory, edit):
    """Applies `edit` to population.json; the manifest is made to match."""
    structure = json.loads(storage.read(f"{directory}/population.json"))
    edit(structure)
    storage.write(
        f"{directory}/population.json", json.dumps(structure).encode()
    )
    manifest = json.loads(storage.read(f"{directory}/MANIFEST.json"))
    manifest["files"] = state._checksums(directory)
    del manifest["files"]["MANIFEST.json"]
    storage.write(f"{directory}/MANIFEST.json", json.dumps(manifest).encode())


def head_record(structure):
    """The first TaskHead component's record."""
    return next(
        r for r in structure["components"] if r["class_name"] == "TaskHead"
    )


def load_error(directory):
    with pytest.raises(state.StateError) as raised:
        state.load_state(directory)
    return str(raised.value)


# --- Item 9: only constructor arguments are built. ---


def test_a_keras_base_layer_keyword_is_refused(tmp_path):
    directory = saved_directory(tmp_path)
    regularizer = {"class_name": "L1", "config": {"l1": 0.5}}
    ids = []

    def edit(structure):
        record = head_record(structure)
        record["config"]["activity_regularizer"] = regularizer
        ids.append(record["id"])

    edit_structure(directory, edit)
    assert load_error(directory) == (
        f"{directory}/population.json: component {ids[0]} (TaskHead): "
        "config key 'activity_regularizer' is not a constructor argument "
        f"of TaskHead (those are {TASK_HEAD_ARGUMENTS})."
    )


def test_an_unknown_key_is_refused(tmp_path):
    directory = saved_directory(tmp_path)
    edit_structure(
        directory,
        lambda s: s["components"][0]["config"].update(input_dim=3),
    )
    assert load_error(directory) == (
        f"{directory}/population.json: component 0 (PatchEmbedding): "
        "config key 'input_dim' is not a constructor argument of "
        "PatchEmbedding (those are ['dtype', 'hidden_dim', 'name', "
        "'patch_size', 'seed', 'trainable'])."
    )


@pytest.mark.parametrize(
    "key, value, shown",
    [
        (
            "dtype",
            {"class_name": "DTypePolicy", "config": {"name": "float32"}},
            '{"class_name": "DTypePolicy", "config": {"name": "float32"}}',
        ),
        (
            "num_classes",
            {"class_name": "Lambda", "config": {}},
            '{"class_name": "Lambda", "config": {}}',
        ),
        ("name", ["head", {"module": "os"}], '["head", {"module": "os"}]'),
    ],
)
def test_a_nested_object_is_refused(tmp_path, key, value, shown):
    directory = saved_directory(tmp_path)
    ids = []

    def edit(structure):
        record = head_record(structure)
        record["config"][key] = value
        ids.append(record["id"])

    edit_structure(directory, edit)
    kind = type(value).__name__
    assert load_error(directory) == (
        f"{directory}/population.json: component {ids[0]} (TaskHead): "
        f"config key {key!r} holds {kind} {shown}; a state stores a "
        "constructor argument only as a number, string, bool, null or a "
        "list of them."
    )


def test_a_missing_argument_is_refused(tmp_path):
    directory = saved_directory(tmp_path)
    ids = []

    def edit(structure):
        record = head_record(structure)
        del record["config"]["num_classes"]
        ids.append(record["id"])

    edit_structure(directory, edit)
    assert load_error(directory) == (
        f"{directory}/population.json: component {ids[0]} (TaskHead): its "
        "config does not fit TaskHead: missing a required argument: "
        "'num_classes'."
    )


def test_the_class_error_names_population_json(tmp_path):
    directory = saved_directory(tmp_path)
    edit_structure(
        directory,
        lambda s: s["components"][0].update(class_name="Lambda"),
    )
    assert load_error(directory) == (
        f"{directory}/population.json: component 0 has class 'Lambda'; "
        "known: ['ClassToken', 'EncoderBlock', 'EncoderNorm', "
        "'PatchEmbedding', 'PositionEmbedding', 'ResidualAdapter', "
        "'TaskHead'] and their subclasses registered in this process (a "
        f"subclass of your own: decorate it with {REGISTER} and import its "
        "module before loading)."
    )


def test_a_base_layer_keyword_is_refused_at_save(tmp_path):
    head = layers.TaskHead(3, WIDTH, activity_regularizer="l2", name="head")
    population, path = system_with_head(head)
    with pytest.raises(ValueError) as raised:
        state.save_state(population, str(tmp_path / "run"), 1)
    assert str(raised.value) == (
        f"Cannot save component {path.components[-1].id} (head, "
        "TaskHead): config key 'activity_regularizer' is not a constructor "
        f"argument of TaskHead (those are {TASK_HEAD_ARGUMENTS})."
    )
    assert not storage.exists(str(tmp_path / "run"))


# --- Item 10: registered subclasses load; unregistered ones are refused. ---


def test_a_registered_subclass_round_trips(tmp_path):
    head = TemperatureHead(3, WIDTH, temperature=4.0, name="head")
    population, path = system_with_head(head)
    expected = logits(path)
    directory = state.save_state(population, str(tmp_path), 1)
    structure = json.loads(storage.read(f"{directory}/population.json"))
    names = [r["class_name"] for r in structure["components"]]
    assert names.count(f"{PACKAGE}>TemperatureHead") == 1
    loaded = state.load_state(str(tmp_path)).population.paths["a"][0]
    layer = loaded.component("head").layer
    assert type(layer) is TemperatureHead and layer.temperature == 4.0
    assert np.array_equal(logits(loaded), expected)
    # The temperature is applied: a plain head with its weights differs.
    plain = layers.TaskHead(3, WIDTH, name="head")
    plain.build((None, 5, WIDTH))
    plain.set_weights(layer.get_weights())
    tokens = np.ones((1, 5, WIDTH), np.float32)
    assert np.allclose(
        layer(tokens).numpy() * 4.0, plain(tokens).numpy(), atol=1e-6
    )
    assert not np.allclose(layer(tokens).numpy(), plain(tokens).numpy())


def test_an_unregistered_subclass_is_refused_at_save(tmp_path):
    head = UnregisteredHead(3, WIDTH, name="head")
    population, path = system_with_head(head)
    workdir = str(tmp_path / "run")
    with pytest.raises(ValueError) as raised:
        state.save_state(population, workdir, 1)
    assert str(raised.value) == (
        f"Cannot save component {path.components[-1].id} (head): its layer "
        f"class {__name__}.UnregisteredHead subclasses "
        "mu2keras.layers.TaskHead but is not registered with Keras, so a "
        "loaded state could not rebuild it. Decorate the class with "
        f"{REGISTER} (and import its module before loading)."
    )
    assert not storage.exists(workdir)
    # Nor does a failed save touch an existing workdir.
    state.save_state(systems.make_population(), workdir, 1)
    before = {n: storage.digest(f"{workdir}/{n}") for n in ("LAST",)}
    with pytest.raises(ValueError, match="UnregisteredHead"):
        state.save_state(population, workdir, 2)
    assert storage.names(workdir) == {"LAST", "state_1_0"}
    assert {n: storage.digest(f"{workdir}/{n}") for n in ("LAST",)} == before


def test_a_subclass_with_an_object_in_its_config_is_refused_at_save(
    tmp_path,
):
    head = InitializerHead(3, WIDTH, name="head")
    population, path = system_with_head(head)
    with pytest.raises(ValueError) as raised:
        state.save_state(population, str(tmp_path / "run"), 1)
    message = str(raised.value)
    prefix = (
        f"Cannot save component {path.components[-1].id} (head, "
        f"{PACKAGE}>InitializerHead): config key 'init' holds dict "
        '{"module": "keras.initializers", "class_name": "Zeros"'
    )
    assert message.startswith(prefix), message
    assert message.endswith(
        "; a state stores a constructor argument only as a number, string, "
        "bool, null or a list of them."
    )
    assert not storage.exists(str(tmp_path / "run"))


def test_a_state_naming_an_unregistered_class_is_refused(tmp_path, monkeypatch):
    head = TemperatureHead(3, WIDTH, name="head")
    population, path = system_with_head(head)
    state.save_state(population, str(tmp_path), 1)
    # As in a process that never imported the module defining the class.
    registered = f"{PACKAGE}>TemperatureHead"
    monkeypatch.delitem(keras.saving.get_custom_objects(), registered)
    assert load_error(str(tmp_path)) == (
        f"{tmp_path}/state_1_0/population.json: component "
        f"{path.components[-1].id} has class {registered!r}; known: "
        "['ClassToken', 'EncoderBlock', 'EncoderNorm', 'PatchEmbedding', "
        "'PositionEmbedding', 'ResidualAdapter', 'TaskHead'] and their "
        "subclasses registered in this process (a subclass of your own: "
        f"decorate it with {REGISTER} and import its module before "
        "loading)."
    )


def test_a_registered_name_of_another_class_is_refused(tmp_path):
    directory = saved_directory(tmp_path)
    edit_structure(
        directory,
        lambda s: s["components"][0].update(
            class_name=f"{PACKAGE}>NotAComponent"
        ),
    )
    assert load_error(directory).startswith(
        f"{directory}/population.json: component 0 has class "
        f"'{PACKAGE}>NotAComponent'; known: ['ClassToken',"
    )
