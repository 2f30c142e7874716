"""Wide ResNets: "Wide Residual Networks" (Zagoruyko & Komodakis, BMVC 2016, arXiv:1605.07146).

CIFAR, Table 1 (WRN-d-k: depth d = 6N + 4, widening factor k; pre-activation B(3,3) blocks):

    group   output   layers
    conv1   32x32    3x3 conv, 16
    conv2   32x32    N x [3x3, 16k;  3x3, 16k]   (first block projects 16 -> 16k)
    conv3   16x16    N x [3x3, 32k;  3x3, 32k]   (first block stride 2)
    conv4    8x8     N x [3x3, 64k;  3x3, 64k]   (first block stride 2)
    head             BN-ReLU, 8x8 average pool, fc

Each block is BN-ReLU-conv3x3-[dropout]-BN-ReLU-conv3x3 (all convolutions unbiased); where the
shape changes the shortcut is a 1x1 convolution of the pre-activated input. WRN-28-10 (N = 4,
k = 10) has 36.5M parameters (paper, Table 4); `dropout` (keyword-only, default 0) is the
"WRN-28-10-dropout" option of section 2.4 / Table 6 (the paper uses 0.3 on CIFAR).

ImageNet, section 3 / Table 7: WRN-50-2-bottleneck is ResNet-50 whose bottlenecks are twice as
wide inside (the 3x3 and the 1x1s around it; block outputs unchanged), built by the ResNet family
with `width_per_group=128` and torchvision's layout (v1.5: unbiased, stride on the 3x3).
"""

from __future__ import annotations

import functools

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.applications._resnet_blocks import (TORCH_MAPPING, ResNetSpec, post_norm,
                                                   preact_basic_block, residual_stages)
from kerasnets.applications.resnet import _V2, TV_URL, _resnet
from kerasnets.layers import conv_bn_act
from kerasnets.registry import Paper, Variant
from kerasnets.weights.pretrained import TorchWeights, register_torch_weights

PAPER = Paper("Wide Residual Networks", "1605.07146", 2016)


def wrn_spec(depth: int, k: int) -> ResNetSpec:
    """WRN-`depth`-`k` for CIFAR: 3 groups of (depth - 4) / 6 blocks, 16k/32k/64k wide."""
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"CIFAR Wide ResNets have depth 6N + 4 (N >= 1), got {depth}.")
    n = (depth - 4) // 6
    return ResNetSpec("basic", (n, n, n), widths=(16 * k, 32 * k, 64 * k), stem_width=16)


# CIFAR (10 classes, 32x32) and ImageNet records; register_family (below) makes the builders.
_CIFAR_TABLE = [
    Variant("wide_resnet28_10", "WideResNet28_10", wrn_spec(28, 10), 36_479_194,
            "imgclsmob (osmr) wrn28_10_cifar10; paper Table 4: 36.5M"),
]
_IMAGENET_TABLE = [
    Variant("wide_resnet50_2", "WideResNet50_2",
            ResNetSpec("bottleneck", (3, 4, 6, 3), width_per_group=128), 68_883_240,
            "torchvision wide_resnet50_2", options={"version": "1.5"}),
    Variant("wide_resnet101_2", "WideResNet101_2",
            ResNetSpec("bottleneck", (3, 4, 23, 3), width_per_group=128), 126_886_696,
            "torchvision wide_resnet101_2", options={"version": "1.5"}),
]


def _wide_resnet(spec: ResNetSpec, *, include_top, weights, input_tensor, input_shape, pooling,
                 classes, classifier_activation, name, default_shape, min_size, dropout=0.0):
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout!r}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = conv_bn_act(x, spec.stem_width, 3, use_bias=False, batch_norm=False, activation=None,
                    kernel_initializer="he_normal", name="stem")
    block = functools.partial(preact_basic_block, dropout=dropout)
    x = residual_stages(x, spec, (1,) + (2,) * (len(spec.depths) - 1), block)
    x = post_norm(x, 1e-5)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


CIFAR_VARIANTS = register_family(
    globals(), _wide_resnet, _CIFAR_TABLE, family="wide_resnet", paper=PAPER,
    input_shape=(32, 32, 3), min_size=32, classes=10, test_size=32,
    doc=lambda v: f"CIFAR Wide ResNet WRN-{v.name[11:].replace('_', '-')}")
IMAGENET_VARIANTS = register_family(
    globals(), _resnet, _IMAGENET_TABLE, family="wide_resnet", paper=PAPER, min_size=32,
    test_size=32,
    doc=lambda v: f"ImageNet Wide ResNet WRN-{v.name[11:].replace('_', '-')}-bottleneck")


# PyTorch checkpoints: torchvision's DEFAULT weights (the ImageNet WRNs are torchvision's networks
# layer for layer, tested).
for _variant, _hash, _top1, _v1 in (("wide_resnet50_2", "9ba9bcbe", 81.602, "95faca4d"),
                                    ("wide_resnet101_2", "d733dc28", 82.510, "32ee1156")):
    register_torch_weights(_variant, TORCH_MAPPING, TorchWeights(
        "torchvision", _variant, url=TV_URL.format(_variant, _hash), sha256=_hash, top1=_top1,
        note=_V2.format(_variant, _v1)))
