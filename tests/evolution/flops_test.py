"""A path's FLOPs, counted from its traced forward function (µ3Net's score;
`mu2keras.evolution.flops`), against counts by hand."""

import numpy as np
import pytest
import tensorflow as tf

from mu2keras import architecture
from mu2keras import roots
from mu2keras.evolution import flops
from mu2keras.system.component import ROOT_TASK
from mu2keras.system.population import Population


def hand_count(
    variant, image_size, num_layers, adapters=(), adapter_dim=0, classes=1
):
    """FLOPs of one example through a ViT path, from its dimensions; a
    multiply-add is 2 FLOPs."""
    v = architecture.get_variant(variant)
    d, p = v.hidden_dim, v.patch_size
    patches = (image_size // p) ** 2
    tokens = patches + 1  # The class token.
    stem = patches * d * (p * p * 3)  # The patch convolution.
    block = (
        4 * tokens * d * d  # Query, key, value and output projections.
        + 2 * tokens * tokens * d  # Scores, then their weighted sum.
        + 2 * tokens * d * v.mlp_dim  # The MLP's two layers.
    )
    adapter = 2 * tokens * d * adapter_dim  # Down and up projections.
    head = d * classes  # On the class token only.
    macs = stem + num_layers * block + len(adapters) * adapter + head
    return 2 * macs


def tiny_population(num_layers=2):
    root = roots.make_root("testing", num_layers=num_layers, image_size=8)
    population = Population.from_root(root)
    return population, population.paths[ROOT_TASK][0]


def child_with(
    population, parent, adapters=(), adapter_dim=4, classes=3, size=8
):
    """`parent`'s components with new adapters before the `adapters`
    blocks, a new `classes` head, and a new position embedding if `size`
    is not the parent's image size."""
    v = architecture.get_variant("testing")
    resized = size != parent.image_size

    def new(name, **kwargs):
        layer = architecture.new_component(name, v, size, **kwargs)
        return population.new_component(layer)

    components = []
    for component in parent.components:
        index = architecture.layer_index(component.name)
        if index in adapters:
            name = architecture.adapter_name(index)
            components.append(new(name, adapter_dim=adapter_dim))
        if component.name == architecture.HEAD:
            component = new(architecture.HEAD, num_classes=classes)
        if component.name == architecture.POSITION_EMBEDDING and resized:
            component = new(architecture.POSITION_EMBEDDING)
        components.append(component)
    return population.new_path("a", components, parent)


def test_a_tiny_vit_path_is_counted_as_by_hand():
    population, root = tiny_population(num_layers=2)
    # testing: patch 4, D 16, MLP 32, 2 heads; 8 px: 4 patches, 5 tokens.
    assert flops.path_flops(root) == hand_count("testing", 8, 2) == 50_336
    child = child_with(population, root, adapters=(1,), classes=3)
    expected = hand_count("testing", 8, 2, (1,), adapter_dim=4, classes=3)
    assert flops.path_flops(child) == expected == 51_680


def test_ti16_with_3_blocks_at_32px_is_near_mu3nets_reference():
    # µ3Net's ti3 config: "Flops with Ti/16 3 layers and image size 32",
    # 15M by XLA's cost analysis, which adds the elementwise ops.
    root = roots.make_root("Ti/16", num_layers=3, image_size=32)
    layers = list(root.components.values())
    count = flops.count_forward(layers, 32)
    assert count == hand_count("Ti/16", 32, 3) == 14_508_672
    assert 0.95 < count / 15_000_000 < 1.0


def test_the_count_does_not_change_with_the_weights():
    population, root = tiny_population(num_layers=1)
    child = child_with(population, root, classes=2)
    before = flops.count_forward(child.layers, 8)
    rng = np.random.default_rng(0)
    for layer in child.layers:
        layer.set_weights(
            [rng.normal(size=w.shape) * 10 for w in layer.get_weights()]
        )
    assert flops.count_forward(child.layers, 8) == before
    assert before == hand_count("testing", 8, 1, classes=2)


def test_counts_are_traced_once_per_structure_and_image_size(monkeypatch):
    traced = []
    count_forward = flops.count_forward

    def recorded(layers, image_size):
        traced.append(image_size)
        return count_forward(layers, image_size)

    monkeypatch.setattr(flops, "count_forward", recorded)
    monkeypatch.setattr(flops, "_CACHE", {})
    population, root = tiny_population(num_layers=2)
    first = child_with(population, root, classes=3)
    # Same structure, other weights: a clone of every component.
    second = population.new_path(
        "a", [population.clone_component(c) for c in first.components], root
    )
    assert flops.path_flops(first) == flops.path_flops(second)
    assert flops.path_flops(first) == flops.path_flops(first)
    assert traced == [8]
    # Another structure (an adapter) is traced on its own.
    third = child_with(population, root, adapters=(0,), classes=3)
    assert flops.path_flops(third) > flops.path_flops(first)
    assert traced == [8, 8]
    # The same blocks at another image size: another count.
    big = child_with(population, root, classes=3, size=16)
    assert flops.path_flops(big) == hand_count("testing", 16, 2, classes=3)
    assert traced == [8, 8, 16]


def test_matmuls_einsums_convolutions_and_nested_calls():
    @tf.function
    def inner(a, b):
        return tf.matmul(a, b, transpose_a=True)  # (5, 4) x (5, 6).

    def fn(a, b, q, k, images, kernel):
        scores = tf.einsum("bqhd,bkhd->bhqk", q, k)
        conv = tf.nn.conv2d(images, kernel, strides=2, padding="VALID")
        depthwise = tf.nn.depthwise_conv2d(
            images, kernel[..., :1], (1, 1, 1, 1), "SAME"
        )
        summed = tf.einsum("ij->i", a)  # No products: not counted.
        total = (
            tf.reduce_sum(scores) + tf.reduce_sum(conv) + tf.reduce_sum(summed)
        )
        return inner(a, b), total + tf.reduce_sum(depthwise)

    specs = [
        tf.TensorSpec(s)
        for s in (
            (5, 4),
            (5, 6),
            (2, 7, 3, 8),
            (2, 9, 3, 8),
            (1, 6, 6, 3),
            (2, 2, 3, 10),
        )
    ]
    expected = 2 * (
        4 * 6 * 5  # The nested matmul: 4x6 outputs, 5 deep.
        + 2 * 3 * 7 * 9 * 8  # The einsum: b h q k outputs, d deep.
        + 3 * 3 * 10 * (2 * 2 * 3)  # The strided conv: 3x3x10, 2x2x3.
        + 6 * 6 * 3 * (2 * 2)  # The depthwise conv: 6x6x3, 2x2 each.
    )
    assert flops.function_flops(fn, *specs) == expected


def test_a_shape_unknown_at_trace_time_is_refused():
    spec = tf.TensorSpec((None, 4))
    with pytest.raises(ValueError) as raised:
        flops.function_flops(lambda a: tf.matmul(a, tf.ones((4, 3))), spec)
    assert str(raised.value) == (
        "Counting FLOPs needs static shapes; MatMul op 'MatMul' has shapes "
        "[[None, 4], [4, 3], [None, 3]]."
    )
