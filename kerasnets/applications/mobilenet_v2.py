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
"""

from __future__ import annotations

import dataclasses

from kerasnets.applications._common import finish, gap_head, model_input, variant_builder
from kerasnets.applications._mobilenet_blocks import inverted_residual, make_divisible, stage_loop
from kerasnets.layers import conv_bn_act
from kerasnets.registry import Paper

__all__ = ["MobileNetV2"]

PAPER = Paper("MobileNetV2: Inverted Residuals and Linear Bottlenecks", "1801.04381", 2018)
BN = dict(bn_epsilon=1e-3, bn_momentum=0.999)


@dataclasses.dataclass(frozen=True)
class MobileNetV2Spec:
    stem_filters: int = 32
    # Table 2 rows: expansion t, output channels c, repeats n, stride s of the first repeat
    rows: tuple[tuple[int, int, int, int], ...] = (
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
        (6, 160, 3, 2), (6, 320, 1, 1))
    top_filters: int = 1280


# name: (builder, spec, trainable params at 1000 classes, source)
VARIANTS = {
    "mobilenet_v2": ("MobileNetV2", MobileNetV2Spec(), 3_504_872,
                     "keras.applications MobileNetV2: 3,538,984 parameters in all, of which "
                     "34,112 are BatchNorm moving statistics; paper Table 4: 3.4M (this count, "
                     "= torchvision's, is 3.50M)"),
}


def _mobilenet_v2(spec: MobileNetV2Spec, *, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, default_shape, min_size,
                  alpha=1.0):
    if alpha <= 0:
        raise ValueError(f"{name}: alpha must be > 0, got {alpha}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = conv_bn_act(x, make_divisible(spec.stem_filters * alpha), 3, strides=2, padding="same",
                    use_bias=False, activation="relu6", name="stem", **BN)
    blocks = [(t, c, s if i == 0 else 1)
              for t, c, n, s in spec.rows for i in range(n)]

    def block(x, t, c, stride, *, name):
        return inverted_residual(x, make_divisible(int(c * alpha)),
                                 expanded=t * x.shape[-1] if t != 1 else None, strides=stride,
                                 activation="relu6", name=name, **BN)

    x = stage_loop(x, blocks, block)
    top = make_divisible(spec.top_filters * alpha) if alpha > 1.0 else spec.top_filters
    x = conv_bn_act(x, top, 1, padding="valid", use_bias=False, activation="relu6", name="top",
                    **BN)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


_builders = {
    variant: variant_builder(builder, variant, _mobilenet_v2, spec, family="mobilenet_v2",
                             paper=PAPER, params=params, source=source, min_size=32,
                             test_size=32, keras_equivalent=builder, doc="MobileNetV2 1.0")
    for variant, (builder, spec, params, source) in VARIANTS.items()
}
MobileNetV2 = _builders["mobilenet_v2"]
