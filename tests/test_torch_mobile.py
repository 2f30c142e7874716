"""The mobile / efficient families against torchvision, whose checkpoints they load:
MobileNetV2 and V3 (`*_tv` variants: PyTorch's symmetric padding, BatchNorm and head),
ShuffleNetV2 (our variants are torchvision's), EfficientNet B0-B7 and V2-S/M/L
(`efficientnet_tv.py`). Each mapped variant, with the torch model's weights converted, gives the
torch model's logits and stage outputs to 1e-4 of their scale (`torch_equivalence`); one per
family runs in the default suite at 64 px, every other variant under `-m slow`.

The torch models are randomised as `torch_equivalence` does for every family: torch's
initialisation seeded, BatchNorm made non-trivial, then the BN that closes each residual branch
(torchvision's `use_res_connect` blocks) scaled by `DAMPING` (`damp_residual_branches`). A
randomly initialised BN network is chaotic: EfficientNet's 16-55 undamped residual blocks amplify
rounding ~3x per block (B7 at 128 px differs by 0.12 of the logits' scale even in float64; B0 at
64 px by 2e-5 to 8e-4 in float32, depending on torch's initialisation seed). Damped, every variant
agrees to ~1e-6 (ShuffleNet, which has no residual adds: ~1e-5) in float32 at 64 px, while a
wrong detail still shows: torchvision's B0 with BN epsilon 1e-3 instead of 1e-5 differs by ~1.
"""

import dataclasses

import pytest

import kerasnets
from kerasnets.applications._mobilenet_blocks import torch_block_rules
from kerasnets.applications._torch_names import exact, rename_rules
from kerasnets.weights import WeightsMismatchError, pretrained

RTOL = 1e-4


def _check(variant, input_size):
    """The variant against its registered torchvision original (torch's initialisation seeded,
    BatchNorm randomised, residual branches damped), after checking that their trainable
    parameter counts are equal; returns the relative differences."""
    from torch_equivalence import compare_with_torch, source_model, torch_param_count

    source, model = source_model(variant, seed=0)
    assert torch_param_count(model) == kerasnets.get_entry(variant).params
    diffs = compare_with_torch(variant, model, source=source, input_size=input_size)
    # every block with an active shortcut; ShuffleNet has no residual adds
    assert diffs.damped == sum(getattr(m, "use_res_connect", False) for m in model.modules())
    assert diffs.damped or variant.startswith("shufflenet")
    assert len(diffs) > 1, f"{variant}: no stage tap was compared"
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= RTOL, f"{variant}: {worst} differs by {diffs[worst]:.3g}; {diffs}"
    return diffs


def _slow(*names):
    return [pytest.param(name, marks=pytest.mark.slow) for name in names]


# default suite: one variant per family, 64 px
def test_mobilenet_v2_tv_is_torchvision_mobilenet_v2():
    _check("mobilenet_v2_tv", 64)


def test_mobilenet_v3_small_tv_is_torchvision_mobilenet_v3_small():
    _check("mobilenet_v3_small_tv", 64)


def test_shufflenet_v2_x0_5_is_torchvision_shufflenet_v2_x0_5():
    _check("shufflenet_v2_x0_5", 64)


def test_efficientnet_b0_tv_is_torchvision_efficientnet_b0():
    _check("efficientnet_b0_tv", 64)


@pytest.mark.slow
def test_mobilenet_v3_large_tv_is_torchvision_mobilenet_v3_large():
    _check("mobilenet_v3_large_tv", 64)


