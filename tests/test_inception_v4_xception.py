"""What is special to Inception-v4, Inception-ResNet v1/v2 and Xception: the paper's grid sizes and
widths, Reduction-A's k/l/m/n, Inception-ResNet-v1's count from the paper's figures, residual
scaling, Xception's 36 convolutions and flows. (Counts, taps, min sizes and keras.applications
weight equivalence of InceptionResNetV2 / Xception are covered by test_models.py.)"""

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.applications import InceptionResNetV1, InceptionV4, Xception
from kerasnets.layers.residual import ScaledAdd


def conv_bn(cin, cout, kh, kw=None, gamma=False):
    """An unbiased kh x kw convolution + BatchNorm (beta, and gamma if `gamma`)."""
    return kh * (kw or kh) * cin * cout + (2 if gamma else 1) * cout


def layer_names(model, suffix):
    return [layer.name for layer in model.layers if layer.name.endswith(suffix)]


def test_inception_resnet_v1_count_is_the_papers_figures():
    """Figures 14, 10, 7 (k=192, l=192, m=256, n=384), 11, 12, 13; 5 / 10 / 5 blocks (Fig. 15)."""
    stem = (conv_bn(3, 32, 3) + conv_bn(32, 32, 3) + conv_bn(32, 64, 3) + conv_bn(64, 80, 1)
            + conv_bn(80, 192, 3) + conv_bn(192, 256, 3))
    block_a = (conv_bn(256, 32, 1) + conv_bn(256, 32, 1) + conv_bn(32, 32, 3)
               + conv_bn(256, 32, 1) + 2 * conv_bn(32, 32, 3) + 96 * 256 + 256)
    reduction_a = (conv_bn(256, 384, 3) + conv_bn(256, 192, 1) + conv_bn(192, 192, 3)
                   + conv_bn(192, 256, 3))
    block_b = (conv_bn(896, 128, 1) + conv_bn(896, 128, 1) + conv_bn(128, 128, 1, 7)
               + conv_bn(128, 128, 7, 1) + 256 * 896 + 896)
    reduction_b = (3 * conv_bn(896, 256, 1) + conv_bn(256, 384, 3) + conv_bn(256, 256, 3)
                   + 2 * conv_bn(256, 256, 3))
    block_c = (conv_bn(1792, 192, 1) + conv_bn(1792, 192, 1) + conv_bn(192, 192, 1, 3)
               + conv_bn(192, 192, 3, 1) + 384 * 1792 + 1792)
    head = 1792 * 1000 + 1000
    by_hand = (stem + 5 * block_a + reduction_a + 10 * block_b + reduction_b + 5 * block_c
               + head)
    assert kerasnets.get_entry("inception_resnet_v1").params == by_hand == 22_742_808


def test_scaled_add_adds_the_scaled_residual_and_serializes():
    layer = ScaledAdd(0.17, name="add")
    a = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    b = np.random.default_rng(1).normal(size=(2, 3, 3, 4)).astype("float32")
    np.testing.assert_allclose(layer([a, b]), a + 0.17 * b, rtol=1e-6)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, ScaledAdd) and clone.scale == pytest.approx(0.17)


def test_inception_resnet_v1_scale_option_and_paper_layout():
    model = InceptionResNetV1(input_shape=(75, 75, 3), scale=(0.3, 0.2, 0.1), dropout=0.0)
    adds = [layer for layer in model.layers if isinstance(layer, ScaledAdd)]
    assert len(adds) == 5 + 10 + 5
    expected = {"stage1": 0.3, "stage2": 0.2, "stage3": 0.1}
    assert all(a.scale == pytest.approx(expected[a.name[:6]]) for a in adds)
    # the paper's C blocks all end in ReLU; no 1x1 after them; no dropout when asked for none
    assert len(layer_names(model, "_up_conv")) == len(layer_names(model, "_add")) == 20
    block_relus = [n for n in layer_names(model, "_relu") if n.startswith("stage")
                   and n.count("_") == 2]
    assert len(block_relus) == 20
    assert not [n for n in layer_names(model, "_conv") if "final" in n]
    assert "head_dropout" not in [layer.name for layer in model.layers]
    # Reduction-A with k=192, l=192, m=256, n=384 (Table 1)
    k, l, m = (model.get_layer(f"stage2_block1_2_{j}_conv").filters for j in (1, 2, 3))
    n = model.get_layer("stage2_block1_1_1_conv").filters
    assert (k, l, m, n) == (192, 192, 256, 384)
    assert [model.get_layer(f"stage{s}_out").output.shape[-1] for s in (1, 2, 3)] == \
        [256, 896, 1792]


