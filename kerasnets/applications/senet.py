"""SENet: "Squeeze-and-Excitation Networks" (Hu, Shen, Albanie, Sun & Wu, CVPR 2018 / TPAMI,
arXiv:1709.01507), Table 1 (SE-ResNet-50, SE-ResNeXt-50 32x4d) and SENet-154.

A squeeze-and-excitation module (global average pool, FC to C/r with ReLU, FC back to C with a
sigmoid, channel-wise rescaling; r = 16) sits on the residual branch of every block, after its last
BN and before the addition (Fig. 3). The FCs are biased 1x1 convolutions (`{block}_se_reduce`,
`{block}_se_expand`), C // r wide, as in the released models.

The layout follows Cadene's pretrainedmodels `senet.py` (the PyTorch port of the authors' Caffe
models), which fixes the choices that the paper leaves open:

- stem: 7x7/2 convolution, 64 (SENet-154: three 3x3 convolutions 64 (stride 2), 64, 128), each
  + BN + ReLU, then a 3x3/2 max-pool in Caffe's ceil mode with no padding (`CeilModeMaxPooling2D`;
  the same output size as ResNet's padded pool for even inputs, different border values);
- convolutions unbiased, BN epsilon 1e-5, He initialisation; projection shortcuts + BN where the
  shape changes;
- SE-ResNet-50/101/152: stride 2 on the first 1x1 of a block (Caffe's ResNet), 1x1 shortcuts;
- SE-ResNeXt-50/101 (32x4d): ResNeXt bottlenecks (grouped 3x3 32 x 4d wide in stage 1, see
  `resnext`), stride on the 3x3, 1x1 shortcuts;
- SENet-154: ResNeXt-152-like (3, 8, 36, 3) bottlenecks of 64 groups whose 3x3 is 4x the stage's
  base width and whose first 1x1 is half that (2x), stride on the 3x3, 3x3/2 (padded) projection
  shortcuts in stages 2-4 (1x1 in stage 1), dropout 0.2 before the classifier.

SE-ResNet-18/34 (not in Cadene's set) are ResNet-18/34 basic blocks (torchvision layout) with the
same SE module and stem: the osmr/imgclsmob `seresnet18/34` counts. (timm's SE layers round the
hidden width up to a multiple of 8, 8 instead of 4 in stage 1, so its `seresnet18/34` differ.)
The Cadene-layout SE-ResNet-50/101/152, SE-ResNeXt-50/101 and SENet-154 load timm's `legacy_se*`
checkpoints (Cadene's ports) unchanged, layer for layer (tested). timm's `legacy_seresnet18/34`
blocks differ from the imgclsmob ones: a ReLU follows their second BN, before SE (same count), so
they are the variants `legacy_seresnet18/34`.

The `*_timm` variants are timm's own ResNet layout with SE (`seresnet50`, `seresnext50_32x4d`,
`seresnext101_32x4d`, `senet154` in timm's `resnet.py`): torchvision's ResNet plus the same SE
module (hidden width c // 16, a multiple of 8 for every bottleneck width), so they differ from the
Cadene layout only in the stem pool, a 3x3/2 max-pool padded by 1 (not Caffe's ceil mode), in
SE-ResNet-50's stride, which sits on the 3x3, and in SENet-154's classifier dropout (none). The
parameter counts are the same as Cadene's.
"""

from __future__ import annotations

import dataclasses
import functools

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from keras import layers

from kerasnets.applications._resnet_blocks import (TORCH_DEEP_STEM_MAPPING, TORCH_MAPPING,
                                                   ResNetSpec, basic_block, bottleneck_block,
                                                   residual_stages)
from kerasnets.layers import CeilModeMaxPooling2D, conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.records import TIMM_RELEASES, Transform, timm_checkpoint

PAPER = Paper("Squeeze-and-Excitation Networks", "1709.01507", 2018)


@dataclasses.dataclass(frozen=True)
class SENetSpec(ResNetSpec):
    """A `ResNetSpec` (with `se_reduction`) plus the SENet-154 / Caffe layout choices."""

    deep_stem: bool = False  # three 3x3 convolutions (64, 64, stem_width) instead of the 7x7
    stride_on_3x3: bool = True  # False: stride on the first 1x1 (Caffe's SE-ResNet)
    reduce_factor: int = 0  # first 1x1 is `reduce_factor` x the stage's base width (0: = the 3x3)
    shortcut_kernel: int = 1  # kernel of the strided projection shortcuts
    dropout: float = 0.0  # before the classifier
    stem_pool: str = "ceil"  # "ceil": Caffe's unpadded ceil-mode 3x3/2; "pad": padded 1 (timm)
    residual_relu: bool = False  # basic blocks: ReLU after the second BN, before SE (timm legacy)

    def __post_init__(self):
        super().__post_init__()
        if self.residual_relu and self.block != "basic":
            raise ValueError("residual_relu applies to basic blocks only.")
        if self.stem_pool not in ("ceil", "pad"):
            raise ValueError(f"stem_pool must be 'ceil' or 'pad', got {self.stem_pool!r}.")
        if self.shortcut_kernel < 1 or self.shortcut_kernel % 2 == 0:
            raise ValueError(f"shortcut_kernel must be odd, got {self.shortcut_kernel}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")