@pytest.mark.parametrize("variant", _slow("shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                                          "shufflenet_v2_x2_0"))
def test_shufflenet_v2(variant):
    _check(variant, 64)


@pytest.mark.parametrize("variant", _slow(*(f"efficientnet_b{i}_tv" for i in range(1, 8)),
                                          "efficientnet_v2_s_tv", "efficientnet_v2_m_tv",
                                          "efficientnet_v2_l_tv"))
def test_efficientnet(variant):
    _check(variant, 64)


# what the torch variants promise without running torch
def test_torchvision_names_find_their_variants():
    expected = {"mobilenet_v2": "mobilenet_v2_tv", "mobilenet_v3_large": "mobilenet_v3_large_tv",
                "mobilenet_v3_small": "mobilenet_v3_small_tv",
                "shufflenet_v2_x1_5": "shufflenet_v2_x1_5", "efficientnet_b3": "efficientnet_b3_tv",
                "efficientnet_v2_m": "efficientnet_v2_m_tv"}
    assert {name: pretrained.variant_for("torchvision", name) for name in expected} == expected
    # keras.applications twins keep keras' weights and preprocessing; the ports take torch's
    assert not pretrained.torch_weights("mobilenet_v2")
    assert kerasnets.get_entry("mobilenet_v3_large").preprocessing == "raw"
    assert kerasnets.get_entry("mobilenet_v3_large_tv").preprocessing == "torch"
    assert kerasnets.get_entry("efficientnet_b0_tv").preprocessing == "torch"
    assert kerasnets.get_entry("efficientnet_v2_l_tv").preprocessing == "tf"  # ported, mean=std=0.5


def test_torch_variants_have_no_rescaling_and_pad_symmetrically():
    keras_model = kerasnets.create_model("mobilenet_v3_small", input_shape=(64, 64, 3))
    torch_model = kerasnets.create_model("mobilenet_v3_small_tv", input_shape=(64, 64, 3))
    assert "stem_rescaling" in [layer.name for layer in keras_model.layers]
    assert "stem_rescaling" not in [layer.name for layer in torch_model.layers]
    # a 3x3/2 depthwise on a 32x32 map: keras pads (0, 1), PyTorch (1, 1)
    assert keras_model.get_layer("stage2_block1_dw_pad").padding == ((0, 1), (0, 1))
    assert torch_model.get_layer("stage2_block1_dw_pad").padding == ((1, 1), (1, 1))
    b0 = kerasnets.create_model("efficientnet_b0_tv", input_shape=(64, 64, 3))
    assert b0.get_layer("stem_pad").padding == ((1, 1), (1, 1))
    assert b0.get_layer("stage3_block1_dw_pad").padding == ((2, 2), (2, 2))  # 5x5/2
    assert b0.get_layer("stage1_block1_dw_bn").epsilon == 1e-5  # B5-B7 and V2: 1e-3
    from kerasnets.applications.efficientnet_tv import VARIANTS

    assert {name: v.spec.bn_epsilon for name, v in VARIANTS.items()
            if v.spec.bn_epsilon != 1e-5} == {name: 1e-3 for name in (
                "efficientnet_b5_tv", "efficientnet_b6_tv", "efficientnet_b7_tv",
                "efficientnet_v2_s_tv", "efficientnet_v2_m_tv", "efficientnet_v2_l_tv")}


def test_torch_variants_fix_their_options():
    with pytest.raises(ValueError, match="fixes padding='torch'"):
        kerasnets.create_model("mobilenet_v2_tv", padding="keras")
    with pytest.raises(ValueError, match="padding must be one of"):
        kerasnets.create_model("mobilenet_v2", padding="reflect")
    with pytest.raises(ValueError, match="fixes head='conv'"):  # a field of the spec
        kerasnets.create_model("mobilenet_v3_small", head="linear")
    with pytest.raises(ValueError, match="head must be one of"):
        dataclasses.replace(kerasnets.get_entry("mobilenet_v3_small").spec, head="mlp")


def test_unknown_torch_module_is_named():
    rename = rename_rules(exact({"features.0.0": "stem_conv"}) + torch_block_rules(
        {"features.1": ("stage1_block1", ("dw", "project"))}))
    assert rename("features.1.block.1.1") == "stage1_block1_project_bn"
    assert rename("features.1.conv.0") == "stage1_block1_dw"
    assert rename("features.1.block.2.0") == "features.1.block.2.0"  # passed on to the converter
    import numpy as np

    from kerasnets.weights.convert import convert_state_dict

    model = kerasnets.create_model("efficientnet_b0_tv", input_shape=(32, 32, 3))
    with pytest.raises(WeightsMismatchError,
                       match=r"'features\.9\.block\.0\.0\.weight' maps to layer "
                             r"'features\.9\.block\.0\.0', which the model"):
        convert_state_dict(model, {"features.9.block.0.0.weight": np.zeros(1)},
                           pretrained.torch_mapping("efficientnet_b0_tv"))
