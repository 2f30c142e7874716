"""What is special to EfficientNet and EfficientNetV2: Table 1 as built, keras' scaling table
against eq. 3, the channel rounding rules, stochastic depth, Fused-MBConv stages, V2's input
preprocessing and the published (rounded) counts. (Counts, taps, min sizes and keras weight
equivalence of every variant are covered by test_models.py.)"""

import dataclasses
import re

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.applications import EfficientNetB0, EfficientNetV2B1
from kerasnets.applications import efficientnet, efficientnet_v2
from kerasnets.applications.efficientnet import ALPHA, BETA, GAMMA, compound_spec, round_filters
from kerasnets.zoo.flops import count_flops

V1 = {name: v.spec for name, v in efficientnet.VARIANTS.items()}
V2 = {name: v.spec for name, v in efficientnet_v2.VARIANTS.items()}


def layer_names(model):
    return [layer.name for layer in model.layers]


def drop_rates(model):
    return {layer.name: layer.rate for layer in model.layers
            if isinstance(layer, keras.layers.Dropout) and layer.name.endswith("_drop")}


# --- compound scaling (section 3.3) -------------------------------------------------------------

# The paper gives no phi per variant; these are the values fitted in tensorflow/tpu#390 (open,
# unanswered): "phi_1 = 0.5, phi_2 = 1, phi_3 ~ 2, phi_4 ~ 3.5, phi_5 ~ 5, phi_6 ~ 6, phi_7 ~ 7".
PHI = {"b0": 0, "b1": 0.5, "b2": 1, "b3": 2, "b4": 3.5, "b5": 5, "b6": 6, "b7": 7}


def test_alpha_beta_gamma_double_the_flops_per_unit_of_phi():
    assert ALPHA * BETA ** 2 * GAMMA ** 2 == pytest.approx(2, abs=0.1)  # "approximately 2"
    assert compound_spec(0) == V1["efficientnet_b0"]


@pytest.mark.parametrize("b, phi", PHI.items())
def test_keras_scaling_table_against_equation_3(b, phi):
    """keras' (= the official code's) width and resolution are eq. 3 roughly rounded (to 0.1 and
    to 4%); its depth follows alpha^phi up to B3 but stays 5-14% below it for B4-B7."""
    table = V1[f"efficientnet_{b}"]
    formula = compound_spec(phi, dropout=table.dropout)
    assert formula.width == pytest.approx(table.width, abs=0.06)
    assert formula.resolution == pytest.approx(table.resolution, rel=0.04)
    if phi <= 2:
        assert formula.depth == pytest.approx(table.depth, abs=0.05)
    else:
        assert 0.85 < table.depth / formula.depth < 0.96


def test_v1_keeps_90_percent_of_the_scaled_width_and_v2_does_not():
    # width 1.2 (B3 / V2-B3): 16 -> 19.2, whose nearest multiple of 8 (16) loses more than 10%.
    # The keras equivalence tests confirm both: EfficientNetB3's first stage has 24 channels,
    # EfficientNetV2B3's 16.
    assert round_filters(16, 1.2) == 24
    assert round_filters(16, 1.2, floor_90=False) == 16
    assert round_filters(32, 1.1) == round_filters(32, 1.1, floor_90=False) == 32  # 35.2
    assert round_filters(40, 1.1) == 48  # 44 -> 48, halves round up


# --- published counts ---------------------------------------------------------------------------

# Where the exact count does not round to the published figure (see the registry's sources):
# B2's 9.2M is its count including BatchNorm statistics (9,177,569); V2-L's 119.5M is
# unexplained (the official block table, stem and head build keras' 118,515,272).
DIFFERENT = {"efficientnet_b2": "9.1M", "efficientnet_v2_l": "118.5M"}


def rounds_to(params, figure):
    decimals = len(figure[:-1].split(".")[1]) if "." in figure else 0
    return f"{params / 1e6:.{decimals}f}M" == figure


