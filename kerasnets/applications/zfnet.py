"""ZFNet: "Visualizing and Understanding Convolutional Networks" (Zeiler & Fergus, ECCV 2014,
arXiv:1311.2901), Figure 3 (the ILSVRC-2013 "Clarifai"-style model of the lecture notes).

Figure 3 reproduced (input 224x224x3):

    layer 1   96 7x7 stride 2   -> 110x110, ReLU, 3x3 max-pool stride 2 -> 55x55, contrast norm.
    layer 2   256 5x5 stride 2  -> 26x26,   ReLU, 3x3 max-pool stride 2 -> 13x13, contrast norm.
    layer 3   384 3x3 stride 1  -> 13x13
    layer 4   384 3x3 stride 1  -> 13x13
    layer 5   256 3x3 stride 1  -> 13x13,   3x3 max-pool stride 2 -> 6x6
    layer 6   4096 fully connected (dropout 0.5), layer 7 4096 (dropout 0.5), softmax

Unlike AlexNet, the contrast normalisation (the AlexNet LRN) comes after the pooling, and the net
is dense (one GPU). The figure's sizes fix what the text leaves out: conv1 is padded by 1
(224 -> 110), conv3-5 by 1, and the poolings round up (110 -> 55, 26 -> 13; Caffe's rounding,
`CeilModeMaxPooling2D`). The paper gives no parameter total; the registry stores the exact count of
these layers.

Layer names: `stem_*` (layer 1 with its pooling and normalisation), stage 1 = layer 2, stage 2 =
layers 3-5; layers 6 / 7 are `fc1` / `fc2` (see `kerasnets.applications._chain`).
"""

from __future__ import annotations

from kerasnets.applications._chain import (LRN, ChainSpec, Conv, Pool, chain_body, chain_head,
                                           min_input_size)
from kerasnets.applications._common import register_family
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Visualizing and Understanding Convolutional Networks", "1311.2901", 2014)

ZFNET = ChainSpec(
    stem=(Conv(96, 7, 2, 1), Pool(3, 2, ceil=True), LRN),
    stages=((Conv(256, 5, 2), Pool(3, 2, ceil=True), LRN),
            (Conv(384, 3, 1, 1), Conv(384, 3, 1, 1), Conv(256, 3, 1, 1),
             Pool(3, 2, ceil=True))),
)

# One record per variant; register_family (end of file) makes the builders and __all__.
_TABLE = [
    Variant("zfnet", "ZFNet", ZFNET, 62_357_608,
            "exact count of Figure 3's layers (the paper states no total)"),
]

VARIANTS = register_family(
    globals(), chain_body, _TABLE, head=chain_head, family="zfnet", paper=PAPER,
    min_size=min_input_size(ZFNET),
    doc=lambda v: "ZFNet (Zeiler & Fergus Figure 3)")
