"""EfficientNetV2: "EfficientNetV2: Smaller Models and Faster Training" (Tan & Le, ICML 2021,
arXiv:2104.00298), Table 4 (EfficientNetV2-S) and the official configurations of B0-B3, S, M
and L (google/automl `efficientnetv2/effnetv2_configs.py`; Table 4 gives only S).

    V2-S (Table 4)   operator                      stride  channels  layers
    stem             Conv3x3                          2       24        1
    1                Fused-MBConv1, k3x3              1       24        2
    2                Fused-MBConv4, k3x3              2       48        4
    3                Fused-MBConv4, k3x3              2       64        4
    4                MBConv4, k3x3, SE0.25            2      128        6
    5                MBConv6, k3x3, SE0.25            1      160        9
    6                MBConv6, k3x3, SE0.25            2      256       15
    top              Conv1x1 & Pooling & FC           -     1280        1

Fused-MBConv (Fig. 2) replaces the 1x1 expansion and the depthwise convolution by one 3x3
convolution; it is used in the early stages. M and L add a seventh stage; B0-B3 scale a smaller
baseline with EfficientNet's (width, depth) coefficients, without the 10% rounding floor of v1.
BatchNorm momentum 0.9 (v1: 0.99), "same" padding throughout, swish, stochastic depth 0.2.

`EfficientNetV2B0..B3/S/M/L` hold keras.applications' weights in keras' order and give the same
outputs (tested). As in keras, `include_preprocessing=True` (keyword-only, default) puts the
input scaling in the model: B0-B3 with 3 channels rescale to [0, 1] and normalise with ImageNet's
mean and standard deviation (a `Normalization` without weights), otherwise inputs are mapped to
[-1, 1]. Two training-time settings follow the official code rather than keras (neither changes
a weight or an inference output): the classifier dropout per variant (0.3 for B2, B3 and M, 0.4
for L; keras uses 0.2 everywhere) and the stochastic depth schedule, whose rate grows as
`0.2 * b / blocks` with blocks counted after depth scaling (keras divides by the unscaled count,
so B1-B3's deepest blocks reach more than 0.2).
"""

from __future__ import annotations

import dataclasses
import functools

from keras import layers

from kerasnets.applications._common import (finish, gap_head, model_input, register_family,
                                            resolution_shape)
from kerasnets.applications.efficientnet import (BLOCKS, Stage, conv_bn_swish,
                                                 efficientnet_stages, mbconv_block, round_filters)
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.records import KERAS_URL, Published, Transform, keras_checkpoint

PAPER = Paper("EfficientNetV2: Smaller Models and Faster Training", "2104.00298", 2021)
BN_MOMENTUM = 0.9
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _table(*rows):
    """Rows (block, expand, kernel, stride, filters, repeats); SE 0.25 on the MBConv blocks."""
    return tuple(Stage(*row, se_ratio=0.25 if row[0] == "mbconv" else 0.0) for row in rows)


BASE = _table(  # B0-B3 baseline, stem 32
    ("fused", 1, 3, 1, 16, 1), ("fused", 4, 3, 2, 32, 2), ("fused", 4, 3, 2, 48, 2),
    ("mbconv", 4, 3, 2, 96, 3), ("mbconv", 6, 3, 1, 112, 5), ("mbconv", 6, 3, 2, 192, 8))
S = _table(  # Table 4, stem 24
    ("fused", 1, 3, 1, 24, 2), ("fused", 4, 3, 2, 48, 4), ("fused", 4, 3, 2, 64, 4),
    ("mbconv", 4, 3, 2, 128, 6), ("mbconv", 6, 3, 1, 160, 9), ("mbconv", 6, 3, 2, 256, 15))
M = _table(  # stem 24
    ("fused", 1, 3, 1, 24, 3), ("fused", 4, 3, 2, 48, 5), ("fused", 4, 3, 2, 80, 5),
    ("mbconv", 4, 3, 2, 160, 7), ("mbconv", 6, 3, 1, 176, 14), ("mbconv", 6, 3, 2, 304, 18),
    ("mbconv", 6, 3, 1, 512, 5))
L = _table(  # stem 32
    ("fused", 1, 3, 1, 32, 4), ("fused", 4, 3, 2, 64, 7), ("fused", 4, 3, 2, 96, 7),
    ("mbconv", 4, 3, 2, 192, 10), ("mbconv", 6, 3, 1, 224, 19), ("mbconv", 6, 3, 2, 384, 25),
    ("mbconv", 6, 3, 1, 640, 7))


