"""Network in Network: "Network In Network" (Lin, Chen & Yan, ICLR 2014, arXiv:1312.4400).

Each "mlpconv" layer is a spatial convolution followed by 1x1 convolutions ("cccp", cascaded
cross-channel parametric pooling), all with ReLU; there is no fully connected layer: the last 1x1
convolution gives one map per class, which global average pooling turns into the class scores.
The layers are those of the authors' released Caffe / cuda-convnet models (Lin's model-zoo gists):

    NIN (ImageNet, 224x224)                     NIN_CIFAR (CIFAR-10, 32x32; paper section 4.2)
    conv1 96 11x11/4, cccp 96, cccp 96    54^2    conv1 192 5x5 pad 2, cccp 160, cccp 96   32^2
    max-pool 3x3/2                        27^2    max-pool 3x3/2, dropout 0.5              16^2
    conv2 256 5x5 pad 2, cccp 256, 256    27^2    conv2 192 5x5 pad 2, cccp 192, 192       16^2
    max-pool 3x3/2                        13^2    avg-pool 3x3/2, dropout 0.5               8^2
    conv3 384 3x3 pad 1, cccp 384, 384    13^2    conv3 192 3x3 pad 1, cccp 192             8^2
    max-pool 3x3/2, dropout 0.5            6^2    cccp 10 (classes), global avg-pool        1^2
    conv4 1024 3x3 pad 1, cccp 1024        6^2
    cccp 1000 (classes), global avg-pool   1^2

7,595,176 parameters for NIN (the seed lecture's "7.5 Million (29 Megabytes)" = 28.97 MiB of
float32) and 966,986 for NIN_CIFAR (commonly quoted as 0.97M).

Caffe pools with the output size rounded *up*, ceil((n - 3) / 2) + 1: `caffe_pool` reproduces it
exactly (54 -> 27 -> 13 -> 6 above; it lives in `kerasnets.applications._chain`, shared with
All-CNN). The class-map convolution keeps its ReLU as in the released models
(`class_map_activation=None` removes it). Keras mapping: `include_top=False` returns the features
before the class-map convolution (`stage{N}_out`, optionally pooled); `include_top=True` adds
`classifier_conv` (1x1, `classes` maps) -> ReLU -> global average pooling -> the
`classifier_activation` layer named "predictions".
"""

from __future__ import annotations

import dataclasses

from kerasnets.applications._chain import caffe_pool, caffe_stage, class_map_head  # noqa: F401 (caffe_pool: re-exported)
from kerasnets.applications._common import register_family
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Network In Network", "1312.4400", 2014)


@dataclasses.dataclass(frozen=True)
class NINSpec:
    # per mlpconv stage: (filters, kernel, stride, pad, cccp widths, pool: "max" | "avg" | None);
    # the class-map cccp of the last stage is the head
    stages: tuple[tuple[int, int, int, int, tuple[int, ...], str | None], ...]
    dropout_stages: tuple[int, ...]  # stages (1-based) whose input gets `dropout`


IMAGENET = NINSpec(((96, 11, 4, 0, (96, 96), "max"), (256, 5, 1, 2, (256, 256), "max"),
                    (384, 3, 1, 1, (384, 384), "max"), (1024, 3, 1, 1, (1024,), None)),
                   dropout_stages=(4,))
CIFAR = NINSpec(((192, 5, 1, 2, (160, 96), "max"), (192, 5, 1, 2, (192, 192), "avg"),
                 (192, 3, 1, 1, (192,), None)),
                dropout_stages=(2, 3))

# One record per variant; register_family (end of file) makes the builders and __all__.
_TABLE = [
    Variant("nin", "NIN", IMAGENET, 7_595_176,
            "exact count of the released Caffe NIN-ImageNet model (model-zoo gist "
            "mavenlin/d802a5849de39225bcc6); quoted as 7.5M / 29 MB"),
    Variant("nin_cifar", "NIN_CIFAR", CIFAR, 966_986,
            "exact count of the released CIFAR-10 NIN (cuda-convnet / model-zoo gist "
            "mavenlin/e56253735ef32c3c296d); quoted as 0.97M", input_shape=(32, 32, 3),
            classes=10, min_size=4, test_size=32),  # two 3x3/2 ceil-mode pools: 4 -> 2 -> 1
]


def _nin(x, spec: NINSpec, *, name, dropout=0.5):
    """The body: the mlpconv stages (the class-map convolution is the head's)."""
    for s, (filters, kernel, stride, pad, cccp, pool) in enumerate(spec.stages, start=1):
        convs = [(filters, kernel, stride, pad)] + [(c, 1, 1, "valid") for c in cccp]
        x = caffe_stage(x, convs, pool=pool, name=f"stage{s}",
                        dropout=dropout if s in spec.dropout_stages else 0.0)
    return x


# ImageNet: the 11x11/4 conv, then three 3x3/2 ceil-mode pools need 8 -> 4 -> 2 -> 1
VARIANTS = register_family(
    globals(), _nin, _TABLE, family="nin", paper=PAPER, head=class_map_head, min_size=39, test_size=39,
    doc=lambda v: "Network in Network " + ("(CIFAR-10)" if v.classes == 10 else "(ImageNet)"))
