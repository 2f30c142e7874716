"""What the MobileNet families share (mobilenet, mobilenet_v2, mobilenet_v3, and the EfficientNet
and ShuffleNet families that reuse their units): keras.applications' channel rounding and padding
rules, the depthwise convolution unit, the inverted residual block, the identity shortcut with
stochastic depth and the grouping of a block table into `stage{s}` by resolution.

Layer names, for a block called `name` (`stage{s}_block{b}`): `{name}_expand_*` (1x1 expansion),
`{name}_dw_*` (depthwise, with `{name}_dw_pad` before a strided one), `{name}_se_*`
(squeeze-excite), `{name}_project_*` (linear 1x1 projection) and `{name}_add` (residual).

Padding of strided convolutions (`padding=`): "keras" pads as keras.applications and TF "same"
(`correct_pad`: one pixel less on the top/left of even sides), "torch" pads `k // 2` on every side
as PyTorch's `Conv2d(padding=(k - 1) // 2)`. Output sizes are the same; the sampled pixels are
shifted by one on even inputs, so weights trained with one padding are only exact with it.
`torch_block_rules` maps torchvision's module paths of such blocks onto these names.
"""

from __future__ import annotations

import re

from keras import layers

from kerasnets.applications._common import correct_pad, head_dtype
from kerasnets.applications._torch_names import nested
from kerasnets.layers import conv_bn_act, squeeze_excite

PADDINGS = ("keras", "torch")


def check_padding(padding, model_name):
    if padding not in PADDINGS:
        raise ValueError(f"{model_name}: padding must be one of {PADDINGS}, got {padding!r}.")
    return padding


def strided_pad(x, kernel_size, padding):
    """The explicit padding before a strided "valid" convolution of `kernel_size`: keras'
    `correct_pad` or PyTorch's symmetric `k // 2`."""
    return correct_pad(x, kernel_size) if padding == "keras" else kernel_size // 2


