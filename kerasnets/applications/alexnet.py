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
"""

from __future__ import annotations

from kerasnets.applications._chain import LRN, ChainSpec, Conv, Pool, chain_model, min_input_size
from kerasnets.applications._common import variant_builder
from kerasnets.registry import Paper

__all__ = ["AlexNet", "AlexNet2Tower"]

PAPER = Paper("ImageNet Classification with Deep Convolutional Neural Networks", None, 2012)

ALEXNET = ChainSpec(
    stem=(Conv(96, 11, 4, 2), LRN, Pool(3, 2)),
    stages=((Conv(256, 5, 1, 2, split=True), LRN, Pool(3, 2)),
            (Conv(384, 3, 1, 1), Conv(384, 3, 1, 1, split=True),
             Conv(256, 3, 1, 1, split=True), Pool(3, 2))),
)

# name: (builder, spec, family options it sets, trainable params at 1000 classes, source)
VARIANTS = {
    "alexnet": ("AlexNet", ALEXNET, {}, 62_378_344,
                "exact count of the paper's layers on one tower (groups=1); paper: 60 million "
                "with the two-GPU split"),
    "alexnet_2tower": ("AlexNet2Tower", ALEXNET, {"groups": 2}, 60_965_224,
                       "paper: '60 million parameters' (abstract), with Figure 2's two-GPU "
                       "connectivity; exact count"),
}


def _alexnet(spec: ChainSpec, *, groups=1, dropout=0.5, **base):
    """`groups=2`: the paper's two towers (conv2, conv4, conv5 grouped); `dropout` on fc6/fc7."""
    if groups not in (1, 2):
        raise ValueError(f"AlexNet: groups must be 1 (one tower) or 2 (the paper's two GPUs), "
                         f"got {groups!r}.")
    return chain_model(spec, groups=groups, dropout=dropout, **base)


_builders = {
    variant: variant_builder(builder, variant, _alexnet, spec, family="alexnet", paper=PAPER,
                             params=params, source=source, min_size=min_input_size(spec),
                             defaults=defaults,
                             doc="AlexNet" + (" (two towers)" if defaults else ""))
    for variant, (builder, spec, defaults, params, source) in VARIANTS.items()
}
AlexNet = _builders["alexnet"]
AlexNet2Tower = _builders["alexnet_2tower"]
