"""CNN-F, CNN-M, CNN-M-2048, CNN-S: "Return of the Devil in the Details: Delving Deep into
Convolutional Nets" (Chatfield, Simonyan, Vedaldi & Zisserman, BMVC 2014, arXiv:1405.3531), Table 1.

Table 1 reproduced (input 224x224x3):

    arch   conv1                  conv2                  conv3-conv5                 full6-8
    CNN-F  64x11x11 st.4 pad 0    256x5x5 st.1 pad 2     256, 256, 256 3x3 pad 1     4096 drop-out
           LRN, x2 pool           LRN, x2 pool           x2 pool (after conv5)       4096 drop-out
    CNN-M  96x7x7 st.2 pad 0      256x5x5 st.2 pad 1     512, 512, 512 3x3 pad 1     1000 softmax
           LRN, x2 pool           LRN, x2 pool           x2 pool
    CNN-S  96x7x7 st.2 pad 0      256x5x5 st.1 pad 1     512, 512, 512 3x3 pad 1
           LRN, x3 pool           x2 pool                x3 pool

CNN-M-2048 is CNN-M with 2048 units in full7. "F"ast resembles AlexNet (with dense connectivity
and fewer filters), "M"edium ZFNet / Clarifai, "S"low the OverFeat accurate model. The table gives
only the pooling factor; the windows are those of the released Caffe models (3x3 stride 2 for x2,
3x3 stride 3 for x3, and 2x2 stride 2 for CNN-S's second pooling) with Caffe's round-up
(`CeilModeMaxPooling2D`), which gives the 6x6 maps that full6 expects (e.g. CNN-M: 224 -> 109 ->
54 -> 26 -> 13 -> 6). LRN (the AlexNet constants) after the ReLU, before the pooling. The paper
states no parameter totals; the registry stores the exact counts of these layers.

Layer names: `stem_*` (conv1, LRN, pool), stage 1 = conv2 (+ LRN) + pool, stage 2 = conv3-conv5 +
pool; full6 / full7 are `fc1` / `fc2` (see `kerasnets.applications._chain`).
"""

from __future__ import annotations

from kerasnets.applications._chain import (LRN, ChainSpec, Conv, Pool, chain_body, chain_head,
                                           min_input_size)
from kerasnets.applications._common import register_family
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Return of the Devil in the Details: Delving Deep into Convolutional Nets",
              "1405.3531", 2014)

X2, X3 = Pool(3, 2, ceil=True), Pool(3, 3, ceil=True)
CNN_F_SPEC = ChainSpec(
    stem=(Conv(64, 11, 4), LRN, X2),
    stages=((Conv(256, 5, 1, 2), LRN, X2), (Conv(256, 3, 1, 1),) * 3 + (X2,)),
)
CNN_M_SPEC = ChainSpec(
    stem=(Conv(96, 7, 2), LRN, X2),
    stages=((Conv(256, 5, 2, 1), LRN, X2), (Conv(512, 3, 1, 1),) * 3 + (X2,)),
)
CNN_M2048_SPEC = ChainSpec(CNN_M_SPEC.stem, CNN_M_SPEC.stages, fc=(4096, 2048))
CNN_S_SPEC = ChainSpec(
    stem=(Conv(96, 7, 2), LRN, X3),
    stages=((Conv(256, 5, 1, 1), Pool(2, 2, ceil=True)), (Conv(512, 3, 1, 1),) * 3 + (X3,)),
)

# One record per variant; register_family (end of file) makes the builders and __all__.
_TABLE = [
    Variant("cnn_f", "CNN_F", CNN_F_SPEC, 60_834_536, "exact count of Table 1 (CNN-F)",
            min_size=min_input_size(CNN_F_SPEC)),
    Variant("cnn_m", "CNN_M", CNN_M_SPEC, 102_908_520, "exact count of Table 1 (CNN-M)",
            min_size=min_input_size(CNN_M_SPEC)),
    Variant("cnn_m2048", "CNN_M2048", CNN_M2048_SPEC, 92_469_864,
            "exact count of Table 1 (CNN-M with full7 = 2048)",
            min_size=min_input_size(CNN_M2048_SPEC)),
    Variant("cnn_s", "CNN_S", CNN_S_SPEC, 102_908_520, "exact count of Table 1 (CNN-S)",
            min_size=min_input_size(CNN_S_SPEC)),
]

VARIANTS = register_family(
    globals(), chain_body, _TABLE, head=chain_head, family="chatfield", paper=PAPER,
    doc=lambda v: f"{v.builder.replace('_', '-')} (Chatfield et al. Table 1)")
