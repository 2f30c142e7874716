"""Inception-v4: "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning" (Szegedy, Ioffe, Vanhoucke & Alemi, AAAI 2017, arXiv:1602.07261), Figures 3-9.

    stage    output     layers (Figure 9)
    stem     35x35x384  Figure 3: 3x3/2 32 V, 3x3 32 V, 3x3 64; [3x3/2 max-pool V | 3x3/2 96 V];
                        [1x1 64, 3x3 96 V | 1x1 64, 1x7 64, 7x1 64, 3x3 96 V];
                        [3x3/2 192 V | 3x3/2 max-pool V]
    1        35x35x384  4 x Inception-A (Figure 4)
    2        17x17x1024 Reduction-A (Figure 7, k=192, l=224, m=256, n=384), 7 x Inception-B (Fig. 5)
    3        8x8x1536   Reduction-B (Figure 8), 3 x Inception-C (Figure 6)
    head                global average pool, dropout 0.2 (keep 0.8), fully connected, softmax

Every convolution is unbiased and followed by BatchNorm (epsilon 0.001) and ReLU, as in Cadene's
pretrainedmodels / timm `inception_v4` (ported from TF-slim's released checkpoint); branch and
channel orders and the order of the factorised 1x7 / 7x1 convolutions follow that code, so its
weights map one to one. No auxiliary classifier (not in the paper's Figure 9). Modules are data
(`kerasnets.applications._inception`): operation j of branch i of block b of stage s is
`stage{s}_block{b}_{i}_{j}_*`; the stem's j-th operation or module is `stem_{j}`. Reduction-A and
Reduction-B open stages 2 and 3 as their `block1`.

`inception_v4` is timm's `inception_v4` layer for layer (valid strided convolutions, symmetric
padding of the stride-1 ones, average pools that do not count the padding): it loads timm's
`inception_v4.tf_in1k` checkpoint through `TIMM_MAPPING` (tested equal on random weights).
"""

from __future__ import annotations

import dataclasses

from kerasnets.applications._common import register_family
from kerasnets.applications._inception import (AVG_POOL, MAX_POOL_V2, TIMM_BRANCH_RULES, Conv,
                                               Split, V, conv_bn, dropout_head, inception_stages,
                                               modules, reduction_a)
from kerasnets.applications._torch_names import nested, rename_rules
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import Transform, timm_checkpoint

PAPER = Paper("Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
              "1602.07261", 2017)
STEM = (  # Figure 3; a tuple of branches is an Inception module
    V(32, 3, 2), V(32, 3), Conv(64, 3),
    ((MAX_POOL_V2,), (V(96, 3, 2),)),
    ((Conv(64, 1), V(96, 3)), (Conv(64, 1), Conv(64, (1, 7)), Conv(64, (7, 1)), V(96, 3))),
    ((V(192, 3, 2),), (MAX_POOL_V2,)),
)
INCEPTION_A = (  # Figure 4
    (Conv(96, 1),),
    (Conv(64, 1), Conv(96, 3)),
    (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
    (AVG_POOL, Conv(96, 1)),
)
INCEPTION_B = (  # Figure 5
    (Conv(384, 1),),
    (Conv(192, 1), Conv(224, (1, 7)), Conv(256, (7, 1))),
    (Conv(192, 1), Conv(192, (7, 1)), Conv(224, (1, 7)), Conv(224, (7, 1)), Conv(256, (1, 7))),
    (AVG_POOL, Conv(128, 1)),
)
INCEPTION_C = (  # Figure 6
    (Conv(256, 1),),
    (Conv(384, 1), Split(Conv(256, (1, 3)), Conv(256, (3, 1)))),
    (Conv(384, 1), Conv(448, (3, 1)), Conv(512, (1, 3)),
     Split(Conv(256, (1, 3)), Conv(256, (3, 1)))),
    (AVG_POOL, Conv(256, 1)),
)
REDUCTION_B = (  # Figure 8
    (Conv(192, 1), V(192, 3, 2)),
    (Conv(256, 1), Conv(256, (1, 7)), Conv(320, (7, 1)), V(320, 3, 2)),
    (MAX_POOL_V2,),
)


@dataclasses.dataclass(frozen=True)
class InceptionV4Spec:
    depths: tuple[int, int, int] = (4, 7, 3)  # Inception-A, -B, -C modules (Figure 9)
    reduction_a: tuple[int, int, int, int] = (192, 224, 256, 384)  # k, l, m, n (Table 1)


# One record per variant; register_family (below) makes the builders and __all__.
_TABLE = [
    Variant("inception_v4", "InceptionV4", InceptionV4Spec(), 42_679_816,
            "Cadene pretrainedmodels / timm inception_v4 (imgclsmob InceptionV4 table)"),
]


def _inception_v4(x, spec: InceptionV4Spec, *, name):
    """The body: Figure 3's stem, then Inception-A, -B and -C modules after their reductions."""
    x = modules(x, STEM, conv_bn)
    stages = ((None, INCEPTION_A), (reduction_a(*spec.reduction_a), INCEPTION_B),
              (REDUCTION_B, INCEPTION_C))
    return inception_stages(x, [([reduction] if reduction else []) + [block] * depth
                                for (reduction, block), depth in zip(stages, spec.depths)],
                            conv_bn)


# preprocessing: TF-slim's [-1, 1], which the timm checkpoint registered below expects
# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "inception_v4": (
        timm_checkpoint("inception_v4", "tf_in1k",
            Transform.from_crop(299, 0.875, interpolation="bicubic", normalization="tf"),
            top1=80.156, note="Cadene's port of TF-slim's checkpoint"),
    ),
}

VARIANTS = register_family(
    globals(), _inception_v4, _TABLE, family="inception_v4", paper=PAPER, head=dropout_head(0.2),
    preprocessing="tf", input_shape=(299, 299, 3), min_size=75, test_size=75,
    doc=lambda v: "Inception-v4",
    weights=WEIGHTS, torch_mapping=lambda variant: TIMM_MAPPING)


# timm `features.{i}` -> our module; Mixed3a's and Mixed5a's lone `conv` is their branch 2 / 1.
_V4_MODULES = (["stem_1", "stem_2", "stem_3", "stem_4", "stem_5", "stem_6"]
               + [f"stage1_block{b}" for b in range(1, 5)]
               + [f"stage2_block{b}" for b in range(1, 9)]
               + [f"stage3_block{b}" for b in range(1, 5)])
_V4_LONE_CONV = {3: "2_1", 5: "1_1"}
_V4_STEM_RULES = ((r"(?P<t>conv|bn)", "{t}"),)  # features.0-2: plain ConvNormAct


def _v4_rules():
    rules = []
    for i, module in enumerate(_V4_MODULES):
        inner = _V4_STEM_RULES + TIMM_BRANCH_RULES
        if i in _V4_LONE_CONV:
            inner += ((r"conv\.(?P<t>conv|bn)", f"{_V4_LONE_CONV[i]}_{{t}}"),)
        rules += nested(rf"features\.{i}", module, inner)
    return rules + [(r"last_linear", "predictions")]


TIMM_MAPPING = TorchMapping(
    rename_rules(_v4_rules()),
    taps={"stage1_out": "features.9", "stage2_out": "features.17", "stage3_out": "features.21"},
    head=("predictions",))
