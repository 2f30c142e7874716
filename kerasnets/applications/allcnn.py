"""All-CNN: "Striving for Simplicity: The All Convolutional Net" (Springenberg, Dosovitskiy, Brox
& Riedmiller, ICLR 2015 workshop, arXiv:1412.6806), Table 1 model C and Table 2's derived models.

    Model C (Table 1)        Strided-CNN-C          ConvPool-CNN-C         All-CNN-C        out
    3x3 conv 96              3x3 conv 96            3x3 conv 96            3x3 conv 96      32^2
    3x3 conv 96              3x3 conv 96 stride 2   3x3 conv 96            3x3 conv 96
                                                    3x3 conv 96            3x3 conv 96 st. 2
    3x3 max-pool stride 2                           3x3 max-pool stride 2                   16^2
    3x3 conv 192             3x3 conv 192           3x3 conv 192           3x3 conv 192
    3x3 conv 192             3x3 conv 192 stride 2  3x3 conv 192           3x3 conv 192
                                                    3x3 conv 192           3x3 conv 192 st. 2
    3x3 max-pool stride 2                           3x3 max-pool stride 2                    8^2
    3x3 conv 192 (valid), 1x1 conv 192                                                       6^2
    1x1 conv 10 (classes), global averaging over 6x6, softmax                                1^2

Every convolution is followed by a ReLU (the class-map one too). 32x32x3 inputs, 10 classes.
Dropout as in the paper's CIFAR-10 setup: 20% on the input image and 50% after each pooling layer
or the layer replacing it. The 3x3 convolutions pad 1 (also the stride-2 ones, Caffe-style: pad
both sides, 32 -> 16 -> 8 -> 6 as in the table); the max-pools round up like Caffe's
(`kerasnets.applications._chain.caffe_pool`). Parameters: 1,369,738 for All-CNN-C and
ConvPool-CNN-C (the paper: ~1.4M in Table 3, ~1.3M in Table 4), 954,730 for model C and
Strided-CNN-C. The class-map head maps onto keras.applications' arguments as in `nin.py`.
"""

from __future__ import annotations

import dataclasses

from kerasnets.applications._chain import caffe_stage, class_map_head
from kerasnets.applications._common import register_family
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Striving for Simplicity: The All Convolutional Net", "1412.6806", 2015)


@dataclasses.dataclass(frozen=True)
class AllCNNSpec:
    stages: tuple[tuple[tuple[int, int, int, int], ...], ...]  # (filters, kernel, stride, pad)
    pool: bool  # a 3x3/2 max-pool ends every stage but the last


def _c(block, pool):
    """Model C's three stages with `block(width)` as the first two stages' convolutions."""
    return AllCNNSpec((block(96), block(192), ((192, 3, 1, 0), (192, 1, 1, 0))), pool)


# One record per variant (doc: the paper's name); register_family (end of file) makes the
# builders and __all__.
_TABLE = [
    Variant("allcnn_c", "AllCNN_C", _c(lambda w: ((w, 3, 1, 1),) * 2 + ((w, 3, 2, 1),), pool=False),
            1_369_738, "exact count of Table 2's All-CNN-C; paper: ~1.4M (Table 3), "
            "~1.3M (Table 4)", min_size=9,  # 3x3/2 pad-1 convs, valid 3x3: 9 -> 5 -> 3
            doc="All-CNN-C"),
    Variant("convpool_cnn_c", "ConvPoolCNN_C", _c(lambda w: ((w, 3, 1, 1),) * 3, pool=True),
            1_369_738, "exact count of Table 2's ConvPool-CNN-C; paper Table 3: ~1.4M",
            min_size=12, doc="ConvPool-CNN-C"),  # ceil-mode pools, valid 3x3: 12 -> 6 -> 3
    Variant("strided_cnn_c", "StridedCNN_C", _c(lambda w: ((w, 3, 1, 1), (w, 3, 2, 1)), pool=False),
            954_730, "exact count of Table 2's Strided-CNN-C (= model C's layers)", min_size=9,
            doc="Strided-CNN-C"),
    Variant("base_cnn_c", "BaseCNN_C", _c(lambda w: ((w, 3, 1, 1),) * 2, pool=True), 954_730,
            "exact count of Table 1's model C", min_size=12, doc="Model C"),
]


def _allcnn(x, spec: AllCNNSpec, *, name, dropout=0.5, input_dropout=0.2):
    """The body: `input_dropout` on the image, `dropout` after each downsampling."""
    for s, convs in enumerate(spec.stages, start=1):
        x = caffe_stage(x, convs, pool="max" if spec.pool and s < len(spec.stages) else None,
                        dropout=input_dropout if s == 1 else dropout, name=f"stage{s}")
    return x


VARIANTS = register_family(globals(), _allcnn, _TABLE, family="allcnn", paper=PAPER,
                           head=class_map_head, input_shape=(32, 32, 3), classes=10, test_size=32)
