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
exactly (54 -> 27 -> 13 -> 6 above). The class-map convolution keeps its ReLU as in the released
models (`class_map_activation=None` removes it). Keras mapping: `include_top=False` returns the
features before the class-map convolution (`stage{N}_out`, optionally pooled); `include_top=True`
adds `classifier_conv` (1x1, `classes` maps) -> ReLU -> global average pooling -> the
`classifier_activation` layer named "predictions".
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import (finish, head_dtype, model_input, pool_features,
                                            register_family)
from kerasnets.layers import conv_bn_act
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


def caffe_pool(x, kind, *, name):
    """3x3/2 max- or average-pooling with Caffe's output size ceil((n - 3) / 2) + 1.

    Even sides: Keras "same" (one padded row/column at the end, ignored by max and left out of
    the average, as Caffe does); odd sides: "valid". When the sides are unknown or of mixed
    parity, pads one zero row/column at the end: exact for max-pooling after a ReLU, approximate
    (zeros counted) at the edge for averages.
    """
    pool = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}[kind]
    height, width = x.shape[1:3]
    if height is not None and width is not None and height % 2 == width % 2:
        return pool(3, strides=2, padding="same" if height % 2 == 0 else "valid", name=name)(x)
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return pool(3, strides=2, name=name)(x)


def class_map_head(x, *, include_top, pooling, classes, classifier_activation,
                   class_map_activation="relu"):
    """NIN's classifier: 1x1 convolution to `classes` maps (+ ReLU) -> global average pooling ->
    `classifier_activation` ("predictions"); or, without the top, the (pooled) features."""
    if not include_top:
        return pool_features(x, pooling)
    if classes is None or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}.")
    x = conv_bn_act(x, classes, 1, padding="valid", batch_norm=False, use_bias=True,
                    activation=class_map_activation, name="classifier")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Activation(classifier_activation, name="predictions", dtype=head_dtype())(x)


def _nin(spec: NINSpec, *, include_top, weights, input_tensor, input_shape, pooling, classes,
         classifier_activation, name, default_shape, min_size, dropout=0.5,
         class_map_activation="relu"):
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    for s, (filters, kernel, stride, pad, cccp, pool) in enumerate(spec.stages, start=1):
        if dropout and s in spec.dropout_stages:
            x = layers.Dropout(dropout, name=f"stage{s}_dropout")(x)
        same = stride == 1 and 2 * pad == kernel - 1
        convs = [(filters, kernel, stride, "same" if same else pad)] + [(c, 1, 1, 0) for c in cccp]
        for b, (f, k, st, p) in enumerate(convs, start=1):
            x = conv_bn_act(x, f, k, strides=st, padding=p, batch_norm=False, use_bias=True,
                            name=f"stage{s}_block{b}")
        if pool:
            x = caffe_pool(x, pool, name=f"stage{s}_pool")
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = class_map_head(x, include_top=include_top, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation,
                       class_map_activation=class_map_activation)
    return finish(inputs, x, name=name, weights=weights)


# ImageNet: the 11x11/4 conv, then three 3x3/2 ceil-mode pools need 8 -> 4 -> 2 -> 1
VARIANTS = register_family(
    globals(), _nin, _TABLE, family="nin", paper=PAPER, min_size=39, test_size=39,
    doc=lambda v: "Network in Network " + ("(CIFAR-10)" if v.classes == 10 else "(ImageNet)"))
