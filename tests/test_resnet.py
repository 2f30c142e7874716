"""What is special to the ResNet families: CIFAR shortcut options and the paper's Table 6, v1 vs
v1.5, keras.applications' naming and V2 stride layout, Wide ResNet sizes, ResNeXt-ready specs.
(Counts, taps, min sizes and keras weight equivalence are covered by test_models.py.)"""

import re

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.applications import (ResNet18, ResNet20_CIFAR, ResNet50, ResNet50_V1_5,
                                    WideResNet28_10, custom_model)
from kerasnets.applications._resnet_blocks import ResNetSpec
from kerasnets.applications.resnet_cifar import TABLE6, cifar_spec
from kerasnets.applications.wide_resnet import wrn_spec
from kerasnets.layers import GroupedConv2D


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def conv_bn(cin, cout, k=3):
    """Parameters of an unbiased k x k convolution followed by BatchNorm (gamma, beta)."""
    return k * k * cin * cout + 2 * cout


def build(like, spec, name, classes, shape, **options):
    return custom_model(spec, like=like, input_shape=shape, classes=classes, name=name,
                        **options)


# --- CIFAR ResNets (section 4.2, Table 6) --------------------------------------------------------

@pytest.mark.parametrize("depth", sorted(TABLE6))
def test_cifar_counts_follow_section_4_2_and_round_to_table6(depth):
    params, figure = TABLE6[depth]
    assert kerasnets.get_entry(f"resnet{depth}_cifar").params == params
    n = (depth - 2) // 6
    by_hand = conv_bn(3, 16) + 64 * 10 + 10
    for cin, width in ((16, 16), (16, 32), (32, 64)):
        by_hand += conv_bn(cin, width) + conv_bn(width, width) + (n - 1) * 2 * conv_bn(width, width)
    assert params == by_hand
    decimals = len(figure.rstrip("M").split(".")[1])
    assert f"{params / 1e6:.{decimals}f}M" == figure


def test_cifar_depth_must_be_6n_plus_2():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        cifar_spec(21)


def test_cifar_shortcut_a_is_parameter_free_and_b_adds_the_projections():
    a = ResNet20_CIFAR()
    b = ResNet20_CIFAR(shortcut="B")
    assert not [layer.name for layer in a.layers if "_0_" in layer.name and layer.weights]
    assert trainable_count(a) == 269_722
    projections = sorted(layer.name for layer in b.layers if layer.name.endswith("_0_conv"))
    assert projections == ["stage2_block1_0_conv", "stage3_block1_0_conv"]
    # 1x1 16->32 and 32->64 unbiased convolutions, each followed by BN (gamma, beta).
    assert trainable_count(b) - trainable_count(a) == conv_bn(16, 32, 1) + conv_bn(32, 64, 1)
    assert conv_bn(16, 32, 1) + conv_bn(32, 64, 1) == 2_752


def test_cifar_shortcut_a_subsamples_and_appends_zero_channels():
    model = ResNet20_CIFAR()
    probe = keras.Model(model.input, [model.get_layer("stage1_out").output,
                                      model.get_layer("stage2_block1_0_pad").output])
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    before, shortcut = probe.predict(x, verbose=0)
    assert before.shape == (2, 32, 32, 16) and shortcut.shape == (2, 16, 16, 32)
    np.testing.assert_array_equal(shortcut[..., :16], before[:, ::2, ::2, :])
    np.testing.assert_array_equal(shortcut[..., 16:], 0.0)
    assert np.abs(before).sum() > 0


def test_cifar_unknown_shortcut_option_raises():
    with pytest.raises(ValueError, match="shortcut must be one of"):
        ResNet20_CIFAR(shortcut="C")


# --- ImageNet ResNets: v1 (keras) vs v1.5 (torchvision) ------------------------------------------

def test_v1_5_moves_the_stride_to_the_3x3_and_drops_conv_biases():
    v1 = ResNet50(input_shape=(64, 64, 3))
    v15 = ResNet50(input_shape=(64, 64, 3), version="1.5")
    for model, first, middle in ((v1, (2, 2), (1, 1)), (v15, (1, 1), (2, 2))):
        assert model.get_layer("stage2_block1_1_conv").strides == first
        assert model.get_layer("stage2_block1_2_conv").strides == middle
        assert model.get_layer("stage2_block1_0_conv").strides == (2, 2)
    assert all(conv.use_bias for conv in convs(v1))
    assert not any(conv.use_bias for conv in convs(v15))
    assert trainable_count(v15) == 25_557_032  # torchvision resnet50
    assert trainable_count(v1) - trainable_count(v15) == sum(c.filters for c in convs(v1))
    for s in range(1, 5):
        assert v1.get_layer(f"stage{s}_out").output.shape == \
            v15.get_layer(f"stage{s}_out").output.shape


