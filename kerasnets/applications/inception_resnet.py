"""Inception-ResNet v1 and v2: "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning" (Szegedy, Ioffe, Vanhoucke & Alemi, AAAI 2017, arXiv:1602.07261),
Figures 7, 10-19 and Table 1.

    stage    v1 (Figures 14, 10, 7, 11, 12, 13, 15)        v2 (keras.applications / TF-slim)
    stem     35x35x256: Figure 14                          35x35x320: 5 convolutions, 2 max-pools,
                                                           Inception module "mixed_5b"
    1        35x35x256: 5 x Inception-ResNet-A (Fig. 10)   35x35x320:  10 x block35
    2        17x17x896: Reduction-A (Fig. 7, k=192, l=192, 17x17x1088: Reduction-A (k=256, l=256,
             m=256, n=384), 10 x Inception-ResNet-B (11)   m=384, n=384), 20 x block17
    3        8x8x1792: Reduction-B (Fig. 12),              8x8x1536:  Reduction-B (Fig. 18),
             5 x Inception-ResNet-C (Fig. 13)              10 x block8 (the last linear), 1x1 1536
    head     global average pool, dropout 0.2 (keep 0.8, Figure 15), fully connected, softmax

An Inception-ResNet block is `relu(x + scale * conv1x1(concat(branches(x))))`: the branches are
convolutions + BatchNorm + ReLU, the 1x1 "linear" expansion back to the input width has a bias
and no BatchNorm (the paper puts BatchNorm on the traditional layers only, not on top of the
summations), and the residual is scaled by `scale` (section 3.3: 0.1 to 0.3). `scale`
(keyword-only) is one number for all blocks or one per block type (A, B, C); the default
(0.17, 0.10, 0.20) is TF-slim's and keras'. BatchNorm follows TF-slim: epsilon 0.001 and no
gamma (`scale=False`).

`InceptionResNetV2` is keras.applications' InceptionResNetV2 (TF-slim's layout, which differs
from the paper's Figures 3, 16-19: its stem ends in an Inception module at 320 channels, 10 / 20 /
10 blocks instead of 5 / 10 / 5, 1088 and 2080 channels at 17x17 and 8x8, the last block8 linear
with scale 1, and a final 1x1 convolution to 1536): same weights in the same order and the same
outputs once they are copied (tested). keras has no dropout; dropout=0.0 reproduces it exactly.
`InceptionResNetV1` is the paper's figures as drawn (5 / 10 / 5 blocks, every block with ReLU).
`InceptionResNetV2Timm` (`inception_resnet_v2_timm`) is timm's `inception_resnet_v2` (Cadene's
port of the same TF-slim checkpoint): keras' layout, but every BatchNorm has a gamma (30,272 more
parameters), so it loads timm's `inception_resnet_v2.tf_in1k` through `TIMM_MAPPING` (tested
equal on random weights).

Layer names as in `inception_v4`: operation j of branch i of block b of stage s is
`stage{s}_block{b}_{i}_{j}_*`, then `_concat`, `_up_conv`, `_add`, `_relu`; the reductions open
stages 2 and 3 as their `block1`; v2's last 1x1 convolution is `stage3_final_*`.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers

from keras import layers

from kerasnets.applications._common import register_family
from kerasnets.applications._inception import (AVG_POOL, MAX_POOL_V2, TIMM_BRANCH_RULES, Conv, V,
                                               conv_bn, dropout_head, inception_module,
                                               keras_299_checkpoint, modules, reduction_a)
from kerasnets.applications._torch_names import nested, rename_rules
from kerasnets.layers.residual import ScaledAdd
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import Transform, timm_checkpoint

PAPER = Paper("Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
              "1602.07261", 2017)
CONV = functools.partial(conv_bn, scale=False)  # TF-slim: BatchNorm without gamma
SCALES = (0.17, 0.10, 0.20)  # A, B, C residual scaling (TF-slim, keras.applications)


@dataclasses.dataclass(frozen=True)
class InceptionResNetSpec:
    stem: tuple  # operations and modules up to the 35x35 grid
    blocks: tuple[tuple, tuple, tuple]  # the branches of the A, B and C blocks
    reductions: tuple[tuple, tuple]  # the branches of Reduction-A and Reduction-B
    depths: tuple[int, int, int]  # A, B, C blocks
    final_conv: int = 0  # a 1x1 convolution + BN + ReLU after the last C block (TF-slim v2)
    linear_last_block: bool = False  # the last C block: scale 1, no ReLU (TF-slim v2)
    bn_scale: bool = False  # BatchNorm with gamma (timm's port); TF-slim's has none


V1 = InceptionResNetSpec(
    stem=(V(32, 3, 2), V(32, 3), Conv(64, 3), MAX_POOL_V2, V(80, 1), V(192, 3),
          V(256, 3, 2)),  # Figure 14
    blocks=(
        ((Conv(32, 1),), (Conv(32, 1), Conv(32, 3)),
         (Conv(32, 1), Conv(32, 3), Conv(32, 3))),  # Figure 10
        ((Conv(128, 1),), (Conv(128, 1), Conv(128, (1, 7)), Conv(128, (7, 1)))),  # Figure 11
        ((Conv(192, 1),), (Conv(192, 1), Conv(192, (1, 3)), Conv(192, (3, 1)))),  # Figure 13
    ),
    reductions=(
        reduction_a(192, 192, 256, 384),  # Figure 7, Table 1
        ((Conv(256, 1), V(384, 3, 2)), (Conv(256, 1), V(256, 3, 2)),
         (Conv(256, 1), Conv(256, 3), V(256, 3, 2)), (MAX_POOL_V2,)),  # Figure 12
    ),
    depths=(5, 10, 5),  # Figure 15
)
V2 = InceptionResNetSpec(  # keras.applications.InceptionResNetV2, branch by branch
    stem=(V(32, 3, 2), V(32, 3), Conv(64, 3), MAX_POOL_V2, V(80, 1), V(192, 3), MAX_POOL_V2,
          ((Conv(96, 1),), (Conv(48, 1), Conv(64, 5)),
           (Conv(64, 1), Conv(96, 3), Conv(96, 3)), (AVG_POOL, Conv(64, 1)))),  # mixed_5b
    blocks=(
        ((Conv(32, 1),), (Conv(32, 1), Conv(32, 3)),
         (Conv(32, 1), Conv(48, 3), Conv(64, 3))),  # block35
        ((Conv(192, 1),), (Conv(128, 1), Conv(160, (1, 7)), Conv(192, (7, 1)))),  # block17
        ((Conv(192, 1),), (Conv(192, 1), Conv(224, (1, 3)), Conv(256, (3, 1)))),  # block8
    ),
    reductions=(
        reduction_a(256, 256, 384, 384),  # mixed_6a
        ((Conv(256, 1), V(384, 3, 2)), (Conv(256, 1), V(288, 3, 2)),
         (Conv(256, 1), Conv(288, 3), V(320, 3, 2)), (MAX_POOL_V2,)),  # mixed_7a
    ),
    depths=(10, 20, 10),
    final_conv=1536,  # conv_7b
    linear_last_block=True,
)

V2_TIMM = dataclasses.replace(V2, bn_scale=True)

# One record per variant; register_family (below) makes the builders and __all__.
_TABLE = [
    Variant("inception_resnet_v1", "InceptionResNetV1", V1, 22_742_808,
            "exact count of the paper's Figures 14, 10, 7, 11, 12, 13 and 15 (5 / 10 / 5 "
            "blocks) with TF-slim's BatchNorm without gamma; no published total (facenet's and "
            "imgclsmob's inception_resnet_v1 add a sixth, linear C block and a 512-d bottleneck "
            "head)"),
    Variant("inception_resnet_v2", "InceptionResNetV2", V2, 55_813_192,
            "keras.applications InceptionResNetV2: 55,873,736 parameters in all, of which "
            "60,544 are BatchNorm moving statistics", keras_equivalent="InceptionResNetV2",
            preprocessing="tf"),
    Variant("inception_resnet_v2_timm", "InceptionResNetV2Timm", V2_TIMM, 55_843_464,
            "timm inception_resnet_v2 (Cadene's port of TF-slim's checkpoint): keras' 55,813,192 "
            "plus a BatchNorm gamma on each of its 30,272 BatchNorm channels",
            preprocessing="tf"),
]


def _scales(scale, name):
    values = (scale,) * 3 if isinstance(scale, numbers.Real) else tuple(scale)
    if len(values) != 3 or not all(isinstance(v, numbers.Real) and v > 0 for v in values):
        raise ValueError(f"{name}: scale must be a positive number or one per block type "
                         f"(A, B, C), got {scale!r}.")
    return values


def inception_resnet_block(x, branches, *, scale, activation=True, conv=CONV, name):
    """Figures 10-13 / 16-19: the `branches`, concatenated (`{name}_concat`), a biased
    1x1 convolution back to the input width (`{name}_up_conv`), `x + scale * that`
    (`{name}_add`) and ReLU (`{name}_relu`, unless `activation=False`)."""
    y = inception_module(x, branches, conv, name=name)
    y = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_up_conv")(y)
    x = ScaledAdd(scale, name=f"{name}_add")([x, y])
    return layers.Activation("relu", name=f"{name}_relu")(x) if activation else x


def _inception_resnet(x, spec: InceptionResNetSpec, *, name, scale=SCALES):
    """The body: the stem, then per stage its reduction and residual blocks scaled by `scale`."""
    scales = _scales(scale, name)
    conv = functools.partial(conv_bn, scale=spec.bn_scale)
    x = modules(x, spec.stem, conv)
    stages = zip((None,) + spec.reductions, spec.blocks, spec.depths, scales)
    for s, (reduction, block, depth, block_scale) in enumerate(stages, start=1):
        b = 0
        if reduction is not None:
            b += 1
            x = inception_module(x, reduction, conv, name=f"stage{s}_block{b}")
        for i in range(depth):
            b += 1
            linear = spec.linear_last_block and s == len(spec.depths) and i == depth - 1
            x = inception_resnet_block(x, block, scale=1.0 if linear else block_scale,
                                       activation=not linear, conv=conv,
                                       name=f"stage{s}_block{b}")
        if s == len(spec.depths) and spec.final_conv:
            x = conv(x, spec.final_conv, 1, name=f"stage{s}_final")
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "inception_resnet_v2": (keras_299_checkpoint(
        "InceptionResNetV2", "inception_resnet_v2", "e693bd0210a403b3192acc6073ad2e96",
        "d19885ff4a710c122648d3b5c3b684e4", top1=80.3, top5=95.3, size_mb=215),),
    "inception_resnet_v2_timm": (timm_checkpoint(
        "inception_resnet_v2", "tf_in1k", Transform.from_crop(
            299, 0.8975, interpolation="bicubic", normalization="tf"),
        top1=80.462, note="Cadene's port of TF-slim's checkpoint"),),
}
VARIANTS = register_family(
    globals(), _inception_resnet, _TABLE, family="inception_resnet", paper=PAPER,
    head=dropout_head(0.2),
    input_shape=(299, 299, 3), min_size=75, test_size=75,
    doc=lambda v: f"Inception-ResNet-{v.name.split('_')[2]}"
                  + (" (timm's layout)" if v.name.endswith("_timm") else ""),
    weights=WEIGHTS, torch_mapping=lambda variant: TIMM_MAPPING)


# timm's inception_resnet_v2: top-level modules -> our modules (the stem's two max-pools are
# stem_4 and stem_7); `repeat*` hold the residual blocks after each stage's reduction.
_IRV2_STEM = {"1a": "stem_1", "2a": "stem_2", "2b": "stem_3", "3b": "stem_5", "4a": "stem_6",
              "7b": "stage3_final"}
_IRV2_BLOCKS = (  # timm module (pattern) -> our block, each holding `_IRV2_BLOCK_RULES`
    (r"mixed_5b", "stem_8"),
    (r"repeat\.(?P<n>\d+)", lambda m: f"stage1_block{int(m['n']) + 1}"),
    (r"mixed_6a", "stage2_block1"),
    (r"repeat_1\.(?P<n>\d+)", lambda m: f"stage2_block{int(m['n']) + 2}"),
    (r"mixed_7a", "stage3_block1"),
    (r"repeat_2\.(?P<n>\d+)", lambda m: f"stage3_block{int(m['n']) + 2}"),
    (r"block8", "stage3_block11"))
_IRV2_BLOCK_RULES = TIMM_BRANCH_RULES + ((r"conv2d", "up_conv"),)
_IRV2_RULES = (
    [(rf"conv2d_{k}\.(?P<t>conv|bn)", f"{name}_{{t}}") for k, name in _IRV2_STEM.items()]
    + [rule for outer, name in _IRV2_BLOCKS for rule in nested(outer, name, _IRV2_BLOCK_RULES)]
    + [(r"classif", "predictions")])

TIMM_MAPPING = TorchMapping(
    rename_rules(_IRV2_RULES),
    taps={"stage1_out": "repeat", "stage2_out": "repeat_1", "stage3_out": "conv2d_7b"},
    head=("predictions",))
