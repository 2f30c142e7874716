"""The ResNet families against the PyTorch models whose checkpoints they load: torchvision's
ResNet / ResNeXt / Wide ResNet and timm's SE-ResNet(X)t / SENet-154 (the legacy Cadene-layout
ports onto our Cadene-layout variants, timm's own ResNet layout onto the `*_timm` variants). With
the torch model's weights converted, each variant gives the torch model's logits and stage
outputs (`torch_equivalence`). The default suite runs ResNet-18 and legacy SE-ResNet-18 in full
and, for the other layouts (ResNeXt, Caffe-stride SE-ResNet, timm's SE-ResNet and deep-stem
SENet-154), the same code with one block per stage, all at 64 px; every mapped variant in full
runs under `-m slow`. The torch models are randomised as `torch_equivalence` does for every
family: BatchNorm made non-trivial, then the last BN of each residual branch (`bn3`, or `bn2` in
basic blocks) scaled by `DAMPING`; at full BN scale a random 100+-layer ResNet is chaotic
(torch's own float32 output differs from float64 by up to 0.4 in SE-ResNet-152's last stage)."""

import numpy as np
import pytest

from torch_equivalence import assert_matches_torch, importorskip, source_model, torch_param_count

torch, torchvision, timm = importorskip("torch", "torchvision", "timm")

import kerasnets  # noqa: E402
from kerasnets.weights import pretrained  # noqa: E402


def tv(name):
    return getattr(torchvision.models, name)(weights=None)


# the mapped variants by the source of their first registered checkpoint
TORCHVISION = ["resnet18", "resnet34", "resnet50_v1_5", "resnet101_v1_5", "resnet152_v1_5",
               "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
               "wide_resnet101_2"]
TIMM = ["resnext101_32x4d", "seresnet18_timm", "seresnet34_timm", "seresnet50", "seresnet101",
        "seresnet152", "seresnext50_32x4d", "seresnext101_32x4d", "senet154", "seresnet50_timm",
        "seresnext50_32x4d_timm", "seresnext101_32x4d_timm", "senet154_timm"]
DEFAULT_SUITE = {"resnet18", "seresnet18_timm"}


def shallow(variant):
    """(source, torch model, Keras logits model) of `variant`'s layout with one block per stage:
    the same code paths, stem, strides, shortcuts, SE and name mapping as the full variant, at a
    fraction of its cost (the full variants run under -m slow)."""
    import dataclasses

    from timm.models import resnet as timm_resnet
    from timm.models import senet as timm_senet
    from torchvision.models import resnet as tv_resnet

    from kerasnets.applications import custom_model, resnext, senet, wide_resnet

    one = (1, 1, 1, 1)
    se = dict(block_args=dict(attn_layer="se"))
    torch_models = {
        "resnext50_32x4d": lambda: tv_resnet.ResNet(tv_resnet.Bottleneck, one, groups=32,
                                                    width_per_group=4),
        "wide_resnet50_2": lambda: tv_resnet.ResNet(tv_resnet.Bottleneck, one,
                                                    width_per_group=128),
        "seresnet50": lambda: timm_senet.SENet(timm_senet.SEResNetBottleneck, one, groups=1,
                                               reduction=16),
        "senet154": lambda: timm_senet.SENet(timm_senet.SEBottleneck, one, groups=64,
                                             reduction=16, downsample_kernel_size=3,
                                             downsample_padding=1, inplanes=128,
                                             input_3x3=True),
        "seresnet50_timm": lambda: timm_resnet.ResNet(timm_resnet.Bottleneck, one, **se),
        "senet154_timm": lambda: timm_resnet.ResNet(
            timm_resnet.Bottleneck, one, cardinality=64, base_width=4, stem_type="deep",
            down_kernel_size=3, block_reduce_first=2, **se),
    }
    table = {**resnext.IMAGENET_VARIANTS, **wide_resnet.IMAGENET_VARIANTS, **senet.VARIANTS}
    spec = dataclasses.replace(table[variant].spec, depths=one)
    model = custom_model(spec, like=variant, input_shape=(64, 64, 3), classes=1000,
                         classifier_activation=None, name=f"{variant}_shallow")
    return pretrained.torch_weights(variant)[0].source, torch_models[variant](), model


SHALLOW = ["resnext50_32x4d", "seresnet50", "seresnet50_timm", "senet154_timm",
           pytest.param("wide_resnet50_2", marks=pytest.mark.slow),
           pytest.param("senet154", marks=pytest.mark.slow)]
