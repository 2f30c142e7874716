"""The ResNet families against the PyTorch models whose checkpoints they load: torchvision's
ResNet / ResNeXt / Wide ResNet and timm's SE-ResNet(X)t / SENet-154 (legacy Cadene ports and
timm's own ResNet layout). Each mapped variant, with the torch model's weights converted, gives
the torch model's logits and stage outputs (`torch_equivalence`); one per family runs in the
default suite at 64 px, every other variant under `-m slow`."""

import pytest

from torch_equivalence import assert_matches_torch, importorskip, torch_param_count

torch, torchvision = importorskip("torch", "torchvision")

import kerasnets  # noqa: E402


def tv(name):
    return getattr(torchvision.models, name)(weights=None)


def test_resnet18_is_torchvision_resnet18():
    model = tv("resnet18")
    assert torch_param_count(model) == kerasnets.get_entry("resnet18").params
    assert_matches_torch("resnet18", model, source="torchvision", input_size=64)