def test_inception_resnet_options_are_validated():
    with pytest.raises(ValueError, match="scale must be"):
        InceptionResNetV1(scale=(0.1, 0.2))
    with pytest.raises(ValueError, match="scale must be"):
        InceptionResNetV1(scale=-0.1)
    with pytest.raises(ValueError, match="dropout must be"):
        InceptionResNetV1(dropout=1.0)
    with pytest.raises(ValueError, match="fixes depths"):
        InceptionResNetV1(depths=(1, 1, 1))


def test_inception_v4_grids_widths_and_modules_follow_figure_9():
    model = InceptionV4()  # 299 x 299
    shapes = [tuple(model.get_layer(f"stage{s}_out").output.shape[1:]) for s in (1, 2, 3)]
    assert shapes == [(35, 35, 384), (17, 17, 1024), (8, 8, 1536)]
    assert tuple(model.get_layer("stem_6_concat").output.shape[1:]) == (35, 35, 384)
    modules = {s: len([n for n in layer_names(model, "_concat")
                       if n.startswith(f"stage{s}_") and n.count("_") == 2]) for s in (1, 2, 3)}
    assert modules == {1: 4, 2: 1 + 7, 3: 1 + 3}
    k, l, m = (model.get_layer(f"stage2_block1_2_{j}_conv").filters for j in (1, 2, 3))
    n = model.get_layer("stage2_block1_1_1_conv").filters
    assert (k, l, m, n) == (192, 224, 256, 384)
    # timm / Cadene's branch order (it fixes the channel order of ported weights)
    first = [t._keras_history.operation.name for t in model.get_layer("stem_4_concat").input]
    assert first == ["stem_4_1_1_pool", "stem_4_2_1_relu"]
    last = [t._keras_history.operation.name for t in model.get_layer("stem_6_concat").input]
    assert last == ["stem_6_1_1_relu", "stem_6_2_1_pool"]
    assert model.get_layer("head_dropout").rate == pytest.approx(0.2)
    assert all(bn.epsilon == 1e-3 and bn.scale for bn in model.layers
               if isinstance(bn, keras.layers.BatchNormalization))


def test_xception_flows_grids_and_36_convolutions():
    model = Xception()  # 299 x 299
    shapes = [tuple(model.get_layer(f"stage{s}_out").output.shape[1:]) for s in (1, 2, 3, 4)]
    assert shapes == [(74, 74, 128), (37, 37, 256), (19, 19, 728), (10, 10, 2048)]
    separable = [layer for layer in model.layers
                 if isinstance(layer, keras.layers.SeparableConv2D)]
    plain = [layer for layer in model.layers if type(layer) is keras.layers.Conv2D]
    shortcuts = [layer.name for layer in plain if layer.name.endswith("_0_conv")]
    # "36 convolutional layers forming the feature extraction base" (section 3)
    assert len(separable) + len(plain) - len(shortcuts) == 36
    assert shortcuts == ["stage1_block1_0_conv", "stage2_block1_0_conv", "stage3_block1_0_conv",
                         "stage4_block1_0_conv"]
    # middle flow: 8 blocks of three ReLU-separable-BN with identity shortcuts
    middle = model.get_layer("stage3_block9_add").input
    assert middle[1] is model.get_layer("stage3_block8_add").output
    assert "stage1_block1_1_relu" not in [layer.name for layer in model.layers]
    assert model.get_layer("head_dropout").rate == pytest.approx(0.5)
    no_dropout = Xception(input_shape=(71, 71, 3), dropout=0.0)
    assert "head_dropout" not in [layer.name for layer in no_dropout.layers]
    assert no_dropout.count_params() == model.count_params()
