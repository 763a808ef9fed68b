import numpy as np
import pytest

from mu2keras import architecture
from mu2keras import roots


def params(name, variant, image_size=32, **kwargs):
    layer = architecture.new_component(name, variant, image_size, **kwargs)
    return layer.count_params()


# Spec §1.2 (derived from the notebook's constants).
@pytest.mark.parametrize(
    "variant, embedding, cls, block, norm",
    [
        ("Ti/16", 147_648, 192, 444_864, 384),
        ("B/16", 590_592, 768, 7_087_872, 1_536),
        ("L/16", 787_456, 1_024, 12_596_224, 2_048),
    ],
)
def test_component_parameter_counts_match_spec(
    variant, embedding, cls, block, norm
):
    assert params("embedding", variant) == embedding
    assert params("cls", variant) == cls
    assert params("encoderblock_0", variant) == block
    assert params("encoder_norm", variant) == norm
    width = cls
    assert params("head", variant, num_classes=7) == (width + 1) * 7


@pytest.mark.parametrize(
    "variant, image_size, expected",
    [
        ("Ti/16", 32, 960),
        ("B/16", 80, 19_968),
        ("L/16", 384, 590_848),
        ("L/16", 224, 201_728),
    ],
)
def test_position_embedding_counts_match_spec(variant, image_size, expected):
    assert params("posembed_input", variant, image_size) == expected


@pytest.mark.parametrize(
    "variant, adapter_dim, expected",
    [("Ti/16", 32, 12_896), ("B/16", 32, 51_488), ("L/16", 16, 35_856)],
)
def test_adapter_counts_match_spec(variant, adapter_dim, expected):
    assert (
        params("residual_adapter_3", variant, adapter_dim=adapter_dim)
        == expected
    )


# The scorer's reference parameter counts (spec §1.2, §2.8): whole models
# with a 2-class head, summed per component (blocks are identical).
@pytest.mark.parametrize(
    "variant, num_layers, image_size, expected",
    [
        ("Ti/16", 3, 32, 1_484_162),
        ("B/16", 12, 32, 85_652_738),
        ("L/16", 24, 224, 303_303_682),
    ],
)
def test_reference_model_sizes(variant, num_layers, image_size, expected):
    stem = ("embedding", "cls", "posembed_input", "encoder_norm")
    total = sum(params(n, variant, image_size) for n in stem)
    total += num_layers * params("encoderblock_0", variant, image_size)
    total += params("head", variant, image_size, num_classes=2)
    assert total == expected


def test_ti16_root_with_zero_layers_at_32px():
    root = roots.make_root("Ti/16", num_layers=0, image_size=32)
    assert list(root.components) == [
        "embedding",
        "cls",
        "posembed_input",
        "encoder_norm",
        "head",
    ]
    total = sum(c.count_params() for c in root.components.values())
    assert total == 149_377


def test_component_names_put_adapters_before_their_block():
    assert architecture.component_names(3, adapter_layers=[2, 0]) == [
        "embedding",
        "cls",
        "posembed_input",
        "residual_adapter_0",
        "encoderblock_0",
        "encoderblock_1",
        "residual_adapter_2",
        "encoderblock_2",
        "encoder_norm",
        "head",
    ]
    assert architecture.layer_index("residual_adapter_12") == 12
    assert architecture.layer_index("encoder_norm") is None


@pytest.mark.parametrize("variant", sorted(architecture.VIT_VARIANTS))
def test_every_variant_builds_a_shallow_root_that_runs(variant):
    v = architecture.get_variant(variant)
    size = 2 * v.patch_size
    root = roots.make_root(variant, num_layers=1, image_size=size)
    images = np.zeros((2, size, size, 3), "float32")
    logits = architecture.forward(list(root.components.values()), images)
    # The fresh head is zero: every root starts by predicting 0 logits.
    np.testing.assert_array_equal(logits, np.zeros((2, 1)))
    features = architecture.forward(list(root.components.values())[:-1], images)
    assert features.shape == (2, 5, v.hidden_dim)


def test_root_is_seeded():
    def weights(seed):
        root = roots.make_root("testing", image_size=8, seed=seed)
        return [w for c in root.components.values() for w in c.get_weights()]

    first, again, other = weights(0), weights(0), weights(1)
    assert len(first) == len(again) == len(other)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    differs = [
        not np.array_equal(a, b) for a, b in zip(first, other, strict=True)
    ]
    assert any(differs)


def test_root_defaults_to_full_depth_and_checks_arguments():
    assert len(roots.make_root("testing", image_size=8).components) == 2 + 5
    with pytest.raises(ValueError, match="Unknown ViT variant 'T/16'"):
        roots.make_root("T/16")
    with pytest.raises(ValueError, match="image_size=30 is not a multiple"):
        roots.make_root("Ti/16", 0, image_size=30)
    with pytest.raises(ValueError, match="`num_layers` must be >= 0; got -1"):
        roots.make_root("testing", -1, image_size=8)
    with pytest.raises(ValueError, match="Unknown component name 'block_0'"):
        architecture.new_component("block_0", "testing", 8)
