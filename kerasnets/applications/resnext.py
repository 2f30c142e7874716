"""ResNeXt: "Aggregated Residual Transformations for Deep Neural Networks" (Xie, Girshick, Dollar,
Tu & He, CVPR 2017, arXiv:1611.05431), Table 1, the equal-complexity settings of Table 2 and the
CIFAR networks of section 5.3 / Table 7.

ImageNet (Table 1): ResNet-50/101 whose bottlenecks aggregate C groups of width d ("C x d d"):

    stage (paper)  output   ResNeXt-50 (32x4d)                       ResNeXt-101
    stem (conv1)   112x112  7x7, 64, stride 2; 3x3 max-pool, stride 2
    1 (conv2)       56x56   [1x1, 128;  3x3, 128, C=32;  1x1, 256] x3   x3
    2 (conv3)       28x28   [1x1, 256;  3x3, 256, C=32;  1x1, 512] x4   x4
    3 (conv4)       14x14   [1x1, 512;  3x3, 512, C=32;  1x1,1024] x6   x23
    4 (conv5)        7x7    [1x1,1024;  3x3,1024, C=32;  1x1,2048] x3   x3
    head             1x1    global average pool, 1000-d fc, softmax

The grouped 3x3 is C * d wide in stage 1 and doubles with each stage. Table 2 keeps a conv2 block
at ~70k parameters (ResNeXt-50 at ~25M parameters, ~4.1 GFLOPs) while trading cardinality for width:
1x64d (= ResNet-50), 2x40d, 4x24d, 8x14d, 32x4d (grouped-conv widths 64, 80, 96, 112, 128).
Downsampling is a stride-2 3x3 in the first block of stages 2-4 (section 4), convolutions are
unbiased, BN epsilon 1e-5 and He initialisation: the official Torch code's layout, which is also
torchvision's (built by the ResNet family's generic builder with `version="1.5"`, fixed).

CIFAR (section 5.3): a 3x3, 64 convolution, three stages of three bottlenecks (outputs 256, 512,
1024; grouped 3x3 C * d wide with d = 64, 128, 256; stride 2 on the 3x3 of stages 2 and 3), global
average pooling and the classifier: ResNeXt-29 (9 blocks x 3 + 2 layers). The paper's CIFAR results
use pre-activation blocks, but its official code (facebookresearch/ResNeXt, models/resnext.lua)
builds post-activation ones, which its authors found better; these are built here (1x1 + BN
projection shortcuts where the width changes, unbiased convolutions). Table 7's 34.4M (8x64d) and
68.1M (16x64d) are the exact counts truncated to one decimal: 68,155,210 (osmr/imgclsmob's count
of the same network) would round to 68.2M.
"""

from __future__ import annotations

from kerasnets.applications._common import (GapHead, finish, gap_head, model_input,
                                             register_family)
from kerasnets.applications._resnet_blocks import (TORCH_MAPPING, ResNetSpec, bottleneck_block,
                                                   residual_stages)
from kerasnets.applications.resnet import _resnet
from kerasnets.layers import conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.records import Transform, timm_checkpoint, torchvision_checkpoint

PAPER = Paper("Aggregated Residual Transformations for Deep Neural Networks", "1611.05431", 2017)

R50, R101 = (3, 4, 6, 3), (3, 4, 23, 3)
_TABLE2 = ("exact count of Table 2's {} setting of ResNeXt-50 (torchvision layout); the paper "
           "gives every Table-2 setting ~25M parameters and ~4.1 GFLOPs")


def imagenet_spec(depths, cardinality, width) -> ResNetSpec:
    """ResNeXt "C x d d" for ImageNet: a grouped 3x3 of `cardinality` groups of `width` channels
    in stage 1 (doubling per stage)."""
    return ResNetSpec("bottleneck", depths, groups=cardinality, width_per_group=width)


def cifar_spec(cardinality, width=64, depth=29) -> ResNetSpec:
    """ResNeXt-`depth` for CIFAR: 3 stages of (depth - 2) / 9 bottlenecks, outputs 256/512/1024."""
    if depth < 11 or (depth - 2) % 9:
        raise ValueError(f"CIFAR ResNeXts have depth 9n + 2 (n >= 1), got {depth}.")
    n = (depth - 2) // 9
    return ResNetSpec("bottleneck", (n, n, n), widths=(64, 128, 256), stem_width=64,
                      groups=cardinality, width_per_group=width)