def _se(block, depths, **kw) -> SENetSpec:
    return SENetSpec(block, depths, se_reduction=16, **kw)


R18, R34, R50, R101, R152 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)
_CADENE = "Cadene pretrainedmodels {} (osmr/imgclsmob's count of the port)"
_TIMM = "timm {} (timm's ResNet layout with SE)"

# One record per variant; register_family (after _label) makes the builders and __all__.
_TABLE = [
    Variant("seresnet18", "SEResNet18", _se("basic", R18), 11_778_592, "osmr/imgclsmob seresnet18"),
    Variant("seresnet34", "SEResNet34", _se("basic", R34), 21_958_868, "osmr/imgclsmob seresnet34"),
    Variant("seresnet50", "SEResNet50", _se("bottleneck", R50, stride_on_3x3=False), 28_088_024,
            _CADENE.format("se_resnet50")),
    Variant("seresnet101", "SEResNet101", _se("bottleneck", R101, stride_on_3x3=False),
            49_326_872, _CADENE.format("se_resnet101")),
    Variant("seresnet152", "SEResNet152", _se("bottleneck", R152, stride_on_3x3=False),
            66_821_848, _CADENE.format("se_resnet152")),
    Variant("seresnext50_32x4d", "SEResNeXt50",
            _se("bottleneck", R50, groups=32, width_per_group=4), 27_559_896,
            _CADENE.format("se_resnext50_32x4d")),
    Variant("seresnext101_32x4d", "SEResNeXt101",
            _se("bottleneck", R101, groups=32, width_per_group=4), 48_955_416,
            _CADENE.format("se_resnext101_32x4d")),
    Variant("senet154", "SENet154",
            _se("bottleneck", R152, stem_width=128, groups=64, width_per_group=4, deep_stem=True,
                reduce_factor=2, shortcut_kernel=3, dropout=0.2),
            115_088_984, _CADENE.format("senet154")),
    # timm's legacy SE-ResNet-18/34: the Cadene-style SENet with basic blocks that apply a ReLU
    # after their second BN, before SE (not in the osmr/imgclsmob layout above)
    Variant("seresnet18_timm", "SEResNet18Timm", _se("basic", R18, residual_relu=True),
            11_778_592, "timm legacy_seresnet18",
            retired=("legacy_seresnet18", "LegacySEResNet18")),
    Variant("seresnet34_timm", "SEResNet34Timm", _se("basic", R34, residual_relu=True),
            21_958_868, "timm legacy_seresnet34",
            retired=("legacy_seresnet34", "LegacySEResNet34")),
    # timm's ResNet layout: padded stem pool, stride on the 3x3, no SENet-154 dropout
    Variant("seresnet50_timm", "SEResNet50Timm", _se("bottleneck", R50, stem_pool="pad"),
            28_088_024, _TIMM.format("seresnet50")),
    Variant("seresnext50_32x4d_timm", "SEResNeXt50Timm",
            _se("bottleneck", R50, groups=32, width_per_group=4, stem_pool="pad"), 27_559_896,
            _TIMM.format("seresnext50_32x4d")),
    Variant("seresnext101_32x4d_timm", "SEResNeXt101Timm",
            _se("bottleneck", R101, groups=32, width_per_group=4, stem_pool="pad"), 48_955_416,
            _TIMM.format("seresnext101_32x4d")),
    Variant("senet154_timm", "SENet154Timm",
            _se("bottleneck", R152, stem_width=128, groups=64, width_per_group=4, deep_stem=True,
                reduce_factor=2, shortcut_kernel=3, stem_pool="pad"),
            115_088_984, _TIMM.format("senet154")),
]


def _stem(x, spec: SENetSpec, conv):
    if spec.deep_stem:
        for i, width in enumerate((64, 64, spec.stem_width), start=1):
            x = conv(x, width, 3, strides=2 if i == 1 else 1, padding=1 if i == 1 else "same",
                     name=f"stem_{i}")
    else:
        x = conv(x, spec.stem_width, 7, strides=2, padding=3, name="stem")
    if spec.stem_pool == "pad":  # zero padding is -inf padding here: the input is post-ReLU
        x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
        return layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    return CeilModeMaxPooling2D(3, strides=2, name="stem_pool")(x)


def _senet(spec: SENetSpec, *, include_top, weights, input_tensor, input_shape, pooling, classes,
           classifier_activation, name, default_shape, min_size):
    options = dict(use_bias=False, bn_epsilon=1e-5, kernel_initializer="he_normal")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = _stem(x, spec, functools.partial(conv_bn_act, **options))
    if spec.block == "basic":
        block = functools.partial(basic_block, shortcut="B", residual_relu=spec.residual_relu,
                                  **options)
    else:
        def block(x, width, **kw):
            return bottleneck_block(x, width, groups=spec.groups,
                                    width_per_group=spec.width_per_group,
                                    stride_on_3x3=spec.stride_on_3x3,
                                    reduce_width=width * spec.reduce_factor or None,
                                    shortcut_kernel=spec.shortcut_kernel, **options, **kw)
    x = residual_stages(x, spec, (1,) + (2,) * (len(spec.depths) - 1), block)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, dropout=spec.dropout)
    return finish(inputs, x, name=name, weights=weights)


