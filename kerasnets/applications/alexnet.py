"""AlexNet: "ImageNet Classification with Deep Convolutional Neural Networks"
(Krizhevsky, Sutskever & Hinton, NeurIPS 2012; not on arXiv), section 3 and Figure 2.

The layer table reproduced (lecture notes, seed 004; input 224x224x3):

    layer   filters  size   stride  pad  output
    conv1   96       11x11  4       2    55x55    ReLU, LRN
    pool1            3x3    2       0    27x27
    conv2   256      5x5    1       2    27x27    ReLU, LRN
    pool2            3x3    2       0    13x13
    conv3   384      3x3    1       1    13x13
    conv4   384      3x3    1       1    13x13
    conv5   256      3x3    1       1    13x13
    pool3            3x3    2       0    6x6
    fc6 4096 + dropout 0.5, fc7 4096 + dropout 0.5, fc8 = classifier

LRN is the paper's section 3.3 (n=5, k=2, alpha=1e-4, beta=0.75) after the ReLU, before the
pooling. (The paper's "224x224" input gives 55x55 only with conv1 padded by 2, as here, or with a
227x227 input and no padding.)

`AlexNet` (`alexnet`) is the single-tower network: every convolution sees all the maps of the layer
below; 62,378,344 parameters. The paper trained it split over two GPUs (Figure 2): conv2, conv4 and
conv5 only see the maps on their own GPU. `groups=2` (registered as `alexnet_2tower`) builds that
connectivity with `kerasnets.layers.GroupedConv2D`: 60,965,224 parameters, the paper's "60
million". One detail of the two-tower network is not reproduced: cuda-convnet normalised (LRN)
each GPU's 48 / 128 maps separately, while here the 5-map window also crosses the tower boundary.

Layer names: `stem_*` (conv1, LRN, pool1), stage 1 = conv2 + LRN + pool2, stage 2 = conv3-conv5 +
pool3 (see `kerasnets.applications._chain`); fc6 / fc7 are `fc1` / `fc2`.

`AlexNetTV` (`alexnet_tv`) is torchvision's `alexnet`, the single-GPU network of "One weird trick
for parallelizing convolutional neural networks" (Krizhevsky, 2014, arXiv:1404.5997): conv1-conv5
with 64, 192, 384, 256, 256 filters (sizes, strides and padding as above), no LRN, then
torchvision's AdaptiveAvgPool2d(6) (`avg_pool`, the identity at 224x224; other sizes are averaged
to 6x6 exactly as torch does) and the classifier with dropout on the *inputs* of fc6 and fc7
(`fc1_dropout`, `fc2_dropout` come before `fc1`, `fc2`); 61,100,840 parameters. It loads
torchvision's ImageNet checkpoint (registered below; tested: equal logits).
"""

from __future__ import annotations

from kerasnets.applications._chain import (LRN, ChainSpec, Conv, Pool, chain_body, chain_head,
                                           min_input_size)
from kerasnets.applications._common import register_family
from kerasnets.applications._torch_names import rename_rules
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import Transform, torchvision_checkpoint

PAPER = Paper("ImageNet Classification with Deep Convolutional Neural Networks", None, 2012)

ALEXNET = ChainSpec(
    stem=(Conv(96, 11, 4, 2), LRN, Pool(3, 2)),
    stages=((Conv(256, 5, 1, 2, split=True), LRN, Pool(3, 2)),
            (Conv(384, 3, 1, 1), Conv(384, 3, 1, 1, split=True),
             Conv(256, 3, 1, 1, split=True), Pool(3, 2))),
)

# torchvision's alexnet ("one weird trick", arXiv:1404.5997): no LRN, 64 / 192 first filters
ALEXNET_TV = ChainSpec(
    stem=(Conv(64, 11, 4, 2), Pool(3, 2)),
    stages=((Conv(192, 5, 1, 2), Pool(3, 2)),
            (Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), Conv(256, 3, 1, 1), Pool(3, 2))),
    head="torchvision",  # AdaptiveAvgPool2d(6), dropout before fc6 and fc7
)

# One record per variant; register_family (below the builders) makes the builders and __all__.
_TABLE = [
    Variant("alexnet", "AlexNet", ALEXNET, 62_378_344,
            "exact count of the paper's layers on one tower (groups=1); paper: 60 million "
            "with the two-GPU split"),
    Variant("alexnet_2tower", "AlexNet2Tower", ALEXNET, 60_965_224,
            "paper: '60 million parameters' (abstract), with Figure 2's two-GPU "
            "connectivity; exact count", options={"groups": 2}, doc="AlexNet (two towers)"),
    Variant("alexnet_tv", "AlexNetTV", ALEXNET_TV, 61_100_840, "torchvision alexnet",
            min_size=min_input_size(ALEXNET_TV),
            doc="AlexNet, torchvision's one-weird-trick network"),
]


def _alexnet(x, spec: ChainSpec, *, name, include_top, groups=1):
    """The body: `groups=2`: the paper's two towers (conv2, conv4, conv5 grouped)."""
    if groups not in (1, 2):
        raise ValueError(f"AlexNet: groups must be 1 (one tower) or 2 (the paper's two GPUs), "
                         f"got {groups!r}.")
    return chain_body(x, spec, name=name, include_top=include_top, groups=groups)


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "alexnet_tv": (
        torchvision_checkpoint("alexnet", "IMAGENET1K_V1", "alexnet-owt-7be5be79.pth",
            Transform(224, 256), top1=56.522, top5=79.066, size_mb=233.087),
    ),
}

VARIANTS = register_family(
    globals(), _alexnet, _TABLE, family="alexnet", paper=PAPER, head=chain_head,
    min_size=min_input_size(ALEXNET), doc=lambda v: "AlexNet",
    weights=WEIGHTS, torch_mapping=lambda variant: TV_MAPPING)

TV_MAPPING = TorchMapping(
    rename_rules([(r"features\.0", "stem_conv"), (r"features\.3", "stage1_block1_conv"),
                  (r"features\.6", "stage2_block1_conv"), (r"features\.8", "stage2_block2_conv"),
                  (r"features\.10", "stage2_block3_conv"), (r"classifier\.1", "fc1"),
                  (r"classifier\.4", "fc2"), (r"classifier\.6", "predictions")]),
    taps={"stage1_out": "features.5", "stage2_out": "features.12"},
    head=("fc1", "fc2", "predictions"))
