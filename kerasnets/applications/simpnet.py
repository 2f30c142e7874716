"""SimpNet: "Towards Principled Design of Deep Convolutional Networks: Introducing SimpNet"
(Hasanpour, Rouhani, Fayyaz, Sabokrou & Adeli, arXiv:1802.06205), the 13-layer CIFAR
architecture (Fig. 6) and its slim versions (Table XV), as released by the authors
(Coderx7/SimpNet Caffe definitions).

    stage  output  3x3 convolutions (+ BN + ReLU)       SimpNet  8.9M    slim 600K  slim 300K
    1      32x32   conv1, conv1_0, conv2, conv2_1       66 128   128 182  40 60      30 40
                                                        128 128  182 182  60 60      40 40
                   conv2_2, 2x2/2 max-pool               192     182      72         50
    2      16x16   conv3, conv3_1, conv4, conv4_1       192 x4   182 x4   73 73 73 75  50 x4
                   conv4_2, 2x2/2 max-pool               288     430      81         58
    3       8x8    conv4_0, conv11, conv12              288 355  430 455  82 90      58 70
                                                        432      600      120        90
    head           global max-pool, fc (10 classes)

The design principles (seed lecture 003): gradual expansion with minimum allocation, homogeneous
groups of layers, 3x3 kernels only (correlation preservation, maximum performance utilisation),
delayed max-pooling rather than strided convolutions (maximum information utilisation), a
balanced width distribution, and dropout on every layer. SAF-pooling is max-pooling followed by
dropout. Every convolution is biased and followed by BN (Caffe's BatchNorm + Scale) and ReLU;
dropout follows every convolution but a stage's last, whose dropout comes after the pooling (rates
per variant from the released definitions; the 300K model was trained without dropout). The
pools round up like Caffe's (`CeilModeMaxPooling2D`). `dropout=False` (keyword-only) leaves every
Dropout layer out (the paper's Fig. 6 draws the base architecture without drop-out).
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import predictions, register_family
from kerasnets.layers import CeilModeMaxPooling2D, conv_bn_act
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Towards Principled Design of Deep Convolutional Networks: Introducing SimpNet",
              "1802.06205", 2018)


@dataclasses.dataclass(frozen=True)
class SimpNetSpec:
    widths: tuple[tuple[int, ...], ...]  # per stage, the width of each 3x3 convolution
    conv_dropout: tuple[float, ...]  # per stage, after each of its convolutions but the last
    pool_dropout: tuple[float, ...]  # per stage, after its pooling (the last: the global one)

    def __post_init__(self):
        if not len(self.widths) == len(self.conv_dropout) == len(self.pool_dropout):
            raise ValueError("widths, conv_dropout and pool_dropout need one entry per stage.")


# One record per variant; register_family (below) makes the builders and __all__.
_TABLE = [
    Variant("simpnet", "SimpNet",
            SimpNetSpec(((66, 128, 128, 128, 192), (192, 192, 192, 192, 288), (288, 355, 432)),
                        (0.2, 0.2, 0.3), (0.2, 0.3, 0.3)),
            5_478_223, "exact count of the released CIFAR10/5Mil definition; paper: 5.48M"),
    Variant("simpnet_8_9m", "SimpNet_8_9M",
            SimpNetSpec(((128, 182, 182, 182, 182), (182, 182, 182, 182, 430), (430, 455, 600)),
                        (0.2,) * 3, (0.2,) * 3),
            8_902_729, "exact count of the released CIFAR10/8.9Mil definition; paper: 8.9M"),
    Variant("simpnet_slim_300k", "SimpNet_Slim_300K",
            SimpNetSpec(((30, 40, 40, 40, 50), (50, 50, 50, 50, 58), (58, 70, 90)),
                        (0.0,) * 3, (0.0,) * 3),
            300_964, "exact count of the released slim 300K CIFAR10 definition; "
                     "paper Table XV: 300K"),
    Variant("simpnet_slim_600k", "SimpNet_Slim_600K",
            SimpNetSpec(((40, 60, 60, 60, 72), (73, 73, 73, 75, 81), (82, 90, 120)),
                        (0.1, 0.1, 0.2), (0.1, 0.2, 0.2)),
            601_021, "exact count of the released slim 600K CIFAR10 definition; "
                     "paper Table XV: 600K"),
]


def _simpnet(x, spec: SimpNetSpec, *, name, dropout=True):
    """The body: the three stages, SAF-pooling between them."""
    last = len(spec.widths)
    for s, (widths, conv_rate, pool_rate) in enumerate(
            zip(spec.widths, spec.conv_dropout, spec.pool_dropout), start=1):
        for b, width in enumerate(widths, start=1):
            prefix = f"stage{s}_block{b}"
            x = conv_bn_act(x, width, 3, use_bias=True, kernel_initializer="glorot_uniform",
                            name=prefix)
            if dropout and conv_rate and b < len(widths):
                x = layers.Dropout(conv_rate, name=f"{prefix}_dropout")(x)
        if s < last:  # SAF-pooling: max-pooling, then dropout
            x = CeilModeMaxPooling2D(2, strides=2, name=f"stage{s}_pool")(x)
            if dropout and pool_rate:
                x = layers.Dropout(pool_rate, name=f"stage{s}_dropout")(x)
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x


def _head(x, spec: SimpNetSpec, *, classes, classifier_activation, dropout=True):
    """Global max-pooling (`max_pool`), the last stage's dropout (`head_dropout`), `predictions`."""
    x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    if dropout and spec.pool_dropout[-1]:
        x = layers.Dropout(spec.pool_dropout[-1], name="head_dropout")(x)
    return predictions(x, classes, classifier_activation)


VARIANTS = register_family(
    globals(), _simpnet, _TABLE, family="simpnet", paper=PAPER, head=_head, input_shape=(32, 32, 3),
    min_size=32, classes=10, test_size=32, doc=lambda v: f"SimpNet ({v.name})")