@dataclasses.dataclass(frozen=True)
class EfficientNetV2Spec:
    stages: tuple[Stage, ...]
    stem_width: int
    resolution: int  # default (evaluation) input size
    dropout: float  # before the classifier (official configs)
    width: float = 1.0
    depth: float = 1.0
    normalization: str = "imagenet"  # input preprocessing: "imagenet" (B0-B3) or "inception"
    top_width: int = 1280


def _efficientnet_v2(spec: EfficientNetV2Spec, *, include_top, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name, default_shape,
                     min_size, drop_connect_rate=0.2, include_preprocessing=True):
    if not 0 <= drop_connect_rate < 1:
        raise ValueError(f"{name}: drop_connect_rate must be in [0, 1), got {drop_connect_rate}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    if include_preprocessing:
        if spec.normalization == "imagenet" and x.shape[-1] == 3:
            x = layers.Rescaling(1.0 / 255, name="stem_rescaling")(x)
            x = layers.Normalization(mean=list(IMAGENET_MEAN),
                                     variance=[s ** 2 for s in IMAGENET_STD], axis=-1,
                                     name="stem_normalization")(x)
        else:
            x = layers.Rescaling(1.0 / 128.0, offset=-1, name="stem_rescaling")(x)
    width = functools.partial(round_filters, width=spec.width, floor_90=False)
    x = conv_bn_swish(x, width(spec.stem_width), 3, strides=2, padding="same",
                      bn_momentum=BN_MOMENTUM, name="stem")
    blocks = {**BLOCKS, "mbconv": functools.partial(mbconv_block, explicit_pad=False)}
    x = efficientnet_stages(x, spec.stages, width=width, depth=spec.depth,
                            drop_connect_rate=drop_connect_rate, blocks=blocks,
                            bn_momentum=BN_MOMENTUM)
    x = conv_bn_swish(x, width(spec.top_width), 1, bn_momentum=BN_MOMENTUM, name="top")
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, dropout=spec.dropout)
    return finish(inputs, x, name=name, weights=weights)


# google/automl efficientnetv2/README.md: parameters as published (rounded)
README = {"B0": "7.1M", "B1": "8.1M", "B2": "10.1M", "B3": "14.4M", "S": "21.5M", "M": "54.1M",
          "L": "119.5M"}


def _source(v, total, frozen, note=""):
    return (f"keras.applications EfficientNetV2{v}: {total} parameters in all, of which {frozen} "
            f"are BatchNorm moving statistics; google/automl README: {README[v]}{note}")


# One record per variant, each keras' `builder` (default input: the official eval size);
# register_family (below) makes the builders and __all__.
_TABLE = [
    Variant("efficientnet_v2_b0", "EfficientNetV2B0", EfficientNetV2Spec(BASE, 32, 224, 0.2),
            7_139_704, _source("B0", "7,200,312", "60,608"),
            keras_equivalent="EfficientNetV2B0",
            aliases=("efficientnetv2b0", "timm/tf_efficientnetv2_b0")),
    Variant("efficientnet_v2_b1", "EfficientNetV2B1",
            EfficientNetV2Spec(BASE, 32, 240, 0.2, 1.0, 1.1), 8_141_052,
            _source("B1", "8,212,124", "71,072"),
            keras_equivalent="EfficientNetV2B1",
            aliases=("efficientnetv2b1", "timm/tf_efficientnetv2_b1")),
    Variant("efficientnet_v2_b2", "EfficientNetV2B2",
            EfficientNetV2Spec(BASE, 32, 260, 0.3, 1.1, 1.2), 10_096_086,
            _source("B2", "10,178,374", "82,288"),
            keras_equivalent="EfficientNetV2B2",
            aliases=("efficientnetv2b2", "timm/tf_efficientnetv2_b2")),
    Variant("efficientnet_v2_b3", "EfficientNetV2B3",
            EfficientNetV2Spec(BASE, 32, 300, 0.3, 1.2, 1.4), 14_358_406,
            _source("B3", "14,467,622", "109,216"),
            keras_equivalent="EfficientNetV2B3",
            aliases=("efficientnetv2b3", "timm/tf_efficientnetv2_b3")),
    Variant("efficientnet_v2_s", "EfficientNetV2S",
            EfficientNetV2Spec(S, 24, 384, 0.2, normalization="inception"), 21_458_488,
            _source("S", "21,612,360", "153,872"),
            keras_equivalent="EfficientNetV2S",
            aliases=("efficientnetv2s", "timm/tf_efficientnetv2_s")),
    Variant("efficientnet_v2_m", "EfficientNetV2M",
            EfficientNetV2Spec(M, 24, 480, 0.3, normalization="inception"), 54_139_356,
            _source("M", "54,431,388", "292,032"),
            keras_equivalent="EfficientNetV2M",
            aliases=("efficientnetv2m", "timm/tf_efficientnetv2_m")),
    Variant("efficientnet_v2_l", "EfficientNetV2L",
            EfficientNetV2Spec(L, 32, 480, 0.4, normalization="inception"), 118_515_272,
            _source("L", "119,027,848", "512,576",
                    " (unexplained: the official blocks, stem and head are these; its trainable "
                    "count is 118.5M)"),
            keras_equivalent="EfficientNetV2L",
            aliases=("efficientnetv2l", "timm/tf_efficientnetv2_l")),
]

