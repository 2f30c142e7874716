"""ShiftResNet for CIFAR: "Shift: A Zero FLOP, Zero Parameter Alternative to Spatial
Convolutions" (Wu, Wan, Yue, Jin, Zhao, Golmant, Gholaminejad, Gonzalez & Keutzer, CVPR 2018,
arXiv:1711.08141): the CIFAR-10/100 ShiftResNets and their parameter table (also in the authors'
alvinwan/shiftresnet-cifar README, whose PyTorch code this layout follows).

The CIFAR ResNet-(6n+2) (He et al., section 4.2: a 3x3, 16 stem, three stages of n blocks 16 /
32 / 64 wide, the last two starting with stride 2, global average pool, fc) with every basic
block's two 3x3 convolutions replaced by a conv-shift-conv (CSC) module:

    1x1 conv to E * width (+ BN + ReLU) -> 3x3 shift -> 1x1 conv to width (+ BN; stride 2 in a
    stage's first block) -> + shortcut -> ReLU

E is the expansion rate (`expansion`, keyword-only, default 6: ShiftResNet-20 / 56 with 0.19M /
0.58M parameters). Where the shape changes the shortcut is a 1x1 convolution + BN (the authors'
code), convolutions are unbiased. `kerasnets.layers.shift.Shift` holds the shift: no parameters,
no multiply-adds.

    expansion E               1      3      6      9      (millions of parameters, 10 classes)
    ShiftResNet-20            0.03   0.10   0.19   0.28
    ShiftResNet-56            0.10   0.29   0.58   0.87
    ShiftResNet-110           0.20   0.59   1.18   1.76
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.layers import conv_bn_act
from kerasnets.layers.shift import Shift
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Shift: A Zero FLOP, Zero Parameter Alternative to Spatial Convolutions",
              "1711.08141", 2018)
WIDTHS = (16, 32, 64)

# (depth, expansion): the table's parameter count, in millions, at 10 classes
TABLE = {(20, 1): "0.03", (20, 3): "0.10", (20, 6): "0.19", (20, 9): "0.28",
         (56, 1): "0.10", (56, 3): "0.29", (56, 6): "0.58", (56, 9): "0.87",
         (110, 1): "0.20", (110, 3): "0.59", (110, 6): "1.18", (110, 9): "1.76"}


@dataclasses.dataclass(frozen=True)
class ShiftResNetSpec:
    depth: int  # 6n + 2

    def __post_init__(self):
        if self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"CIFAR ShiftResNets have depth 6n + 2 (n >= 1), got {self.depth}.")

    @property
    def blocks(self) -> int:
        return (self.depth - 2) // 6


_SOURCE = "exact count of the CSC layout at E=6; paper / alvinwan/shiftresnet-cifar: {}M"

# One record per variant (params at 10 classes with E = 6); register_family (below) makes them.
_TABLE = [
    Variant("shiftresnet20", "ShiftResNet20", ShiftResNetSpec(20), 186_746,
            _SOURCE.format(TABLE[20, 6])),
    Variant("shiftresnet56", "ShiftResNet56", ShiftResNetSpec(56), 583_226,
            _SOURCE.format(TABLE[56, 6])),
]


def csc_block(x, filters, *, expansion, stride=1, kernel_size=3, name):
    """Conv-shift-conv residual block. Layers: `{name}_0_conv` / `{name}_0_bn` (projection
    shortcut, where the shape changes), `{name}_1_*` (1x1 expand + BN + ReLU), `{name}_shift`,
    `{name}_2_*` (1x1, strided, + BN), `{name}_add`, `{name}_relu`."""
    conv = dict(padding="valid", use_bias=False, kernel_initializer="he_normal")
    if stride == 1 and x.shape[-1] == filters:
        shortcut = x
    else:
        shortcut = conv_bn_act(x, filters, 1, strides=stride, activation=None, **conv,
                               name=f"{name}_0")
    y = conv_bn_act(x, int(filters * expansion), 1, **conv, name=f"{name}_1")
    y = Shift(kernel_size, name=f"{name}_shift")(y)
    y = conv_bn_act(y, filters, 1, strides=stride, activation=None, **conv, name=f"{name}_2")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_relu")(y)


def _shiftresnet(spec: ShiftResNetSpec, *, include_top, weights, input_tensor, input_shape,
                 pooling, classes, classifier_activation, name, default_shape, min_size,
                 expansion=6):
    if expansion <= 0:
        raise ValueError(f"{name}: expansion must be positive, got {expansion!r}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = conv_bn_act(x, WIDTHS[0], 3, use_bias=False, kernel_initializer="he_normal", name="stem")
    for s, width in enumerate(WIDTHS, start=1):
        for b in range(1, spec.blocks + 1):
            stride = 2 if s > 1 and b == 1 else 1
            x = csc_block(x, width, expansion=expansion, stride=stride,
                          name=f"stage{s}_block{b}")
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


VARIANTS = register_family(
    globals(), _shiftresnet, _TABLE, family="shiftnet", paper=PAPER, input_shape=(32, 32, 3),
    min_size=32, classes=10, test_size=32,
    doc=lambda v: f"CIFAR ShiftResNet-{v.spec.depth} (expansion 6)")