def test_exact_counts_round_to_the_published_figures():
    published = {f"efficientnet_{b.lower()}": f for b, f in efficientnet.TABLE2.items()}
    published.update({f"efficientnet_v2_{v.lower()}": f for v, f in efficientnet_v2.README.items()})
    keras_twins = [n for n in kerasnets.list_models(family="efficientnet")
                   + kerasnets.list_models(family="efficientnet_v2")
                   if kerasnets.get_entry(n).keras_equivalent]  # not torchvision's (_tv.py)
    assert sorted(published) == sorted(keras_twins)
    for name, figure in published.items():
        entry = kerasnets.get_entry(name)
        assert figure in entry.params_source
        assert rounds_to(entry.params, DIFFERENT.get(name, figure)), (name, entry.params, figure)
    assert not rounds_to(9_177_569 - 67_575, "9.2M") and rounds_to(9_177_569, "9.2M")


# --- EfficientNet-B0 (Table 1) and the options -------------------------------------------------

def build(generic, spec, shape, **options):
    return generic(spec, include_top=True, weights=None, input_tensor=None, input_shape=shape,
                   pooling=None, classes=10, classifier_activation="softmax", name="tiny",
                   default_shape=shape, min_size=32, **options)


def test_b0_builds_table_1_at_0_39_gflops_with_linearly_rising_stochastic_depth():
    model = EfficientNetB0()
    taps = [tuple(model.get_layer(f"stage{s}_out").output.shape[1:]) for s in range(1, 8)]
    assert taps == [(112, 112, 16), (56, 56, 24), (28, 28, 40), (14, 14, 80), (14, 14, 112),
                    (7, 7, 192), (7, 7, 320)]
    names = layer_names(model)
    depths = [len({n.split("_")[1] for n in names if n.startswith(f"stage{s}_block")})
              for s in range(1, 8)]
    assert depths == [1, 2, 2, 3, 3, 4, 1]
    kernels = [model.get_layer(f"stage{s}_block1_dw_conv").kernel_size for s in range(1, 8)]
    assert kernels == [(k, k) for k in (3, 3, 5, 3, 5, 5, 3)]
    # MBConv1 has no expansion; MBConv6 expands its input six times; SE squeezes to 1/4 input
    assert "stage1_block1_expand_conv" not in names
    assert model.get_layer("stage4_block2_expand_conv").filters == 6 * 80
    assert model.get_layer("stage4_block2_se_reduce").filters == 80 // 4
    assert model.get_layer("stage4_block2_se_expand").filters == 6 * 80
    assert (model.get_layer("stem_conv").filters, model.get_layer("top_conv").filters) == (32, 1280)
    assert model.get_layer("head_dropout").rate == 0.2
    assert f"{count_flops(model) / 1e9:.2f}B" == "0.39B"  # Table 2
    # the identity blocks and their index b among the 16 blocks: drop rate 0.2 * b / 16
    index = {"stage2_block2": 2, "stage3_block2": 4, "stage4_block2": 6, "stage4_block3": 7,
             "stage5_block2": 9, "stage5_block3": 10, "stage6_block2": 12, "stage6_block3": 13,
             "stage6_block4": 14}
    assert sorted(n[:-4] for n in names if n.endswith("_add")) == sorted(index)
    assert drop_rates(model) == pytest.approx({f"{k}_drop": 0.2 * b / 16
                                               for k, b in index.items()})
    assert all(model.get_layer(f"{k}_drop").noise_shape == (None, 1, 1, 1) for k in index)


def test_no_stochastic_depth_variable_input_and_fixed_options():
    spec = dataclasses.replace(V1["efficientnet_b0"], stages=efficientnet.B0_STAGES[:3])
    model = build(efficientnet._efficientnet, spec, (None, None, 3), drop_connect_rate=0.0)
    names = layer_names(model)
    assert "stage3_block2_add" in names and not drop_rates(model)
    out = model.predict(np.ones((1, 64, 96, 3), "float32"), verbose=0)
    assert out.shape == (1, 10) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="fixes width=1.0"):
        EfficientNetB0(width=1.1)
    with pytest.raises(ValueError, match="drop_connect_rate must be in"):
        EfficientNetB0(drop_connect_rate=1.0)


# --- EfficientNetV2 -----------------------------------------------------------------------------