# keras' EfficientNetV2s scale their input inside (module docstring): pixels in [0, 255].
# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "efficientnet_v2_b0": (
        keras_checkpoint("EfficientNetV2B0",
            Published("efficientnetv2-b0.h5", "efficientnetv2-b0_notop.h5",
                KERAS_URL + "efficientnet_v2/", "21ecbf6da12460d5c40bb2f29ceb2188",
                "893217f2bb855e2983157299931e43ff"),
            Transform(224, 256, normalization="raw"), top1=78.7, top5=94.3, size_mb=29),
    ),
    "efficientnet_v2_b1": (
        keras_checkpoint("EfficientNetV2B1",
            Published("efficientnetv2-b1.h5", "efficientnetv2-b1_notop.h5",
                KERAS_URL + "efficientnet_v2/", "069f0534ff22adf035c89e2d9547a9dc",
                "0e80663031ca32d657f9caa404b6ec37"),
            Transform(240, 274, normalization="raw"), top1=79.8, top5=95.0, size_mb=34),
    ),
    "efficientnet_v2_b2": (
        keras_checkpoint("EfficientNetV2B2",
            Published("efficientnetv2-b2.h5", "efficientnetv2-b2_notop.h5",
                KERAS_URL + "efficientnet_v2/", "424e49f28180edbde1e94797771950a7",
                "1dfe2e7a5d45b6632553a8961ea609eb"),
            Transform(260, 297, normalization="raw"), top1=80.5, top5=95.1, size_mb=42),
    ),
    "efficientnet_v2_b3": (
        keras_checkpoint("EfficientNetV2B3",
            Published("efficientnetv2-b3.h5", "efficientnetv2-b3_notop.h5",
                KERAS_URL + "efficientnet_v2/", "1f1fc43bd98a6e4fd8fdfd551e02c7a0",
                "f6abf7b5849ac99a89b50dd3fd532856"),
            Transform(300, 342, normalization="raw"), top1=82.0, top5=95.8, size_mb=59),
    ),
    "efficientnet_v2_l": (
        keras_checkpoint("EfficientNetV2L",
            Published("efficientnetv2-l.h5", "efficientnetv2-l_notop.h5",
                KERAS_URL + "efficientnet_v2/", "27e6d408b53c7ebc868fefa357689935",
                "b0b66b5c863aef5b46e8608fe1711615"),
            Transform(480, 548, normalization="raw"), top1=85.7, top5=97.5, size_mb=479),
    ),
    "efficientnet_v2_m": (
        keras_checkpoint("EfficientNetV2M",
            Published("efficientnetv2-m.h5", "efficientnetv2-m_notop.h5",
                KERAS_URL + "efficientnet_v2/", "a3bf6aa3276309f4fc6a34aa114c95cd",
                "1b8dc055df72dde80d614482840fe342"),
            Transform(480, 548, normalization="raw"), top1=85.3, top5=97.4, size_mb=220),
    ),
    "efficientnet_v2_s": (
        keras_checkpoint("EfficientNetV2S",
            Published("efficientnetv2-s.h5", "efficientnetv2-s_notop.h5",
                KERAS_URL + "efficientnet_v2/", "e1d88a8495beba45748fedd0cecbe016",
                "af0682fb74e8c54910f2d4393339c070"),
            Transform(384, 438, normalization="raw"), top1=83.9, top5=96.7, size_mb=88),
    ),
}

VARIANTS = register_family(
    globals(), _efficientnet_v2, _TABLE,
    input_shape=resolution_shape, family="efficientnet_v2", paper=PAPER,
    preprocessing="raw", min_size=32, test_size=32,
    doc=lambda v: f"EfficientNetV2-{v.builder[14:]}",
    weights=WEIGHTS)