# ImageNet records (torchvision's v1.5 layout); register_family (below) makes the builders.
_IMAGENET_TABLE = [
    Variant("resnext50_32x4d", "ResNeXt50", imagenet_spec(R50, 32, 4), 25_028_904,
            "torchvision resnext50_32x4d; paper Table 1: 25.0M", options={"version": "1.5"},
            aliases=("timm/resnext50_32x4d",)),
    Variant("resnext50_2x40d", "ResNeXt50_2x40d", imagenet_spec(R50, 2, 40), 25_425_000,
            _TABLE2.format("2x40d"), options={"version": "1.5"}),
    Variant("resnext50_4x24d", "ResNeXt50_4x24d", imagenet_spec(R50, 4, 24), 25_292_968,
            _TABLE2.format("4x24d"), options={"version": "1.5"}),
    Variant("resnext50_8x14d", "ResNeXt50_8x14d", imagenet_spec(R50, 8, 14), 25_603_016,
            _TABLE2.format("8x14d"), options={"version": "1.5"}),
    Variant("resnext101_32x4d", "ResNeXt101", imagenet_spec(R101, 32, 4), 44_177_704,
            "Cadene pretrainedmodels resnext101_32x4d (port of the official Torch model), as "
            "counted by osmr/imgclsmob; timm: 44.18M", options={"version": "1.5"}),
    Variant("resnext101_32x8d", "ResNeXt101_32x8d", imagenet_spec(R101, 32, 8), 88_791_336,
            "torchvision resnext101_32x8d", options={"version": "1.5"},
            aliases=("timm/resnext101_32x8d",)),
    Variant("resnext101_64x4d", "ResNeXt101_64x4d", imagenet_spec(R101, 64, 4), 83_455_272,
            "torchvision resnext101_64x4d", options={"version": "1.5"},
            aliases=("timm/resnext101_64x4d",)),
]
# CIFAR records (10 classes, 32x32).
_CIFAR_TABLE = [
    Variant("resnext29_8x64d", "ResNeXt29_8x64d", cifar_spec(8), 34_426_698,
            "exact count of the official CIFAR code's layout (facebookresearch/ResNeXt); paper "
            "Table 7: 34.4M"),
    Variant("resnext29_16x64d", "ResNeXt29_16x64d", cifar_spec(16), 68_155_210,
            "osmr/imgclsmob resnext29_16x64d_cifar10 (the official code's layout); paper "
            "Table 7: 68.1M (68.16M truncated, not rounded)"),
]


def _resnext_cifar(spec: ResNetSpec, *, include_top, weights, input_tensor, input_shape, pooling,
                   classes, classifier_activation, name, default_shape, min_size):
    """The CIFAR ResNeXt of `spec` (post-activation, as the official code)."""
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = conv_bn_act(x, spec.stem_width, 3, use_bias=False, kernel_initializer="he_normal",
                    name="stem")

    def block(x, width, **kw):
        return bottleneck_block(x, width, groups=spec.groups, width_per_group=spec.width_per_group,
                                stride_on_3x3=True, **kw)

    x = residual_stages(x, spec, (1,) + (2,) * (len(spec.depths) - 1), block)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


def _label(variant):
    depth, shape = variant[7:].split("_")
    return f"ResNeXt-{depth} ({shape})"


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "resnext101_32x4d": (
        timm_checkpoint("resnext101_32x4d", "fb_ssl_yfcc100m_ft_in1k",
            Transform.from_crop(224, 0.875), top1=80.924, license="cc-by-nc-4.0",
            note="timm's default tag: Facebook's semi-supervised YFCC100M pre-training, ImageNet "
                 "fine-tuned"),
    ),
    "resnext101_32x8d": (
        torchvision_checkpoint("resnext101_32x8d", "IMAGENET1K_V2",
            "resnext101_32x8d-110c445d.pth", Transform(224, 232), top1=82.834, top5=96.228,
            size_mb=339.673,
            note="torchvision's new training recipe; IMAGENET1K_V1 is "
                 "resnext101_32x8d-8ba56ff5.pth (load it by path)"),
    ),
    "resnext101_64x4d": (
        torchvision_checkpoint("resnext101_64x4d", "IMAGENET1K_V1",
            "resnext101_64x4d-173b62eb.pth", Transform(224, 232), top1=83.246, top5=96.454,
            size_mb=319.318, note="torchvision's new training recipe"),
    ),
    "resnext50_32x4d": (
        torchvision_checkpoint("resnext50_32x4d", "IMAGENET1K_V2", "resnext50_32x4d-1a0047aa.pth",
            Transform(224, 232), top1=81.198, top5=95.34, size_mb=95.833,
            note="torchvision's new training recipe; IMAGENET1K_V1 is "
                 "resnext50_32x4d-7cdf4587.pth (load it by path)"),
    ),
}

IMAGENET_VARIANTS = register_family(
    globals(), _resnet, _IMAGENET_TABLE, family="resnext", paper=PAPER, head=GapHead(),
    min_size=32, test_size=32, doc=lambda v: _label(v.name),
    weights=WEIGHTS, torch_mapping=lambda variant: TORCH_MAPPING)
CIFAR_VARIANTS = register_family(
    globals(), _resnext_cifar, _CIFAR_TABLE, family="resnext", paper=PAPER,
    input_shape=(32, 32, 3), min_size=32, classes=10, test_size=32,
    doc=lambda v: f"CIFAR {_label(v.name)}")
