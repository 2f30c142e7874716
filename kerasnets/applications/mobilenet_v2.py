"""MobileNetV2: "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (Sandler et al., CVPR
2018, arXiv:1801.04381), Table 2.

    input     operator          t    c     n   s        stage
    224^2x3   conv2d 3x3        -    32    1   2        stem
    112^2x32  bottleneck        1    16    1   1        1
    112^2x16  bottleneck        6    24    2   2        2
    56^2x24   bottleneck        6    32    3   2        3
    28^2x32   bottleneck        6    64    4   2        4
    14^2x64   bottleneck        6    96    3   1        4
    14^2x96   bottleneck        6    160   3   2        5
    7^2x160   bottleneck        6    320   1   1        5
    7^2x320   conv2d 1x1        -    1280  1   1        top
    7^2x1280  avgpool 7x7, 1x1 conv (= dense) to k classes

Each bottleneck (inverted residual, linear bottleneck) expands by t with a 1x1 convolution,
filters with a 3x3 depthwise convolution (stride s on the first of its n repeats), projects
linearly to c channels and adds the input when the shape is unchanged; BatchNorm everywhere,
ReLU6 after the expansion and the depthwise convolution. Stages group the table's rows by
resolution (a new `stage{s}` at every stride 2).

`MobileNetV2` holds keras.applications.MobileNetV2's weights in its order and shapes (tested).
Keyword option `alpha` (width multiplier): widths become `_make_divisible(c * alpha, 8)`, the
stem `_make_divisible(32 * alpha, 8)`, the last 1x1 convolution stays 1280 unless alpha > 1
(keras' and the paper's rule).

`mobilenet_v2_tv` is torchvision's `mobilenet_v2` (same layers and count): strided convolutions
padded by 1 on every side (`padding="torch"`; keras pads TF-"same"), BatchNorm epsilon 1e-5 and
momentum 0.9 (PyTorch's defaults; keras: 1e-3, 0.999) and dropout 0.2 before the classifier. It
loads torchvision's ImageNet weights (`kerasnets.weights.load_torch_state_dict`) and gives
torchvision's outputs (tests/test_torch_mobile.py). Options for any variant: `padding`
("keras" | "torch"), `bn_epsilon`, `bn_momentum`, `dropout_rate`.
"""

from __future__ import annotations

import dataclasses

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.applications._mobilenet_blocks import (check_padding, inverted_residual,
                                                      make_divisible, stage_loop, staged,
                                                      torch_block_rules)
from kerasnets.applications._torch_names import exact, rename_rules
from kerasnets.layers import conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import (KERAS_URL, Published, Transform, keras_checkpoint,
                                       torchvision_checkpoint)

PAPER = Paper("MobileNetV2: Inverted Residuals and Linear Bottlenecks", "1801.04381", 2018)
TORCHVISION_OPTIONS = dict(padding="torch", bn_epsilon=1e-5, bn_momentum=0.9, dropout_rate=0.2)


@dataclasses.dataclass(frozen=True)
class MobileNetV2Spec:
    stem_filters: int = 32
    # Table 2 rows: expansion t, output channels c, repeats n, stride s of the first repeat
    rows: tuple[tuple[int, int, int, int], ...] = (
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
        (6, 160, 3, 2), (6, 320, 1, 1))
    top_filters: int = 1280


# One record per variant; register_family (after _mobilenet_v2) makes the builders and __all__.
_TABLE = [
    Variant("mobilenet_v2", "MobileNetV2", MobileNetV2Spec(), 3_504_872,
            "keras.applications MobileNetV2: 3,538,984 parameters in all, of which 34,112 are "
            "BatchNorm moving statistics; paper Table 4: 3.4M (this count, = torchvision's, is "
            "3.50M)", keras_equivalent="MobileNetV2", preprocessing="tf"),
    Variant("mobilenet_v2_tv", "MobileNetV2TV", MobileNetV2Spec(), 3_504_872,
            "torchvision mobilenet_v2 (num_params 3,504,872)", options=TORCHVISION_OPTIONS,
            doc="MobileNetV2 1.0 (torchvision's padding and BatchNorm)",
            aliases=("timm/mobilenetv2_100",)),
]


