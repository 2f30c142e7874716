"""VGG: "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(Simonyan & Zisserman, ICLR 2015, arXiv:1409.1556), Table 1 configurations A, A-LRN, B, C, D, E.

All convolutions are 3x3 stride 1 "same" (configuration C ends stages 3-5 with a 1x1), each stage
ends in a 2x2/2 max-pool, then FC-4096, FC-4096 (dropout 0.5 on both, as in the paper) and the
classifier. `VGG16` and `VGG19` hold the same weights in the same order as keras.applications'
(tested: copied weights give identical outputs). `batch_norm=True` inserts BatchNorm after every
convolution (torchvision's `vgg*_bn`).

torchvision's `vgg11` ... `vgg19_bn` are these networks layer for layer (`features.{i}` ->
`stage{s}_block{b}_conv` / `_bn`, `classifier.{0,3,6}` -> `fc1`, `fc2`, `predictions`), and their
ImageNet checkpoints load through the mapping registered below (tested: equal logits). Their
AdaptiveAvgPool2d(7) before the flatten is the identity at 224x224 only, so with the top the
weights fit a 224x224 build; without the top any size. Configurations A-LRN and C have none.
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import FlattenHead, register_family
from kerasnets.applications._torch_names import rename_rules
from kerasnets.layers import LocalResponseNormalization
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import (Transform, keras_checkpoint, tf_kernels,
                                       torchvision_checkpoint)

PAPER = Paper("Very Deep Convolutional Networks for Large-Scale Image Recognition",
              "1409.1556", 2015)
WIDTHS = (64, 128, 256, 512, 512)


@dataclasses.dataclass(frozen=True)
class VGGSpec:
    kernels: tuple[tuple[int, ...], ...]  # per stage, the kernel size of each convolution
    lrn: bool = False  # configuration A-LRN: LRN after the first convolution
    batch_norm: bool = False


def _config(depths, last_1x1=False):
    return tuple(tuple([3] * (d - 1) + [1 if last_1x1 and s >= 2 else 3])
                 for s, d in enumerate(depths))


A, B, D, E = (1, 1, 2, 2, 2), (2, 2, 2, 2, 2), (2, 2, 3, 3, 3), (2, 2, 4, 4, 4)


def _tv(name, builder, depths, params, *, batch_norm=False, source=None, **fields):
    """A configuration as torchvision has it (and timm under the same name)."""
    return Variant(name, builder, VGGSpec(_config(depths), batch_norm=batch_norm), params,
                   source or f"torchvision {name}", aliases=(f"timm/{name}",), **fields)


# One record per variant; register_family (below) makes the builders and __all__.
_TABLE = [
    _tv("vgg11", "VGG11", A, 132_863_336),
    Variant("vgg11_lrn", "VGG11_LRN", VGGSpec(_config(A), lrn=True), 132_863_336,
            "= configuration A (LRN has no parameters); paper Table 2: 133M"),
    _tv("vgg13", "VGG13", B, 133_047_848),
    Variant("vgg16c", "VGG16C", VGGSpec(_config(D, last_1x1=True)), 133_638_952,
            "paper Table 2: 134M for configuration C; exact count of Table 1's layers"),
    _tv("vgg16", "VGG16", D, 138_357_544, source="keras.applications VGG16",
        keras_equivalent="VGG16", preprocessing="caffe"),
    _tv("vgg19", "VGG19", E, 143_667_240, source="keras.applications VGG19",
        keras_equivalent="VGG19", preprocessing="caffe"),
    _tv("vgg11_bn", "VGG11_BN", A, 132_868_840, batch_norm=True),
    _tv("vgg13_bn", "VGG13_BN", B, 133_053_736, batch_norm=True),
    _tv("vgg16_bn", "VGG16_BN", D, 138_365_992, batch_norm=True),
    _tv("vgg19_bn", "VGG19_BN", E, 143_678_248, batch_norm=True),
]


def _vgg(x, spec: VGGSpec, *, name):
    """The body: five stages of 3x3 (or 1x1) convolutions, each closed by a 2x2/2 max-pool."""
    for s, kernels in enumerate(spec.kernels, start=1):
        for b, k in enumerate(kernels, start=1):
            prefix = f"stage{s}_block{b}"
            x = layers.Conv2D(WIDTHS[s - 1], k, padding="same", use_bias=True,
                              name=f"{prefix}_conv")(x)
            if spec.batch_norm:
                x = layers.BatchNormalization(epsilon=1e-5, name=f"{prefix}_bn")(x)
            x = layers.Activation("relu", name=f"{prefix}_relu")(x)
            if spec.lrn and s == 1 and b == 1:
                x = LocalResponseNormalization(name=f"{prefix}_lrn")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"stage{s}_pool")(x)
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x


class VGGHead(FlattenHead):
    """FC-`fc_units`, FC-`fc_units` (dropout `dropout` on both), the classifier; with the top
    it needs a fixed input size."""

    def __call__(self, x, spec=None, *, classes, classifier_activation, fc_units=4096,
                 dropout=0.5):
        return FlattenHead((fc_units, fc_units), dropout)(
            x, spec, classes=classes, classifier_activation=classifier_activation)


_TV_NOTE = ("torchvision's AdaptiveAvgPool2d(7) is the identity at 224x224: with the top, build at "
            "224x224 (without it, any size)")
# torchvision's IMAGENET1K_V1 checkpoints (224 crop of 256): variant, file, top-1, top-5, MB
_TV_TABLE = (
    ("vgg11", "vgg11-8a719046.pth", 69.02, 88.628, 506.84),
    ("vgg11_bn", "vgg11_bn-6002323d.pth", 70.37, 89.81, 506.881),
    ("vgg13", "vgg13-19584684.pth", 69.928, 89.246, 507.545),
    ("vgg13_bn", "vgg13_bn-abd245e5.pth", 71.586, 90.374, 507.59),
    ("vgg16", "vgg16-397923af.pth", 71.592, 90.382, 527.796),
    ("vgg16_bn", "vgg16_bn-6c64b313.pth", 73.36, 91.516, 527.866),
    ("vgg19", "vgg19-dcbb9e9d.pth", 72.376, 90.876, 548.051),
    ("vgg19_bn", "vgg19_bn-c79401a0.pth", 74.218, 91.842, 548.143),
)
# keras.applications' checkpoints (the default where there is one): variant, keras name, the
# kernels' md5 with and without the top, top-1, top-5, MB
_KERAS_TABLE = (
    ("vgg16", "VGG16", "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc",
     71.3, 90.1, 528),
    ("vgg19", "VGG19", "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6",
     71.3, 90.0, 549),
)
# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {name: () for name, *_ in _TV_TABLE}
for name, app, top_md5, notop_md5, top1, top5, size_mb in _KERAS_TABLE:
    WEIGHTS[name] += (keras_checkpoint(app, tf_kernels(name, f"{name}/", top_md5, notop_md5),
                                       Transform(224, 256, normalization="caffe"), top1=top1,
                                       top5=top5, size_mb=size_mb),)
for name, file, top1, top5, size_mb in _TV_TABLE:
    WEIGHTS[name] += (torchvision_checkpoint(name, "IMAGENET1K_V1", file, Transform(224, 256),
                                             top1=top1, top5=top5, size_mb=size_mb,
                                             note=_TV_NOTE),)

VARIANTS = register_family(
    globals(), _vgg, _TABLE, family="vgg", paper=PAPER, head=VGGHead(), min_size=32, test_size=32,
    doc=lambda v: f"VGG configuration {v.name.upper()}",
    weights=WEIGHTS, torch_mapping=lambda variant: torch_mapping(variant.spec))


def torch_mapping(spec: VGGSpec) -> TorchMapping:
    """torchvision's VGG: `features` is one Sequential of conv, (BN,) ReLU per convolution and a
    max-pool per stage, so its indices follow from the spec; `classifier` is Linear, ReLU,
    Dropout, Linear, ReLU, Dropout, Linear."""
    rules, taps, index = [], {}, 0
    for s, kernels in enumerate(spec.kernels, start=1):
        for b in range(1, len(kernels) + 1):
            for part in ("conv", "bn") if spec.batch_norm else ("conv",):
                rules.append((rf"features\.{index}", f"stage{s}_block{b}_{part}"))
                index += 1
            index += 1  # ReLU
        taps[f"stage{s}_out"] = f"features.{index}"  # the stage's max-pool
        index += 1
    rules += [(r"classifier\.0", "fc1"), (r"classifier\.3", "fc2"),
              (r"classifier\.6", "predictions")]
    return TorchMapping(rename_rules(rules), taps=taps, head=("fc1", "fc2", "predictions"))
