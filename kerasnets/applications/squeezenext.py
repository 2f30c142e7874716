"""SqueezeNext: "SqueezeNext: Hardware-Aware Neural Network Design" (Gholami et al., CVPR-W 2018,
arXiv:1803.10615), the 23-layer networks of Table 2 (1.0-, 1.5- and 2.0-SqNxt-23) as released in
the authors' Caffe definitions (github.com/amirgholami/SqueezeNext, `1.0-SqNxt-23` and
`2.0-SqNxt-23/train_val.prototxt`; 1.5 is not released and scaled the same way).

    stem      7x7/2 conv, 64 filters (no padding); 3x3/2 max-pool (ceil mode)
    stage 1   6 blocks,  32 channels               55x55 at the Caffe models' 227x227 input
    stage 2   6 blocks,  64 channels, stride 2     28x28
    stage 3   8 blocks, 128 channels, stride 2     14x14
    stage 4   1 block,  256 channels, stride 2      7x7
    top       1x1 conv to 128 channels; global average pool; fully connected (no bias)

Block (Figure 2), input width I, output width C: a two-stage squeeze, 1x1 convolutions to R then
R/2 with R = I/2 (I/4 where the block narrows, C < I; R = I in a strided block, whose first 1x1
carries the stride); a 3x1 and a 1x3 convolution (the separable 3x3) to R; a 1x1 expansion to C;
and a shortcut added before the final ReLU: a 1x1 convolution
(+ BN + ReLU, with the stride) in the first block of every stage (even where the widths match,
as in 2.0-SqNxt-23's first block), the identity elsewhere. Every convolution is unbiased and
followed by BatchNorm and ReLU. The separable pair alternates its order from block to block (3x1
first in odd blocks, 1x3 first in even ones), as in the Caffe definitions. The width multiplier
scales the four stage widths only: the released 2.0-SqNxt-23 keeps the 64-filter stem and the
128-channel top convolution.

Default input 224x224 (maps 54/27/14/7); the Caffe models crop 227x227.
"""

from __future__ import annotations

import dataclasses
import functools

from keras import layers

from kerasnets.applications._common import (finish, head_dtype, model_input, pool_features,
                                            register_family)
from kerasnets.layers import CeilModeMaxPooling2D, conv_bn_act
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("SqueezeNext: Hardware-Aware Neural Network Design", "1803.10615", 2018)


@dataclasses.dataclass(frozen=True)
class SqueezeNextSpec:
    depths: tuple[int, ...] = (6, 6, 8, 1)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    stem_width: int = 64
    top_width: int = 128
    width_multiplier: float = 1.0  # scales `widths` (not the stem or the top convolution)


_CAFFE = "exact count of the authors' Caffe definition {} (no convolution or FC biases)"

# One record per variant; register_family (below) makes the builders and __all__.
_TABLE = [
    Variant("squeezenext23_x1_0", "SqueezeNext23", SqueezeNextSpec(), 717_280,
            _CAFFE.format("1.0-SqNxt-23") + "; paper Table 2: 0.72M; "
            "osmr/imgclsmob's port adds biases: 724,056", retired=("squeezenext23_1x",)),
    Variant("squeezenext23_x1_5", "SqueezeNext23_x1_5", SqueezeNextSpec(width_multiplier=1.5),
            1_403_832, _CAFFE.format("of 2.0-SqNxt-23 with 1.5x instead of 2x "
                                     "stage widths (1.5 is not released)"),
            retired=("squeezenext23_1_5x", "SqueezeNext23_1_5x")),
    Variant("squeezenext23_x2_0", "SqueezeNext23_x2_0", SqueezeNextSpec(width_multiplier=2.0),
            2_361_728, _CAFFE.format("2.0-SqNxt-23"),
            retired=("squeezenext23_2x", "SqueezeNext23_2x")),
]


def sqnxt_block(x, filters, *, stride=1, project=False, separable_order="3x1", bn_epsilon=1e-5,
                name):
    """One SqueezeNext block (see the module docstring). Layers: `{name}_0_*` (projection
    shortcut when `project`, built first as in the Caffe model), `{name}_1_*` .. `{name}_5_*`
    (squeeze, squeeze, separable, separable, expand), `{name}_add`, `{name}_relu`."""
    if not project and (stride > 1 or x.shape[-1] != filters):
        raise ValueError(f"{name}: a strided or widening block needs the projection shortcut.")
    conv = functools.partial(conv_bn_act, use_bias=False, bn_epsilon=bn_epsilon)
    width = x.shape[-1]
    reduced = width if stride > 1 else width // (4 if width > filters else 2)
    if project:
        shortcut = conv(x, filters, 1, strides=stride, padding="valid", name=f"{name}_0")
    else:
        shortcut = x
    y = conv(x, reduced, 1, strides=stride, padding="valid", name=f"{name}_1")
    y = conv(y, reduced // 2, 1, padding="valid", name=f"{name}_2")
    kernels = [(3, 1), (1, 3)] if separable_order == "3x1" else [(1, 3), (3, 1)]
    y = conv(y, reduced, kernels[0], padding="same", name=f"{name}_3")
    y = conv(y, reduced, kernels[1], padding="same", name=f"{name}_4")
    y = conv(y, filters, 1, padding="valid", name=f"{name}_5")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_relu")(y)


def _squeezenext(spec: SqueezeNextSpec, *, include_top, weights, input_tensor, input_shape,
                 pooling, classes, classifier_activation, name, default_shape, min_size):
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    conv = functools.partial(conv_bn_act, use_bias=False, bn_epsilon=1e-5)
    x = conv(x, spec.stem_width, 7, strides=2, padding="valid", name="stem")
    x = CeilModeMaxPooling2D(3, strides=2, name="stem_pool")(x)
    for s, (depth, width) in enumerate(zip(spec.depths, spec.widths), start=1):
        for b in range(1, depth + 1):
            x = sqnxt_block(x, int(width * spec.width_multiplier),
                            stride=2 if b == 1 and s > 1 else 1, project=b == 1,
                            separable_order="3x1" if b % 2 else "1x3",
                            name=f"stage{s}_block{b}")
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = conv(x, spec.top_width, 1, padding="valid", name="top")
    if include_top:
        if classes is None or classes < 1:
            raise ValueError(f"classes must be a positive integer, got {classes!r}.")
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, use_bias=False, activation=classifier_activation,
                         name="predictions", dtype=head_dtype())(x)
    else:
        x = pool_features(x, pooling)
    return finish(inputs, x, name=name, weights=weights)


VARIANTS = register_family(
    globals(), _squeezenext, _TABLE, family="squeezenext", paper=PAPER, min_size=9,
    test_size=32, doc=lambda v: f"{v.spec.width_multiplier:.1f}-SqNxt-23")