def _blocks(spec: MobileNetV2Spec):
    """Table 2 expanded to one `(t, c, stride)` per block."""
    return [(t, c, s if i == 0 else 1) for t, c, n, s in spec.rows for i in range(n)]


def _mobilenet_v2(spec: MobileNetV2Spec, *, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, default_shape, min_size,
                  alpha=1.0, padding="keras", bn_epsilon=1e-3, bn_momentum=0.999,
                  dropout_rate=0.0):
    if alpha <= 0:
        raise ValueError(f"{name}: alpha must be > 0, got {alpha}.")
    if not 0 <= dropout_rate < 1:
        raise ValueError(f"{name}: dropout_rate must be in [0, 1), got {dropout_rate}.")
    check_padding(padding, name)
    norm = dict(bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = conv_bn_act(x, make_divisible(spec.stem_filters * alpha), 3, strides=2,
                    padding="same" if padding == "keras" else 1, use_bias=False,
                    activation="relu6", name="stem", **norm)

    def block(x, t, c, stride, *, name):
        return inverted_residual(x, make_divisible(int(c * alpha)),
                                 expanded=t * x.shape[-1] if t != 1 else None, strides=stride,
                                 activation="relu6", padding=padding, name=name, **norm)

    x = stage_loop(x, _blocks(spec), block)
    top = make_divisible(spec.top_filters * alpha) if alpha > 1.0 else spec.top_filters
    x = conv_bn_act(x, top, 1, padding="valid", use_bias=False, activation="relu6", name="top",
                    **norm)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, dropout=dropout_rate)
    return finish(inputs, x, name=name, weights=weights)


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "mobilenet_v2": (
        keras_checkpoint("MobileNetV2",
            Published("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}.h5",
                "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
                KERAS_URL + "mobilenet_v2/", sizes=(96, 128, 160, 192, 224)),
            Transform(224, 256, normalization="tf"), top1=71.3, top5=90.1, size_mb=14),
    ),
    "mobilenet_v2_tv": (
        torchvision_checkpoint("mobilenet_v2", "IMAGENET1K_V2", "mobilenet_v2-7ebf99e0.pth",
            Transform(224, 232), top1=72.154, top5=90.822, size_mb=13.598,
            note="IMAGENET1K_V1 (71.878%) is mobilenet_v2-b0353104.pth (load it by path)"),
    ),
}

VARIANTS = register_family(
    globals(), _mobilenet_v2, _TABLE, family="mobilenet_v2", paper=PAPER, min_size=32,
    test_size=32, doc=lambda v: "MobileNetV2 1.0",
    weights=WEIGHTS, torch_mapping=lambda variant: torch_mapping(variant.spec))


def torch_mapping(spec: MobileNetV2Spec) -> TorchMapping:
    """torchvision's `features.{i}` (stem 0, blocks 1..17, top 18) and `classifier.1`."""
    blocks = _blocks(spec)
    names = [f"stage{s}_block{b}" for s, b in staged([row[-1] for row in blocks])]
    parts = {f"features.{i}": (name, ("expand",) * (t != 1) + ("dw", "project_conv", "project_bn"))
             for i, (name, (t, _, _)) in enumerate(zip(names, blocks), start=1)}
    top = len(blocks) + 1
    fixed = {"features.0.0": "stem_conv", "features.0.1": "stem_bn",
             f"features.{top}.0": "top_conv", f"features.{top}.1": "top_bn",
             "classifier.1": "predictions"}
    taps = {f"{name.split('_')[0]}_out": f"features.{i}"  # a stage's last block
            for i, name in enumerate(names, start=1)}
    return TorchMapping(rename_rules(exact(fixed) + torch_block_rules(parts)), taps)
