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
"""

from __future__ import annotations

import dataclasses
import functools

from kerasnets.applications._common import finish, gap_head, model_input, variant_builder
from kerasnets.applications._resnet_blocks import (ResNetSpec, basic_block, bottleneck_block,
                                                   residual_stages)
from kerasnets.layers import CeilModeMaxPooling2D, conv_bn_act
from kerasnets.registry import Paper

__all__ = ["SEResNet18", "SEResNet34", "SEResNet50", "SEResNet101", "SEResNet152", "SEResNeXt50",
           "SEResNeXt101", "SENet154"]

PAPER = Paper("Squeeze-and-Excitation Networks", "1709.01507", 2018)


@dataclasses.dataclass(frozen=True)
class SENetSpec(ResNetSpec):
    """A `ResNetSpec` (with `se_reduction`) plus the SENet-154 / Caffe layout choices."""

    deep_stem: bool = False  # three 3x3 convolutions (64, 64, stem_width) instead of the 7x7
    stride_on_3x3: bool = True  # False: stride on the first 1x1 (Caffe's SE-ResNet)
    reduce_factor: int = 0  # first 1x1 is `reduce_factor` x the stage's base width (0: = the 3x3)
    shortcut_kernel: int = 1  # kernel of the strided projection shortcuts
    dropout: float = 0.0  # before the classifier

    def __post_init__(self):
        super().__post_init__()
        if self.shortcut_kernel < 1 or self.shortcut_kernel % 2 == 0:
            raise ValueError(f"shortcut_kernel must be odd, got {self.shortcut_kernel}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")


def _se(block, depths, **kw) -> SENetSpec:
    return SENetSpec(block, depths, se_reduction=16, **kw)


R18, R34, R50, R101, R152 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)
_CADENE = "Cadene pretrainedmodels {} (osmr/imgclsmob's count of the port)"

# name: (builder, spec, trainable params at 1000 classes, source)
VARIANTS = {
    "seresnet18": ("SEResNet18", _se("basic", R18), 11_778_592, "osmr/imgclsmob seresnet18"),
    "seresnet34": ("SEResNet34", _se("basic", R34), 21_958_868, "osmr/imgclsmob seresnet34"),
    "seresnet50": ("SEResNet50", _se("bottleneck", R50, stride_on_3x3=False), 28_088_024,
                   _CADENE.format("se_resnet50")),
    "seresnet101": ("SEResNet101", _se("bottleneck", R101, stride_on_3x3=False), 49_326_872,
                    _CADENE.format("se_resnet101")),
    "seresnet152": ("SEResNet152", _se("bottleneck", R152, stride_on_3x3=False), 66_821_848,
                    _CADENE.format("se_resnet152")),
    "seresnext50_32x4d": ("SEResNeXt50", _se("bottleneck", R50, groups=32, width_per_group=4),
                          27_559_896, _CADENE.format("se_resnext50_32x4d")),
    "seresnext101_32x4d": ("SEResNeXt101", _se("bottleneck", R101, groups=32, width_per_group=4),
                           48_955_416, _CADENE.format("se_resnext101_32x4d")),
    "senet154": ("SENet154", _se("bottleneck", R152, stem_width=128, groups=64, width_per_group=4,
                                 deep_stem=True, reduce_factor=2, shortcut_kernel=3,
                                 dropout=0.2),
                 115_088_984, _CADENE.format("senet154")),
}


def _stem(x, spec: SENetSpec, conv):
    if spec.deep_stem:
        for i, width in enumerate((64, 64, spec.stem_width), start=1):
            x = conv(x, width, 3, strides=2 if i == 1 else 1, padding=1 if i == 1 else "same",
                     name=f"stem_{i}")
    else:
        x = conv(x, spec.stem_width, 7, strides=2, padding=3, name="stem")
    return CeilModeMaxPooling2D(3, strides=2, name="stem_pool")(x)


def _senet(spec: SENetSpec, *, include_top, weights, input_tensor, input_shape, pooling, classes,
           classifier_activation, name, default_shape, min_size):
    options = dict(use_bias=False, bn_epsilon=1e-5, kernel_initializer="he_normal")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = _stem(x, spec, functools.partial(conv_bn_act, **options))
    if spec.block == "basic":
        block = functools.partial(basic_block, shortcut="B", **options)
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
    """seresnext50_32x4d -> SE-ResNeXt-50 (32x4d)."""
    head, _, shape = variant.partition("_")
    for prefix, kind in (("seresnext", "SE-ResNeXt-"), ("seresnet", "SE-ResNet-"),
                         ("senet", "SENet-")):
        if head.startswith(prefix):
            return kind + head[len(prefix):] + (f" ({shape})" if shape else "")


_builders = {
    variant: variant_builder(builder, variant, _senet, spec, family="senet", paper=PAPER,
                             params=params, source=source, min_size=32, test_size=32,
                             doc=_label(variant))
    for variant, (builder, spec, params, source) in VARIANTS.items()
}
SEResNet18 = _builders["seresnet18"]
SEResNet34 = _builders["seresnet34"]
SEResNet50 = _builders["seresnet50"]
SEResNet101 = _builders["seresnet101"]
SEResNet152 = _builders["seresnet152"]
SEResNeXt50 = _builders["seresnext50_32x4d"]
SEResNeXt101 = _builders["seresnext101_32x4d"]
SENet154 = _builders["senet154"]