@pytest.mark.parametrize("builder, option, match", [
    (ResNet50, {"version": "2"}, "version must be one of"),
    (ResNet50_V1_5, {"version": "1"}, "fixes version='1.5'"),
    (ResNet50, {"groups": 32}, "fixes groups=1")])
def test_version_is_validated_and_pinned_variants_refuse_another(builder, option, match):
    with pytest.raises(ValueError, match=match):
        builder(**option)


def test_basic_block_resnets_are_unbiased_under_both_versions():
    model = ResNet18(input_shape=(32, 32, 3))
    assert not any(conv.use_bias for conv in convs(model))
    assert trainable_count(ResNet18(input_shape=(32, 32, 3), version="1.5")) == 11_689_512
    assert model.get_layer("stage1_block1_add").input[0] is model.get_layer("stem_pool").output


def _keras_name(name):
    name = re.sub(r"^conv(\d)_block", lambda m: f"stage{int(m.group(1)) - 1}_block", name)
    return name.replace("conv1_", "stem_")


@pytest.mark.parametrize("name, keras_name, tap_sizes", [
    ("resnet50", "ResNet50", [16, 8, 4, 2]),
    # keras' V2 downsamples in the last block of stages 1-3 (1x1 max-pool shortcut), not stage 4.
    ("resnet50_v2", "ResNet50V2", [8, 4, 2, 2]),
])
def test_keras_layout_names_and_stage_strides(name, keras_name, tap_sizes):
    shape = (64, 64, 3)
    reference = getattr(keras.applications, keras_name)(weights=None, input_shape=shape)
    ours = kerasnets.create_model(name, input_shape=shape)
    theirs = [_keras_name(layer.name) for layer in reference.layers if layer.weights]
    assert theirs == [layer.name for layer in ours.layers if layer.weights]
    sizes = [ours.get_layer(f"stage{s}_out").output.shape[1] for s in range(1, 5)]
    assert sizes == tap_sizes


# --- Wide ResNets -------------------------------------------------------------------------------

def test_wrn_16_10_matches_its_published_count():
    model = build("wide_resnet28_10", wrn_spec(16, 10), "wrn16_10", 10, (32, 32, 3))
    assert trainable_count(model) == 17_116_634  # imgclsmob wrn16_10_cifar10
    with pytest.raises(ValueError, match="6N \\+ 4"):
        wrn_spec(27, 10)


def test_wrn_dropout_sits_between_the_convolutions_and_adds_no_parameters():
    model = WideResNet28_10(dropout=0.3)
    drops = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(drops) == 12 and all(d.rate == 0.3 for d in drops)
    assert drops[0].name == "stage1_block1_dropout"
    assert drops[0].input is model.get_layer("stage1_block1_1_relu").output
    assert trainable_count(model) == kerasnets.get_entry("wide_resnet28_10").params


def test_wide_resnet50_2_doubles_only_the_inner_width():
    model = kerasnets.create_model("wide_resnet50_2", input_shape=(32, 32, 3))
    assert [model.get_layer(f"stage1_block1_{i}_conv").filters for i in (1, 2, 3)] == \
        [128, 128, 256]


# --- ResNeXt-ready spec ---------------------------------------------------------------------------

def test_grouped_bottleneck_spec_builds_torchvision_resnext50():
    spec = ResNetSpec("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4)
    model = build("resnet50_v1_5", spec, "resnext50_32x4d", 1000, (32, 32, 3))
    assert trainable_count(model) == 25_028_904  # torchvision resnext50_32x4d
    middle = model.get_layer("stage1_block1_2_conv")
    assert isinstance(middle, GroupedConv2D) and (middle.groups, middle.filters) == (32, 128)
    with pytest.raises(ValueError, match="basic blocks support only"):
        ResNetSpec("basic", (2, 2, 2, 2), groups=2)


def test_compact_records_state_torchvision_and_keras_files():
    """keras_file / torchvision_file rows: tag, transform and note follow from the file and the
    recipe (values typed from torchvision's weight enums and keras.applications' sources)."""
    from kerasnets.weights import records

    v2, = records.checkpoints("resnet50_v1_5")
    assert (v2.model, v2.tag, v2.transform.resize, v2.sha256) == ("resnet50", "IMAGENET1K_V2",
                                                                  232, "11ad3fa6")
    assert "IMAGENET1K_V1 is resnet50-0676ba61.pth" in v2.note
    new_only, = records.checkpoints("resnext101_64x4d")  # the new recipe is its only file
    assert (new_only.tag, new_only.transform.resize) == ("IMAGENET1K_V1", 232)
    v1, = records.checkpoints("resnet18")
    assert (v1.tag, v1.transform.resize, v1.note) == ("IMAGENET1K_V1", 256, "")
    keras, = records.checkpoints("resnet50")
    assert keras.transform.normalization == "caffe"
    assert keras.keras_files.notop == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert keras.keras_files.notop_md5 == "4d473c1dd8becc155b73f8504c6f6626"