def make_divisible(value, divisor=8, min_value=None):
    """Round `value` to the nearest multiple of `divisor`, never below `min_value` (default
    `divisor`) and never more than 10% below `value` (keras.applications' `_make_divisible` /
    `_depth`, the TF-slim rule used by MobileNet v2 and v3)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def depthwise_bn_act(x, kernel_size, *, strides=1, pad=None, depth_multiplier=1,
                     activation="relu6", bn_epsilon=1e-3, bn_momentum=0.99,
                     depthwise_initializer="glorot_uniform", name):
    """Depthwise convolution (no bias) + BatchNorm (+ activation): `{name}_conv`, `{name}_bn`,
    `{name}_{activation}`. A strided one is "valid" after `ZeroPadding2D(pad)` (`{name}_pad`;
    default `correct_pad`), as in keras.applications, or TF "same" where `pad="same"` (keras'
    EfficientNetV2); an unstrided one is "same"."""
    padding = "same"
    if strides > 1 and pad != "same":
        x = layers.ZeroPadding2D(correct_pad(x, kernel_size) if pad is None else pad,
                                 name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=padding,
                               depth_multiplier=depth_multiplier, use_bias=False,
                               depthwise_initializer=depthwise_initializer,
                               name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def inverted_residual(x, filters, *, expanded=None, kernel_size=3, strides=1,
                      activation="relu6", se_filters=0, bn_epsilon=1e-3, bn_momentum=0.999,
                      padding="keras", name):
    """MobileNet v2's inverted residual with linear bottleneck (Sandler et al., Fig. 3b / Table 1)
    and v3's variant with squeeze-excite (Howard et al., Fig. 4): 1x1 expansion to `expanded`
    channels (none when `expanded` is None), k x k depthwise (strided: `padding` "keras" or
    "torch"), optional SE with `se_filters` reduced channels and a hard-sigmoid gate, linear 1x1
    projection to `filters`; identity shortcut when the shape is unchanged. Layer creation order
    is keras.applications'."""
    shortcut = x
    norm = dict(bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    if expanded is not None:
        x = conv_bn_act(x, expanded, 1, padding="same", use_bias=False, activation=activation,
                        name=f"{name}_expand", **norm)
    x = depthwise_bn_act(x, kernel_size, strides=strides, activation=activation,
                         pad=strided_pad(x, kernel_size, padding) if strides > 1 else None,
                         name=f"{name}_dw", **norm)
    if se_filters:
        x = squeeze_excite(x, se_filters, activation="relu", gate="hard_sigmoid",
                           name=f"{name}_se")
    x = conv_bn_act(x, filters, 1, padding="same", use_bias=False, activation=None,
                    name=f"{name}_project", **norm)
    if strides == 1 and shortcut.shape[-1] == filters:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def residual_add(inputs, x, *, stride, drop_rate=0.0, name):
    """The identity shortcut of an inverted residual where the shape holds (stride 1, same
    width): stochastic depth on `x` (`{name}_drop`, one mask per sample, as keras' EfficientNet
    and torchvision's `StochasticDepth(mode="row")`), then `{name}_add`; else `x` unchanged."""
    if stride != 1 or inputs.shape[-1] != x.shape[-1]:
        return x
    if drop_rate > 0:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
    return layers.Add(name=f"{name}_add")([x, inputs])


def class_map_head(x, classes, classifier_activation, *, name, reshape=False):
    """The end of keras' convolutional MobileNet heads on a pooled 1x1 map: a 1x1 convolution to
    `classes` maps (`name`), `flatten` (or `reshape` where `reshape`: MobileNet v1) and the
    activation `predictions` (float32 under a mixed policy)."""
    x = layers.Conv2D(classes, 1, padding="same", name=name)(x)
    x = (layers.Reshape((classes,), name="reshape") if reshape
         else layers.Flatten(name="flatten"))(x)
    return layers.Activation(classifier_activation, name="predictions", dtype=head_dtype())(x)


def staged(strides):
    """`(stage, block)` numbers (from 1) for blocks with these strides: a stage starts at the
    first block and at every strided block, so each `stage{s}_out` closes one resolution."""
    numbers, stage, block = [], 0, 0
    for i, stride in enumerate(strides):
        if i == 0 or stride > 1:
            stage, block = stage + 1, 0
        block += 1
        numbers.append((stage, block))
    return numbers


def stage_loop(x, blocks, block_fn):
    """Run `block_fn(x, *row, name=...)` for each row of `blocks` (whose stride is `row[-1]`),
    closing each stage (see `staged`) with an Identity `stage{s}_out`."""
    numbers = staged([row[-1] for row in blocks])
    for i, (row, (s, b)) in enumerate(zip(blocks, numbers)):
        x = block_fn(x, *row, name=f"stage{s}_block{b}")
        if i + 1 == len(blocks) or numbers[i + 1][0] != s:
            x = layers.Identity(name=f"stage{s}_out")(x)
    return x


# torchvision's submodules of one block part -> kerasnets layer suffix: Conv2dNormActivation's
# conv and BN, SqueezeExcitation's two 1x1 convolutions, or a bare layer (MobileNetV2's project)
_TORCH_SUB = {"0": "_conv", "1": "_bn", "fc1": "_reduce", "fc2": "_expand", None: ""}


def torch_block_rules(blocks):
    """`_torch_names` rules for torchvision's inverted-residual blocks (MobileNetV2/V3,
    EfficientNet v1/v2): `blocks` maps a block's module path (`features.3` or `features.2.1`) to
    its kerasnets prefix and the names of its numbered parts, e.g. `("stage2_block1", ("expand",
    "dw", "se", "project"))`: `features.3.block.2.fc1` -> `stage2_block1_se_reduce`. MobileNetV2
    numbers its projection's convolution and BN as parts of their own (`project_conv`,
    `project_bn`)."""
    def part_rule(index, part):
        return (rf"{index}(?:\.(?P<sub>0|1|fc1|fc2))?",
                lambda match: f"{part}{_TORCH_SUB[match['sub']]}")

    return [rule for block, (prefix, parts) in blocks.items()
            for rule in nested(re.escape(block) + r"\.(?:block|conv)", prefix,
                               [part_rule(i, part) for i, part in enumerate(parts)])]
