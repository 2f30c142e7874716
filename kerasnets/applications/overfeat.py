"""OverFeat: "OverFeat: Integrated Recognition, Localization and Detection using Convolutional
Networks" (Sermanet, Eigen, Zhang, Mathieu, Fergus & LeCun, ICLR 2014, arXiv:1312.6229),
Table 1 (fast model) and Table 3 (accurate model).

    fast (231x231 input)                        accurate (221x221 input)
    layer  conv          pool   pad  in size     layer  conv          pool   pad  in size
    1      96 11x11/4    2x2/2  -    231         1      96 7x7/2      3x3/3  -    221
    2      256 5x5/1     2x2/2  -    24 (*)      2      256 7x7/1     2x2/2  -    36
    3      512 3x3/1     -      1    12          3      512 3x3/1     -      1    15
    4      1024 3x3/1    -      1    12          4      512 3x3/1     -      1    15
    5      1024 3x3/1    2x2/2  1    12          5      1024 3x3/1    -      1    15
    6      full 3072                 6           6      1024 3x3/1    3x3/3  1    15
    7      full 4096                 1           7      full 4096                  5
    8      full 1000                 1           8      full 4096                  1
                                                 9      full 1000                  1

(*) Table 1 lists layer 2's size after its convolution (28 -> 24); conv1 gives 56x56 at 231.
ReLU after every layer, no contrast normalisation, dropout 0.5 on the two hidden fully connected
layers; floor rounding everywhere reproduces the tables. Parameters: the paper's 145M (fast) and
144M (accurate); the exact counts equal the layout of the released weights
(sermanet/OverFeat; e.g. jhjin/overfeat-torch reads 145,920,872 and 144,656,488 floats).

Layer names: `stem_*` (layer 1 with its pooling), stage 1 = layer 2 with its pooling, stage 2 =
the 3x3 layers with the last pooling; the hidden fully connected layers are `fc1` / `fc2` (see
`kerasnets.applications._chain`). The paper evaluates the classifier densely as convolutions; here
it is the usual flatten + dense head (same weights, reshaped).
"""

from __future__ import annotations

from kerasnets.applications._chain import (ChainSpec, Conv, Pool, chain_body, chain_head,
                                           min_input_size)
from kerasnets.applications._common import register_family
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("OverFeat: Integrated Recognition, Localization and Detection using Convolutional "
              "Networks", "1312.6229", 2014)

FAST = ChainSpec(
    stem=(Conv(96, 11, 4), Pool(2, 2)),
    stages=((Conv(256, 5), Pool(2, 2)),
            (Conv(512, 3, 1, 1), Conv(1024, 3, 1, 1), Conv(1024, 3, 1, 1), Pool(2, 2))),
    fc=(3072, 4096),
)
ACCURATE = ChainSpec(
    stem=(Conv(96, 7, 2), Pool(3, 3)),
    stages=((Conv(256, 7), Pool(2, 2)),
            (Conv(512, 3, 1, 1), Conv(512, 3, 1, 1), Conv(1024, 3, 1, 1), Conv(1024, 3, 1, 1),
             Pool(3, 3))),
    fc=(4096, 4096),
)

# One record per variant; register_family (end of file) makes the builders and __all__.
_TABLE = [
    Variant("overfeat_fast", "OverFeatFast", FAST, 145_920_872,
            "paper: 145M parameters (fast model); exact count of Table 1 = the released "
            "weights' size", input_shape=(231, 231, 3), min_size=min_input_size(FAST)),
    Variant("overfeat_accurate", "OverFeatAccurate", ACCURATE, 144_656_488,
            "paper: 144M parameters (accurate model); exact count of Table 3 = the "
            "released weights' size", input_shape=(221, 221, 3),
            min_size=min_input_size(ACCURATE)),
]

VARIANTS = register_family(
    globals(), chain_body, _TABLE, head=chain_head, family="overfeat", paper=PAPER,
    doc=lambda v: f"OverFeat {v.name.split('_')[1]} model")