def test_v2_fused_mbconv_early_then_mbconv_and_the_official_regularisation():
    model = EfficientNetV2B1(input_shape=(32, 32, 3))
    names = layer_names(model)
    for s in (1, 2, 3):  # Fused-MBConv: no depthwise convolution, no SE
        assert not [n for n in names if n.startswith(f"stage{s}_") and ("_dw_" in n or "_se_" in n)]
    for s in (4, 5, 6):
        assert f"stage{s}_block1_dw_conv" in names and f"stage{s}_block1_se_reduce" in names
    # Fused-MBConv1: one 3x3 convolution with BN and swish; Fused-MBConv4: strided 3x3 expansion
    # to 4x the input, then a linear 1x1 projection
    assert model.get_layer("stage1_block1_project_conv").kernel_size == (3, 3)
    assert "stage1_block1_project_swish" in names
    expand = model.get_layer("stage2_block1_expand_conv")
    assert (expand.kernel_size, expand.strides, expand.filters) == ((3, 3), (2, 2), 4 * 16)
    assert model.get_layer("stage2_block1_project_conv").kernel_size == (1, 1)
    assert "stage2_block1_project_swish" not in names
    # strided depthwise convolutions pad "same", without keras v1's explicit padding
    assert model.get_layer("stage4_block1_dw_conv").padding == "same"
    assert not [n for n in names if n.endswith("_pad")]
    taps = [model.get_layer(f"stage{s}_out").output.shape[-1] for s in range(1, 7)]
    assert taps == [16, 32, 48, 96, 112, 192]
    assert model.get_layer("stage6_block1_dw_bn").momentum == 0.9
    # depth 1.1: ceil(1.1 * (1, 2, 2, 3, 5, 8)) = (2, 3, 3, 4, 6, 9) = 27 blocks, and the last
    # drops with 0.2 * 26 / 27 (keras: 0.2 * 26 / 21, dividing by the unscaled count)
    blocks = {m.group() for n in names if (m := re.match(r"stage\d+_block\d+", n))}
    assert len(blocks) == 27
    assert max(drop_rates(model).values()) == pytest.approx(0.2 * 26 / 27)
    # automl effnetv2_configs: classifier dropout 0.2, 0.2, 0.3, 0.3 (B0-B3), 0.2, 0.3, 0.4 (S-L)
    assert model.get_layer("head_dropout").rate == 0.2
    assert [spec.dropout for spec in V2.values()] == [0.2, 0.2, 0.3, 0.3, 0.2, 0.3, 0.4]


def test_v2_preprocessing_follows_keras():
    """B0-B3 with RGB input: [0, 1] then ImageNet mean/std (no weights); S, M, L and any other
    channel count: [-1, 1]; or nothing with include_preprocessing=False."""
    assert [spec.normalization for spec in V2.values()] == ["imagenet"] * 4 + ["inception"] * 3
    x = np.array([0.0, 127.5, 255.0], "float32") * np.ones((1, 32, 32, 1), "float32")
    tiny = dataclasses.replace(V2["efficientnet_v2_b0"], stages=efficientnet_v2.BASE[:1])

    def stem_input(shape, spec=tiny, **options):
        model = build(efficientnet_v2._efficientnet_v2, spec, shape, **options)
        return model, keras.Model(model.input, model.get_layer("stem_conv").input)

    model, probe = stem_input((32, 32, 3))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(probe.predict(x, verbose=0)[0, 0, 0],
                               (np.array([0.0, 0.5, 1.0]) - mean) / std, rtol=1e-5)
    assert not model.get_layer("stem_normalization").weights
    _, probe = stem_input((32, 32, 3), dataclasses.replace(tiny, normalization="inception"))
    np.testing.assert_allclose(probe.predict(x, verbose=0)[0, 0, 0], [-1.0, -0.00390625, 0.9921875])
    model, probe = stem_input((32, 32, 1))
    assert "stem_normalization" not in layer_names(model)
    np.testing.assert_allclose(probe.predict(x[..., 2:], verbose=0)[0, 0, 0], [0.9921875])
    model, _ = stem_input((32, 32, 3), include_preprocessing=False)
    assert layer_names(model)[1] == "stem_conv"