def _label(variant):
    """seresnext50_32x4d -> SE-ResNeXt-50 (32x4d); seresnet50_timm -> SE-ResNet-50, timm's ResNet
    layout; seresnet18_timm -> SE-ResNet-18, timm's legacy block."""
    base, suffix = variant, ""
    if base.endswith("_timm"):
        base, suffix = base[:-5], ", timm's ResNet layout"
        if base in ("seresnet18", "seresnet34"):  # timm's legacy_seresnet18 / 34
            suffix = ", timm's legacy block (ReLU before SE)"
    head, _, shape = base.partition("_")
    for prefix, kind in (("seresnext", "SE-ResNeXt-"), ("seresnet", "SE-ResNet-"),
                         ("senet", "SENet-")):
        if head.startswith(prefix):
            return kind + head[len(prefix):] + (f" ({shape})" if shape else "") + suffix
    raise ValueError(f"no label for {variant!r}")


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "seresnet18_timm": (
        timm_checkpoint("legacy_seresnet18", "in1k",
            Transform.from_crop(224, 0.875, interpolation="bicubic"), top1=71.766,
            url=TIMM_RELEASES + "v0.1-weights/seresnet18-4bb0ce65.pth",
            note="timm's legacy SE-ResNet-18"),
    ),
    "seresnet34_timm": (
        timm_checkpoint("legacy_seresnet34", "in1k", Transform.from_crop(224, 0.875), top1=74.808,
            url=TIMM_RELEASES + "v0.1-weights/seresnet34-a4004e63.pth",
            note="timm's legacy (Cadene-layout) port"),
    ),
    "senet154": (
        timm_checkpoint("legacy_senet154", "in1k", Transform.from_crop(224, 0.875), top1=81.308,
            url=TIMM_RELEASES + "v0.1-weights/legacy_senet154-e9eb9fe6.pth",
            note="timm's legacy (Cadene-layout) port"),
    ),
    "senet154_timm": (
        timm_checkpoint("senet154", "gluon_in1k",
            Transform.from_crop(224, 0.875, interpolation="bicubic"), top1=81.226,
            note="Gluon weights"),
    ),
    "seresnet101": (
        timm_checkpoint("legacy_seresnet101", "in1k", Transform.from_crop(224, 0.875), top1=78.386,
            url=TIMM_RELEASES + "v0.1-cadene/se_resnet101-7e38fcc6.pth",
            note="timm's legacy (Cadene-layout) port"),
    ),
    "seresnet152": (
        timm_checkpoint("legacy_seresnet152", "in1k", Transform.from_crop(224, 0.875), top1=78.66,
            url=TIMM_RELEASES + "v0.1-cadene/se_resnet152-d17c99b7.pth",
            note="timm's legacy (Cadene-layout) port"),
    ),
    "seresnet50": (
        timm_checkpoint("legacy_seresnet50", "in1k", Transform.from_crop(224, 0.875), top1=77.644,
            url=TIMM_RELEASES + "v0.1-cadene/se_resnet50-ce0d4300.pth",
            note="timm's legacy (Cadene-layout) port"),
    ),
    "seresnet50_timm": (
        timm_checkpoint("seresnet50", "a1_in1k",
            Transform.from_crop(288, 1.0, interpolation="bicubic"), top1=81.102,
            note="timm's default tag"),
    ),
    "seresnext101_32x4d": (
        timm_checkpoint("legacy_seresnext101_32x4d", "in1k", Transform.from_crop(224, 0.875),
            top1=80.23, url=TIMM_RELEASES + "v0.1-weights/legacy_se_resnext101_32x4d-37725eac.pth",
            note="timm's legacy (Cadene-layout) port"),
    ),
    "seresnext101_32x4d_timm": (
        timm_checkpoint("seresnext101_32x4d", "gluon_in1k",
            Transform.from_crop(224, 0.875, interpolation="bicubic"), top1=80.892,
            note="Gluon weights"),
    ),
    "seresnext50_32x4d": (
        timm_checkpoint("legacy_seresnext50_32x4d", "in1k", Transform.from_crop(224, 0.875),
            top1=79.076, url=TIMM_RELEASES + "v0.1-weights/legacy_se_resnext50_32x4d-f3651bad.pth",
            note="timm's legacy (Cadene-layout) port"),
    ),
    "seresnext50_32x4d_timm": (
        timm_checkpoint("seresnext50_32x4d", "racm_in1k",
            Transform.from_crop(288, 0.95, interpolation="bicubic"), top1=82.196),
    ),
}

VARIANTS = register_family(
    globals(), _senet, _TABLE, family="senet", paper=PAPER, min_size=32, test_size=32,
    doc=lambda v: _label(v.name),
    weights=WEIGHTS,
    torch_mapping=lambda v: TORCH_DEEP_STEM_MAPPING if v.spec.deep_stem else TORCH_MAPPING)
