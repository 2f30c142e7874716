"""ResNet: "Deep Residual Learning for Image Recognition" (He, Zhang, Ren & Sun, CVPR 2016,
arXiv:1512.03385), Table 1, ImageNet networks.

    stage (paper)  output   18-layer     34-layer     50-layer              101-layer  152-layer
    stem (conv1)   112x112  7x7, 64, stride 2; 3x3 max-pool, stride 2
    1 (conv2_x)     56x56   [3x3, 64]x2  [3x3, 64]x3  [1x1, 64;  3x3, 64;  1x1, 256]x3   x3   x3
    2 (conv3_x)     28x28   [3x3,128]x2  [3x3,128]x4  [1x1,128;  3x3,128;  1x1, 512]x4   x4   x8
    3 (conv4_x)     14x14   [3x3,256]x2  [3x3,256]x6  [1x1,256;  3x3,256;  1x1,1024]x6   x23  x36
    4 (conv5_x)      7x7    [3x3,512]x2  [3x3,512]x3  [1x1,512;  3x3,512;  1x1,2048]x3   x3   x3
    head             1x1    global average pool, 1000-d fc, softmax

Stages 2-4 downsample in their first block; shortcuts are identities, or 1x1 projections + BN
where the shape changes (option B). Two conventions, both exact reproductions of a published
count (`version`, keyword-only):

- `version="1"` (default): bottleneck networks follow keras.applications (stride 2 on the first
  1x1 of the block as in the paper, biases on every convolution, BN epsilon 1.001e-5, Glorot
  initialisation): `ResNet50/101/152` hold keras' weights in keras' order and give the same
  outputs (tested).
- `version="1.5"`: stride 2 on the 3x3 instead, no convolution biases, BN epsilon 1e-5, He
  initialisation (torchvision; also registered as `resnet{50,101,152}_v1_5`).

Basic-block networks (`ResNet18/34`) have no convolution biases and BN epsilon 1e-5 under both
versions (the stride is on the first 3x3 either way): torchvision's layout, whose 11,689,512 and
21,797,672 parameters are the published reference.
"""

from __future__ import annotations

from kerasnets.applications._common import GapHead, register_family
from kerasnets.applications._resnet_blocks import (TORCH_MAPPING, ResNetSpec, basic_block,
                                                   bottleneck_block, imagenet_stem,
                                                   residual_stages)
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.records import (Transform, keras_checkpoint, tf_kernels,
                                      torchvision_checkpoint)

PAPER = Paper("Deep Residual Learning for Image Recognition", "1512.03385", 2016)
VERSIONS = ("1", "1.5")

R18, R34, R50, R101, R152 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)
_KERAS = "keras.applications {}: {} parameters in all, of which {} are BatchNorm moving statistics"

# One record per variant; register_family (end of file) makes the builders and __all__.
_TABLE = [
    Variant("resnet18", "ResNet18", ResNetSpec("basic", R18), 11_689_512, "torchvision resnet18",
            aliases=("timm/resnet18",)),
    Variant("resnet34", "ResNet34", ResNetSpec("basic", R34), 21_797_672, "torchvision resnet34",
            aliases=("timm/resnet34",)),
    Variant("resnet50", "ResNet50", ResNetSpec("bottleneck", R50), 25_583_592,
            _KERAS.format("ResNet50", "25,636,712", "53,120"), keras_equivalent="ResNet50",
            preprocessing="caffe"),
    Variant("resnet101", "ResNet101", ResNetSpec("bottleneck", R101), 44_601_832,
            _KERAS.format("ResNet101", "44,707,176", "105,344"), keras_equivalent="ResNet101",
            preprocessing="caffe"),
    Variant("resnet152", "ResNet152", ResNetSpec("bottleneck", R152), 60_268_520,
            _KERAS.format("ResNet152", "60,419,944", "151,424"), keras_equivalent="ResNet152",
            preprocessing="caffe"),
    Variant("resnet50_v1_5", "ResNet50_V1_5", ResNetSpec("bottleneck", R50), 25_557_032,
            "torchvision resnet50", options={"version": "1.5"},
            aliases=("timm/resnet50",)),
    Variant("resnet101_v1_5", "ResNet101_V1_5", ResNetSpec("bottleneck", R101), 44_549_160,
            "torchvision resnet101", options={"version": "1.5"},
            aliases=("timm/resnet101",)),
    Variant("resnet152_v1_5", "ResNet152_V1_5", ResNetSpec("bottleneck", R152), 60_192_808,
            "torchvision resnet152", options={"version": "1.5"},
            aliases=("timm/resnet152",)),
]


