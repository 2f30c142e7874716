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

from kerasnets.applications._common import (GapHead, finish, gap_head, model_input,
                                             register_family)
from kerasnets.applications._resnet_blocks import (TORCH_MAPPING, ResNetSpec, post_norm,
                                                   preact_basic_block, residual_stages)
from kerasnets.applications.resnet import _resnet
from kerasnets.layers import conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.records import Transform, torchvision_checkpoint

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
            "torchvision wide_resnet50_2", options={"version": "1.5"},
            aliases=("timm/wide_resnet50_2",)),
    Variant("wide_resnet101_2", "WideResNet101_2",
            ResNetSpec("bottleneck", (3, 4, 23, 3), width_per_group=128), 126_886_696,
            "torchvision wide_resnet101_2", options={"version": "1.5"},
            aliases=("timm/wide_resnet101_2",)),
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
# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "wide_resnet101_2": (
        torchvision_checkpoint("wide_resnet101_2", "IMAGENET1K_V2",
            "wide_resnet101_2-d733dc28.pth", Transform(224, 232), top1=82.51, top5=96.02,
            size_mb=484.747,
            note="torchvision's new training recipe; IMAGENET1K_V1 is "
                 "wide_resnet101_2-32ee1156.pth (load it by path)"),
    ),
    "wide_resnet50_2": (
        torchvision_checkpoint("wide_resnet50_2", "IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth",
            Transform(224, 232), top1=81.602, top5=95.758, size_mb=263.124,
            note="torchvision's new training recipe; IMAGENET1K_V1 is "
                 "wide_resnet50_2-95faca4d.pth (load it by path)"),
    ),
}

IMAGENET_VARIANTS = register_family(
    globals(), _resnet, _IMAGENET_TABLE, family="wide_resnet", paper=PAPER, head=GapHead(),
    min_size=32,
    test_size=32,
    doc=lambda v: f"ImageNet Wide ResNet WRN-{v.name[11:].replace('_', '-')}-bottleneck",
    weights=WEIGHTS, torch_mapping=lambda variant: TORCH_MAPPING)
