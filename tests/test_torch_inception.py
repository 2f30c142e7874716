"""timm's Inception-v4, Inception-ResNet-v2, legacy Xception and NASNet-A Large against the
kerasnets variants that load their checkpoints: the same logits and stage taps once the state
dict is converted (random weights, non-trivial BatchNorm), and the same parameter counts."""

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import kerasnets  # noqa: E402
from torch_equivalence import assert_matches_torch, torch_param_count  # noqa: E402
from kerasnets.weights import pretrained  # noqa: E402


def timm_model(name, **kwargs):
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kwargs)


def test_inception_v4_is_timm_inception_v4():
    model = timm_model("inception_v4")
    assert torch_param_count(model) == kerasnets.get_entry("inception_v4").params
    assert_matches_torch("inception_v4", model, source="timm", input_size=75)
    assert pretrained.variant_for("timm", "inception_v4") == "inception_v4"


def test_inception_resnet_v2_timm_is_timm_inception_resnet_v2():
    model = timm_model("inception_resnet_v2")
    assert torch_param_count(model) == kerasnets.get_entry("inception_resnet_v2_timm").params
    assert_matches_torch("inception_resnet_v2_timm", model, source="timm", input_size=75)
    assert pretrained.variant_for("timm", "inception_resnet_v2") == "inception_resnet_v2_timm"


def test_legacy_xception_is_timm_legacy_xception():
    """At 75 px the entry flow pools 35x35 and 18x18 maps: the even one tells PyTorch's padding
    from keras' "same"."""
    model = timm_model("legacy_xception")
    assert torch_param_count(model) == kerasnets.get_entry("legacy_xception").params
    assert_matches_torch("legacy_xception", model, source="timm", input_size=75)
    assert pretrained.variant_for("timm", "legacy_xception") == "legacy_xception"