def _resnet(x, spec: ResNetSpec, *, name, version="1"):
    """The body of the ImageNet ResNet of `spec` (also ResNeXt / Wide ResNet bottlenecks through
    `groups` and `width_per_group`)."""
    if version not in VERSIONS:
        raise ValueError(f"{name}: version must be one of {VERSIONS}, got {version!r}.")
    keras_style = spec.block == "bottleneck" and version == "1"
    options = dict(use_bias=keras_style, bn_epsilon=1.001e-5 if keras_style else 1e-5,
                   kernel_initializer="glorot_uniform" if keras_style else "he_normal")
    x = imagenet_stem(x, width=spec.stem_width, **options)
    if spec.block == "basic":
        def block(x, width, **kw):
            return basic_block(x, width, shortcut="B", **options, **kw)
    else:
        def block(x, width, **kw):
            return bottleneck_block(x, width, groups=spec.groups,
                                    width_per_group=spec.width_per_group,
                                    stride_on_3x3=version == "1.5", **options, **kw)
    return residual_stages(x, spec, (1,) + (2,) * (len(spec.depths) - 1), block)


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "resnet101": (
        keras_checkpoint("ResNet101",
            tf_kernels("resnet101", "resnet/", "f1aeb4b969a6efcfb50fad2f0c20cfc5",
                "88cf7a10940856eca736dc7b7e228a21"),
            Transform(224, 256, normalization="caffe"), top1=76.4, top5=92.8, size_mb=171),
    ),
    "resnet101_v1_5": (
        torchvision_checkpoint("resnet101", "IMAGENET1K_V2", "resnet101-cd907fc2.pth",
            Transform(224, 232), top1=81.886, top5=95.78, size_mb=170.53,
            note="torchvision's new training recipe; IMAGENET1K_V1 is resnet101-63fe2227.pth "
                 "(load it by path)"),
    ),
    "resnet152": (
        keras_checkpoint("ResNet152",
            tf_kernels("resnet152", "resnet/", "100835be76be38e30d865e96f2aaae62",
                "ee4c566cf9a93f14d82f913c2dc6dd0c"),
            Transform(224, 256, normalization="caffe"), top1=76.6, top5=93.1, size_mb=232),
    ),
    "resnet152_v1_5": (
        torchvision_checkpoint("resnet152", "IMAGENET1K_V2", "resnet152-f82ba261.pth",
            Transform(224, 232), top1=82.284, top5=96.002, size_mb=230.474,
            note="torchvision's new training recipe; IMAGENET1K_V1 is resnet152-394f9c45.pth "
                 "(load it by path)"),
    ),
    "resnet18": (
        torchvision_checkpoint("resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth",
            Transform(224, 256), top1=69.758, top5=89.078, size_mb=44.661),
    ),
    "resnet34": (
        torchvision_checkpoint("resnet34", "IMAGENET1K_V1", "resnet34-b627a593.pth",
            Transform(224, 256), top1=73.314, top5=91.42, size_mb=83.275),
    ),
    "resnet50": (
        keras_checkpoint("ResNet50",
            tf_kernels("resnet50", "resnet/", "2cb95161c43110f7111970584f804107",
                "4d473c1dd8becc155b73f8504c6f6626"),
            Transform(224, 256, normalization="caffe"), top1=74.9, top5=92.1, size_mb=98),
    ),
    "resnet50_v1_5": (
        torchvision_checkpoint("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth",
            Transform(224, 232), top1=80.858, top5=95.434, size_mb=97.79,
            note="torchvision's new training recipe; IMAGENET1K_V1 is resnet50-0676ba61.pth (load "
                 "it by path)"),
    ),
}

VARIANTS = register_family(
    globals(), _resnet, _TABLE, family="resnet", paper=PAPER, head=GapHead(), min_size=32,
    test_size=32,
    doc=lambda v: f"ResNet-{v.name[6:].replace('_v1_5', ' v1.5')}",
    weights=WEIGHTS, torch_mapping=lambda variant: TORCH_MAPPING)
