"""What is special to ResNeXt and SENet: the paper's complexity budgets (Table 2, CIFAR Table 7),
the published counts re-derived by hand from the layouts, where the stride / SE / shortcuts sit,
SENet-154's stem and blocks. Networks are built small (one or two blocks per stage, 32x32 inputs);
full-size counts and taps are covered by test_models.py."""

import dataclasses

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.applications import ResNeXt50, SENet154, SEResNet50, custom_model
from kerasnets.applications._resnet_blocks import (ResNetSpec, bottleneck_block,
                                                   preact_bottleneck_block, residual_stages)
from kerasnets.applications.resnext import IMAGENET_VARIANTS, cifar_spec
from kerasnets.applications.senet import VARIANTS as SE_VARIANTS
from kerasnets.zoo.flops import count_flops
from kerasnets.layers import CeilModeMaxPooling2D, GroupedConv2D


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def conv_bn(cin, cout, k=1, groups=1):
    """Parameters of an unbiased k x k (grouped) convolution followed by BatchNorm."""
    return k * k * (cin // groups) * cout + 2 * cout


def se(c, r=16):
    """Parameters of an SE module on c channels: two biased FCs c -> c // r -> c."""
    return 2 * c * (c // r) + c // r + c


def build(like, spec, shape=(32, 32, 3), classes=10, **options):
    return custom_model(spec, like=like, input_shape=shape, classes=classes, name="probe",
                        **options)


def small(spec, depths=(1, 1), widths=(64, 128)):
    return dataclasses.replace(spec, depths=depths, widths=widths)


# --- ResNeXt-50, Table 2: cardinality traded for width at ~equal complexity ----------------------

# (C, d): width of the grouped conv in stage 1 ("width of group conv.", Table 2)
TABLE2 = {(2, 40): 80, (4, 24): 96, (8, 14): 112, (32, 4): 128}


def resnext50_macs(C, d, classes=1000):
    """Multiply-adds of ResNeXt-50 (C x d d) at 224x224, from Table 1 (stride on the 3x3)."""
    macs = 112 * 112 * 7 * 7 * 3 * 64
    cin = 64
    for s, (n, size) in enumerate(zip((3, 4, 6, 3), (56, 28, 14, 7))):
        w, out = C * d * 2 ** s, 256 * 2 ** s
        for b in range(n):
            first = size * 2 if (b == 0 and s > 0) else size  # the 1x1 before the strided 3x3
            macs += first ** 2 * cin * w + size ** 2 * 9 * w * (w // C) + size ** 2 * w * out
            if b == 0:
                macs += size ** 2 * cin * out
            cin = out
    return macs + 2048 * classes


def table2_variant(C, d):
    return "resnext50_32x4d" if (C, d) == (32, 4) else f"resnext50_{C}x{d}d"


@pytest.mark.parametrize("C, d", sorted(TABLE2))
def test_table2_settings_keep_the_papers_complexity(C, d):
    name = table2_variant(C, d)
    spec = IMAGENET_VARIANTS[name].spec
    assert (spec.groups, spec.width_per_group) == (C, d)
    # ~4.1 GFLOPs (multiply-adds) and ~25M parameters for every setting; ResNet-50 (1x64d) itself
    # is 4.09 G / 25.56M, so "~" spans a few percent.
    assert abs(resnext50_macs(C, d) / 4.1e9 - 1) < 0.05
    assert abs(kerasnets.get_entry(name).params / 25e6 - 1) < 0.03


@pytest.mark.parametrize("C, d", sorted(TABLE2))
def test_table2_conv2_template_width_and_70k_parameters(C, d):
    """One conv2 block (256 -> 256): grouped width from Table 2, ~70k conv parameters."""
    inputs = keras.Input((8, 8, 256))
    block = keras.Model(inputs, bottleneck_block(inputs, 64, groups=C, width_per_group=d,
                                                 stride_on_3x3=True, name="b"))
    middle = block.get_layer("b_2_conv")
    assert isinstance(middle, GroupedConv2D)
    assert (middle.groups, middle.filters) == (C, TABLE2[C, d])
    kernels = sum(int(np.prod(w.shape)) for w in block.trainable_weights if "kernel" in w.path)
    assert kernels == 256 * TABLE2[C, d] * 2 + 9 * TABLE2[C, d] ** 2 // C
    assert abs(kernels / 70e3 - 1) < 0.03


@pytest.mark.slow
def test_resnext50_flops_follow_table1():
    model = kerasnets.create_model("resnext50_2x40d")
    assert count_flops(model) == resnext50_macs(2, 40)


def test_imagenet_resnext_is_torchvision_layout_and_refuses_other_settings():
    with pytest.raises(ValueError, match="fixes version='1.5'"):
        ResNeXt50(version="1")
    with pytest.raises(ValueError, match="fixes groups=32"):
        ResNeXt50(groups=8)


# --- CIFAR ResNeXt-29 (Table 7) -------------------------------------------------------------------

def resnext29_params(C, d=64, classes=10):
    total, cin = conv_bn(3, 64, 3), 64
    for s in range(3):
        w, out = C * d * 2 ** s, 256 * 2 ** s
        for b in range(3):
            total += conv_bn(cin, w) + conv_bn(w, w, 3, C) + conv_bn(w, out)
            if b == 0:
                total += conv_bn(cin, out)
            cin = out
    return total + 1024 * classes + classes


@pytest.mark.parametrize("C, figure", [(8, "34.4M"), (16, "68.1M")])
def test_resnext29_counts_follow_the_official_layout_and_table7(C, figure):
    params = kerasnets.get_entry(f"resnext29_{C}x64d").params
    assert params == resnext29_params(C)
    # Table 7 keeps the first decimal (68,155,210 would round to 68.2M).
    assert f"{params // 100_000 / 10}M" == figure


def test_cifar_resnext_layout():
    model = build("resnext29_8x64d", cifar_spec(2, 4, depth=11))
    sizes = [tuple(model.get_layer(f"stage{s}_out").output.shape[1:]) for s in (1, 2, 3)]
    assert sizes == [(32, 32, 256), (16, 16, 512), (8, 8, 1024)]
    assert model.get_layer("stage2_block1_1_conv").strides == (1, 1)
    assert model.get_layer("stage2_block1_2_conv").strides == (2, 2)
    assert trainable_count(model) == (conv_bn(3, 64, 3) + 10 * 1024 + 10 + sum(
        conv_bn(cin, w) + conv_bn(w, w, 3, 2) + conv_bn(w, out) + conv_bn(cin, out)
        for cin, w, out in ((64, 8, 256), (256, 16, 512), (512, 32, 1024))))
    with pytest.raises(ValueError, match="9n \\+ 2"):
        cifar_spec(8, depth=30)


# --- SENet ----------------------------------------------------------------------------------------

# Published counts of the networks without SE (torchvision) and the SE blocks' output widths.
_BASE = {"seresnet18": (11_689_512, (64, 128, 256, 512)),
         "seresnet34": (21_797_672, (64, 128, 256, 512)),
         "seresnet50": (25_557_032, (256, 512, 1024, 2048)),
         "seresnet101": (44_549_160, (256, 512, 1024, 2048)),
         "seresnet152": (60_192_808, (256, 512, 1024, 2048)),
         "seresnext50_32x4d": (25_028_904, (256, 512, 1024, 2048)),
         "seresnext101_32x4d": (44_177_704, (256, 512, 1024, 2048))}


@pytest.mark.parametrize("name", sorted(_BASE))
def test_se_counts_are_the_base_network_plus_one_se_module_per_block(name):
    base, widths = _BASE[name]
    spec = SE_VARIANTS[name].spec
    assert spec.se_reduction == 16
    added = sum(n * se(c) for n, c in zip(spec.depths, widths))
    assert kerasnets.get_entry(name).params == base + added


def senet154_params(depths=(3, 8, 36, 3), widths=(64, 128, 256, 512), classes=1000):
    """Cadene's SENet-154: 3x3 stem 64-64-128; blocks 1x1 2p, 3x3 4p in 64 groups, 1x1 4p, SE;
    3x3 projection shortcuts where strided (1x1 in stage 1)."""
    total = conv_bn(3, 64, 3) + conv_bn(64, 64, 3) + conv_bn(64, 128, 3)
    cin = 128
    for s, (n, p) in enumerate(zip(depths, widths)):
        for b in range(n):
            total += conv_bn(cin, 2 * p) + conv_bn(2 * p, 4 * p, 3, 64) + conv_bn(4 * p, 4 * p)
            total += se(4 * p)
            if b == 0:
                total += conv_bn(cin, 4 * p, 3 if s else 1)
            cin = 4 * p
    return total + cin * classes + classes


def test_senet154_count_follows_cadenes_layout():
    assert kerasnets.get_entry("senet154").params == senet154_params()


def test_senet154_stem_blocks_shortcuts_and_head():
    spec = small(SE_VARIANTS["senet154"].spec)
    model = build("senet154", spec)
    assert trainable_count(model) == senet154_params(spec.depths, spec.widths, classes=10)
    assert [model.get_layer(f"stem_{i}_conv").filters for i in (1, 2, 3)] == [64, 64, 128]
    assert model.get_layer("stem_1_conv").strides == (2, 2)
    assert isinstance(model.get_layer("stem_pool"), CeilModeMaxPooling2D)
    first, middle = model.get_layer("stage1_block1_1_conv"), model.get_layer("stage1_block1_2_conv")
    assert (first.filters, middle.filters, middle.groups) == (128, 256, 64)
    assert model.get_layer("stage1_block1_0_conv").kernel_size == (1, 1)
    projection = model.get_layer("stage2_block1_0_conv")
    assert (projection.kernel_size, projection.strides) == ((3, 3), (2, 2))
    assert model.get_layer("stage2_block1_0_pad").padding == ((1, 1), (1, 1))
    assert model.get_layer("stage2_block1_2_conv").strides == (2, 2)
    assert model.get_layer("stage1_block1_se_reduce").filters == 256 // 16
    assert model.get_layer("head_dropout").rate == 0.2
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, 10) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_se_sits_on_the_residual_branch_before_the_addition():
    spec = small(SE_VARIANTS["seresnet18"].spec, (1, 1, 1, 1), (64, 128, 256, 512))
    model = build("seresnet18", spec)
    scale = model.get_layer("stage1_block1_se_scale")
    assert scale.input[0] is model.get_layer("stage1_block1_2_bn").output
    assert model.get_layer("stage1_block1_add").input[1] is scale.output
    reduce, expand = (model.get_layer(f"stage1_block1_se_{k}") for k in ("reduce", "expand"))
    assert (reduce.filters, reduce.use_bias, expand.filters) == (64 // 16, True, 64)
    assert model.get_layer("stage1_out").output.shape[1] == 8  # 32 -> 16 (7x7/2) -> 8 (pool)


@pytest.mark.parametrize("name, first, middle", [("seresnet50", (2, 2), (1, 1)),
                                                 ("seresnext50_32x4d", (1, 1), (2, 2))])
def test_stride_sits_where_cadenes_blocks_put_it(name, first, middle):
    model = build(name, small(SE_VARIANTS[name].spec))
    assert model.get_layer("stage2_block1_1_conv").strides == first
    assert model.get_layer("stage2_block1_2_conv").strides == middle
    assert model.get_layer("stage2_block1_0_conv").kernel_size == (1, 1)
    assert "head_dropout" not in [layer.name for layer in model.layers]


def test_senet_variants_refuse_other_settings():
    with pytest.raises(ValueError, match="fixes dropout=0.2"):
        SENet154(dropout=0.5)
    with pytest.raises(ValueError, match="fixes se_reduction=16"):
        SEResNet50(se_reduction=8)


# --- shared blocks: se_reduction travels through the stage loop -----------------------------------

def test_residual_stages_hand_se_to_blocks_that_take_it():
    spec = ResNetSpec("basic", (1, 1, 1, 1), se_reduction=16)
    model = build("resnet50_v1_5", spec)
    assert len([layer for layer in model.layers if layer.name.endswith("_se_scale")]) == 4
    inputs = keras.Input((8, 8, 64))
    with pytest.raises(TypeError, match="se_reduction"):
        residual_stages(inputs, ResNetSpec("bottleneck", (1,), widths=(16,), se_reduction=4),
                        (1,), preact_bottleneck_block)
