"""CIFAR-10 ResNets: "Deep Residual Learning for Image Recognition" (He, Zhang, Ren & Sun,
CVPR 2016, arXiv:1512.03385), section 4.2 and Table 6.

    output   layers
    32x32    3x3 conv, 16 (+ BN + ReLU)
    32x32    n basic blocks [3x3, 16;  3x3, 16]     (stage 1)
    16x16    n basic blocks [3x3, 32;  3x3, 32]     (stage 2, first block stride 2)
     8x8     n basic blocks [3x3, 64;  3x3, 64]     (stage 3, first block stride 2)
     1x1     global average pool, 10-way fc, softmax

Depth 6n + 2: n = 3, 5, 7, 9, 18, 200 give ResNet-20/32/44/56/110/1202 (Table 6: 0.27M, 0.46M,
0.66M, 0.85M, 1.7M, 19.4M parameters). Convolutions are unbiased (BN follows each).
`shortcut="A"` (default, the paper's CIFAR choice) keeps every shortcut an identity: where a stage
halves the size and doubles the width, it takes every other pixel and appends zero channels
(fb.resnet.torch), so the shortcuts have no parameters. `shortcut="B"` projects with a 1x1
convolution + BN there instead.
"""

from __future__ import annotations

import functools

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.applications._resnet_blocks import ResNetSpec, basic_block, residual_stages
from kerasnets.layers import conv_bn_act
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Deep Residual Learning for Image Recognition", "1512.03385", 2016)
SHORTCUTS = ("A", "B")


def cifar_spec(depth: int) -> ResNetSpec:
    """ResNet-`depth` for CIFAR: 3 stages of (depth - 2) / 6 basic blocks, 16/32/64 wide."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNets have depth 6n + 2 (n >= 1), got {depth}.")
    n = (depth - 2) // 6
    return ResNetSpec("basic", (n, n, n), widths=(16, 32, 64), stem_width=16)


# depth: (trainable params with shortcut "A" and 10 classes, the paper's Table 6 figure)
TABLE6 = {20: (269_722, "0.27M"), 32: (464_154, "0.46M"), 44: (658_586, "0.66M"),
          56: (853_018, "0.85M"), 110: (1_727_962, "1.7M"), 1202: (19_421_274, "19.4M")}

# One record per depth of Table 6; register_family (end of file) makes the builders and __all__.
_TABLE = [
    Variant(f"resnet{depth}_cifar", f"ResNet{depth}_CIFAR", cifar_spec(depth), params,
            f"exact count of section 4.2's layout, option A; paper Table 6: {figure}")
    for depth, (params, figure) in TABLE6.items()
]


def _resnet_cifar(spec: ResNetSpec, *, include_top, weights, input_tensor, input_shape, pooling,
                  classes, classifier_activation, name, default_shape, min_size, shortcut="A"):
    if shortcut not in SHORTCUTS:
        raise ValueError(f"{name}: shortcut must be one of {SHORTCUTS}, got {shortcut!r}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = conv_bn_act(x, spec.stem_width, 3, use_bias=False, kernel_initializer="he_normal",
                    name="stem")
    block = functools.partial(basic_block, shortcut=shortcut)
    x = residual_stages(x, spec, (1,) + (2,) * (len(spec.depths) - 1), block)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


VARIANTS = register_family(
    globals(), _resnet_cifar, _TABLE, family="resnet_cifar", paper=PAPER, input_shape=(32, 32, 3),
    min_size=32, classes=10, test_size=32, doc=lambda v: f"CIFAR ResNet-{v.name[6:-6]}")