# where the stride of a downsampling bottleneck sits: Caffe's (Cadene's) SE-ResNet on the first
# 1x1, timm's ResNet on the 3x3
STRIDED_CONV = {"seresnet50": "1", "seresnet50_timm": "2"}


def check(variant, input_size):
    source, model = source_model(variant)
    assert torch_param_count(model) == kerasnets.get_entry(variant).params
    diffs = assert_matches_torch(variant, model, source=source, input_size=input_size)
    assert diffs.damped == sum(len(getattr(model, f"layer{s}")) for s in range(1, 5))
    return diffs


def test_every_mapped_variant_is_listed():
    mapped = {v for v in kerasnets.list_models() if kerasnets.get_entry(v).family in
              ("resnet", "resnext", "wide_resnet", "senet") and pretrained.torch_weights(v)}
    assert mapped == set(TORCHVISION) | set(TIMM)
    for variant in TORCHVISION:
        assert pretrained.torch_weights(variant)[0].source == "torchvision"
    for variant in TIMM:
        assert pretrained.torch_weights(variant)[0].source == "timm"


@pytest.mark.parametrize("variant", sorted(DEFAULT_SUITE))
def test_matches_torch(variant):
    check(variant, 64)


@pytest.mark.parametrize("variant", SHALLOW)
def test_layout_matches_torch_one_block_per_stage(variant):
    source, torch_model, model = shallow(variant)
    assert torch_param_count(torch_model) == sum(int(np.prod(w.shape))
                                                 for w in model.trainable_weights)
    if variant in STRIDED_CONV:
        strided = {i: (2, 2) if i == STRIDED_CONV[variant] else (1, 1) for i in "12"}
        assert {i: getattr(torch_model.layer2[0], f"conv{i}").stride for i in "12"} == strided
        assert {i: model.get_layer(f"stage2_block1_{i}_conv").strides for i in "12"} == strided
    diffs = assert_matches_torch(variant, torch_model, source=source, input_size=64, model=model)
    assert diffs.damped == 4


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(set(TORCHVISION + TIMM) - DEFAULT_SUITE))
def test_matches_torch_slow(variant):
    diffs = check(variant, 64)
    worst = max(diffs, key=diffs.get)
    noise = diffs.noise.get(worst)
    print(variant, f"{worst} {diffs[worst]:.2e}" + (f" (torch float32 error {noise:.2e})"
                                                   if noise is not None else ""))


def test_legacy_and_timm_stem_pools_differ():
    """Cadene's unpadded ceil-mode pool and timm's padded pool give the same size at even inputs
    but different windows: the two layouts are different variants, not one."""
    from timm.models import resnet as timm_resnet
    from timm.models import senet as timm_senet

    from kerasnets.applications.senet import VARIANTS

    one = (1, 1, 1, 1)
    legacy = timm_senet.SENet(timm_senet.SEResNeXtBottleneck, one, groups=32, reduction=16)
    new = timm_resnet.ResNet(timm_resnet.Bottleneck, one, cardinality=32, base_width=4)
    assert (legacy.pool0.ceil_mode, legacy.pool0.padding) == (True, 0)
    assert (new.maxpool.ceil_mode, new.maxpool.padding) == (False, 1)
    assert VARIANTS["seresnext50_32x4d"].spec.stem_pool == "ceil"
    assert VARIANTS["seresnext50_32x4d_timm"].spec.stem_pool == "pad"


def test_variant_for_finds_the_layout():
    assert pretrained.variant_for("torchvision", "resnet50") == "resnet50_v1_5"
    assert pretrained.variant_for("timm", "legacy_seresnet50") == "seresnet50"
    assert pretrained.variant_for("timm", "seresnet50.a1_in1k") == "seresnet50_timm"
    assert pretrained.variant_for("timm", "senet154") == "senet154_timm"


def test_unmapped_module_is_named():
    """A torch module that no rule of the family table matches is reported by name."""
    from kerasnets.weights import WeightsMismatchError
    from kerasnets.weights.convert import load_torch_state_dict

    model = kerasnets.create_model("resnet18", input_shape=(32, 32, 3))
    state = {k: v.numpy() for k, v in tv("resnet18").state_dict().items()}
    state["layer1.0.extra.weight"] = state["fc.weight"]
    with pytest.raises(WeightsMismatchError, match="layer1.0.extra"):
        load_torch_state_dict(model, state, "torchvision")
