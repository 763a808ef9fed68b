"""The registry: benchmark lists and name resolution."""

import pytest

from mu2keras.tasks import BENCHMARKS
from mu2keras.tasks import EMBEDDED_TASKS
from mu2keras.tasks import benchmark_tasks
from mu2keras.tasks import get_task
from mu2keras.tasks import task_names

# Spec §5.1, in the notebook's order (typo fixed).
VTAB_FULL = [
    "caltech101",
    "dtd",
    "oxford_flowers102",
    "oxford_iiit_pet",
    "sun397",
    "svhn_cropped",
    "patch_camelyon",
    "eurosat",
    "resisc45",
    "diabetic_retinopathy_detection/btgraham-300",
    "clevr/count_cylinders",
    "clevr/count_all",
    "clevr/closest_object_distance",
    "dmlab",
    "dsprites/label_x_position",
    "dsprites/label_orientation",
    "kitti/closest_object_distance",
    "kitti/count_vehicles",
    "kitti/closest_vehicle_distance",
    "smallnorb/label_category",
    "smallnorb/label_lighting",
    "smallnorb/label_azimuth",
    "smallnorb/label_elevation",
]


def test_benchmark_sizes_and_total():
    sizes = {name: len(tasks) for name, tasks in BENCHMARKS.items()}
    assert sizes == {
        "vit": 3,
        "vtab_full": 23,
        "vdd": 10,
        "chars": 8,
        "vtab_1k": 25,
    }
    names = benchmark_tasks()
    assert len(names) == 69 == len(set(names))


def test_benchmark_lists_exactly():
    assert BENCHMARKS["vit"] == ["imagenet2012", "cifar100", "cifar10"]
    assert BENCHMARKS["vtab_full"] == VTAB_FULL
    assert BENCHMARKS["chars"] == [
        "emnist/digits",
        "emnist/letters",
        "kmnist",
        "mnist",
        "omniglot",
        "cmaterdb/bangla",
        "cmaterdb/devanagari",
        "cmaterdb/telugu",
    ]
    vdd = [
        "imagenet12",
        "svhn",
        "cifar100",
        "gtsrb",
        "daimlerpedcls",
        "omniglot",
        "ucf101",
        "aircraft",
        "dtd",
        "vgg-flowers",
    ]
    assert BENCHMARKS["vdd"] == [f"visual_domain_decathlon/{n}" for n in vdd]
    one_k = [VTAB_FULL[0], "cifar100", "cifar10"] + VTAB_FULL[1:]
    assert BENCHMARKS["vtab_1k"] == [f"{n}/1k" for n in one_k]


def test_notebook_typo_is_fixed():
    assert "smallnorb/label_azimuth/1k" in BENCHMARKS["vtab_1k"]
    assert "smallnorb/label_azimuth/1" not in benchmark_tasks()


def test_every_benchmark_and_embedded_name_is_known():
    known = set(task_names())
    assert set(benchmark_tasks()) <= known
    assert set(EMBEDDED_TASKS) <= known
    assert "imagenet_v2" not in known and "cifar10_1" not in known


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("smallnorb/label_azimuth/1", "smallnorb/label_azimuth/1k"),
        ("smallnorb/label_elevatio", "smallnorb/label_elevation"),
        ("cmaterdb/bengali", "cmaterdb/bangla"),
        ("embedded/fashion-mnist", "embedded/fashion_mnist"),
    ],
)
def test_unknown_name_lists_close_matches(name, suggestion):
    with pytest.raises(ValueError) as error:
        get_task(name)
    message = str(error.value)
    assert f"Unknown task {name!r}" in message
    assert repr(suggestion) in message.split("Did you mean one of")[1]


def test_unknown_name_without_close_match():
    with pytest.raises(ValueError, match="Unknown task 'zzzz'. `mu2keras"):
        get_task("zzzz")


@pytest.mark.parametrize("name", ["", "   ", None, 3, "private:"])
def test_bad_names(name):
    with pytest.raises(ValueError, match="non-empty string"):
        get_task(name)
