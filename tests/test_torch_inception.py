"""timm's Inception-v4, Inception-ResNet-v2, legacy Xception and NASNet-A Large against the
kerasnets variants that load their checkpoints: the same logits and stage taps once the state
dict is converted (random weights, non-trivial BatchNorm), and the same parameter counts."""

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import numpy as np  # noqa: E402

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
    assert torch_param_count(model) == kerasnets.get_entry("xception_timm").params
    assert_matches_torch("xception_timm", model, source="timm", input_size=75)
    assert pretrained.variant_for("timm", "legacy_xception") == "xception_timm"


def test_narrow_nasnetalarge_layout_and_mapping_match_timm():
    """timm's NASNet-A Large code at 96 penultimate filters and a stem of 8 (the full model is
    under -m slow): the same cells, padding and names as `nasnetalarge`, in seconds."""
    import dataclasses

    from kerasnets.applications import custom_model
    from kerasnets.applications.nasnet import VARIANTS

    spec = dataclasses.replace(VARIANTS["nasnet_large_timm"].spec, penultimate_filters=96,
                               stem_block_filters=8)
    model = custom_model(spec, like="nasnet_large_timm", input_shape=(32, 32, 3), classes=10,
                         classifier_activation=None, name="narrow_nasnetalarge")
    torch_model = timm_model("nasnetalarge", num_features=96, stem_size=8, num_classes=10)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert torch_param_count(torch_model) == trainable
    assert_matches_torch("nasnet_large_timm", torch_model, source="timm", input_size=32, model=model)


def test_nasnetalarge_counts_timm_nasnetalarge():
    model = timm_model("nasnetalarge", device="meta")  # shapes only: nothing is initialised
    assert torch_param_count(model) == kerasnets.get_entry("nasnet_large_timm").params
    assert pretrained.variant_for("timm", "nasnetalarge") == "nasnet_large_timm"


@pytest.mark.slow
def test_nasnetalarge_is_timm_nasnetalarge():
    assert_matches_torch("nasnet_large_timm", timm_model("nasnetalarge"), source="timm",
                         input_size=32)



@pytest.mark.parametrize("variant,timm_name", [
    ("inception_v4", "inception_v4"), ("inception_resnet_v2_timm", "inception_resnet_v2"),
    ("xception_timm", "legacy_xception"), ("nasnet_large_timm", "nasnetalarge")])
def test_registered_checkpoint_is_the_installed_timm_default(variant, timm_name):
    """The registered name, tag and address are the installed timm's default pretrained
    checkpoint's, and the variant takes its [-1, 1] input (timm's mean = std = 0.5)."""
    weights = pretrained.torch_weights(variant)[0]
    cfg = timm.models.get_pretrained_cfg(timm_name)
    assert (weights.model, weights.tag) == (timm_name, cfg.tag)
    hub = cfg.hf_hub_id and f"https://huggingface.co/{cfg.hf_hub_id.rstrip('/')}"
    if hub and hub.endswith("/timm"):
        hub += f"/{weights.model}.{weights.tag}"
    assert weights.url == (f"{hub}/resolve/main/model.safetensors" if hub else cfg.url)
    assert tuple(cfg.mean) == tuple(cfg.std) == (0.5, 0.5, 0.5)
    assert weights.preprocessing == kerasnets.get_entry(variant).preprocessing == "tf"


@pytest.mark.slow
@pytest.mark.parametrize("variant,timm_name,size", [
    ("inception_v4", "inception_v4", 299),
    ("inception_resnet_v2_timm", "inception_resnet_v2", 299),
    ("xception_timm", "legacy_xception", 299),
    ("nasnet_large_timm", "nasnetalarge", 331),
])
def test_equal_to_timm_at_the_checkpoint_size(variant, timm_name, size):
    assert_matches_torch(variant, timm_model(timm_name), source="timm", input_size=size)
