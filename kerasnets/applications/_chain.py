"""The plain convolution chains of 2012-2014 (AlexNet, ZFNet, OverFeat, CNN-F/M/S): each variant is
a table of layers (`ChainSpec`), and one body (`chain_body`) and one head (`chain_head`) build any
table.

A table has a stem (the first convolution with its normalisation and pooling) and stages (a run of
layers at one resolution, ending at its pooling); then fully connected layers. Layer names:
`stem_conv`, `stem_relu`, `stem_lrn`, `stem_pool`; `stage{s}_block{b}_{pad,conv,relu,lrn}` for the
convolutions of stage s, `stage{s}_pool` (and `stage{s}_lrn` for a normalisation after the pooling),
`stage{s}_out`; then `flatten`, `fc{i}`, `fc{i}_dropout`, `predictions` (`chain_head`). Every
convolution and fully connected layer has a bias and a ReLU, as in all these papers.

Also the Caffe-era blocks that NIN and All-CNN share: `caffe_stage` (dropout, biased convolutions
+ ReLU, `caffe_pool`: Caffe's rounded-up 3x3/2 pooling) and `class_map_head` (a 1x1 convolution
to one map per class, globally averaged).
"""

from __future__ import annotations

import dataclasses
from typing import Union

from keras import layers

from kerasnets.applications._common import FlattenHead, check_static, head_dtype, predictions
from kerasnets.layers import CeilModeMaxPooling2D, LocalResponseNormalization, conv_bn_act

HEADS = ("paper", "torchvision")
TV_POOL = 6  # torchvision's AdaptiveAvgPool2d((6, 6)) before AlexNetTV's classifier


@dataclasses.dataclass(frozen=True)
class Conv:
    """A convolution + ReLU; `padding` is the papers' explicit zero padding on each side."""

    filters: int
    kernel: int
    strides: int = 1
    padding: int = 0
    split: bool = False  # grouped when the model is built with groups > 1 (AlexNet's two towers)


@dataclasses.dataclass(frozen=True)
class Pool:
    """Max pooling; `ceil=True` rounds the output size up (Caffe, PyTorch `ceil_mode`)."""

    size: int
    strides: int
    ceil: bool = False


LRN = "lrn"  # LocalResponseNormalization, AlexNet constants (n=5, k=2, alpha=1e-4, beta=0.75)

Layer = Union[Conv, Pool, str]


@dataclasses.dataclass(frozen=True)
class ChainSpec:
    stem: tuple[Layer, ...]  # exactly one Conv, then its LRN / pooling
    stages: tuple[tuple[Layer, ...], ...]
    fc: tuple[int, ...] = (4096, 4096)  # hidden fully connected layers before the classifier
    # "paper": flatten, then each fc + ReLU + dropout; "torchvision" (AlexNetTV): average-pool
    # adaptively to TV_POOL x TV_POOL (any input size), flatten, then dropout before each fc
    head: str = "paper"

    def __post_init__(self):
        if self.head not in HEADS:
            raise ValueError(f"A chain's head must be one of {HEADS}, got {self.head!r}.")
        if sum(isinstance(layer, Conv) for layer in self.stem) != 1:
            raise ValueError(f"A chain's stem holds exactly one convolution, got {self.stem}.")
        for layer in self.stem + sum(self.stages, ()):
            if not isinstance(layer, (Conv, Pool)) and layer != LRN:
                raise ValueError(f"Unknown chain layer {layer!r}.")

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.stem + sum(self.stages, ())


def output_size(layer: Layer, size: int) -> int:
    """Spatial size after `layer` for an input of `size` (< 1: the layer cannot run)."""
    if isinstance(layer, Conv):
        return (size + 2 * layer.padding - layer.kernel) // layer.strides + 1
    if isinstance(layer, Pool):
        extra = layer.strides - 1 if layer.ceil else 0
        return (size + extra - layer.size) // layer.strides + 1
    return size


def min_input_size(spec: ChainSpec) -> int:
    """The smallest square input for which every layer of the chain has an output."""
    size = 1
    while True:
        current = size
        for layer in spec.layers:
            current = output_size(layer, current)
            if current < 1:
                break
        else:
            return size
        size += 1


def chain_body(x, spec: ChainSpec, *, name, include_top, groups=1):
    """The body of the chain `spec` (the stem and stages, up to the last `stage{s}_out`);
    `groups` applies to the convolutions marked `split`. With the top, the paper's flatten head
    needs a fixed input size (checked here: torchvision's adaptive pool takes any)."""
    if groups < 1:
        raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}.")
    if groups > 1 and not any(isinstance(layer, Conv) and layer.split for layer in spec.layers):
        raise ValueError(f"{name} has no grouped (two-tower) convolutions; groups must be 1, "
                         f"got {groups}.")
    if include_top and spec.head == "paper":
        check_static(x.shape[1:], name)
    for s, stage in enumerate((spec.stem,) + spec.stages):
        prefix = f"stage{s}" if s else "stem"
        owner, block = prefix, 0
        for layer in stage:
            if isinstance(layer, Conv):
                block += 1
                owner = f"{prefix}_block{block}" if s else prefix
                x = conv_bn_act(x, layer.filters, layer.kernel, strides=layer.strides,
                                padding=layer.padding, groups=groups if layer.split else 1,
                                use_bias=True, batch_norm=False, activation="relu", name=owner)
            elif isinstance(layer, Pool):
                pool = CeilModeMaxPooling2D if layer.ceil else layers.MaxPooling2D
                x = pool(layer.size, strides=layer.strides, name=f"{prefix}_pool")(x)
                owner = prefix
            else:
                x = LocalResponseNormalization(name=f"{owner}_lrn")(x)
        if s:
            x = layers.Identity(name=f"{prefix}_out")(x)
    return x


def chain_head(x, spec: ChainSpec, *, classes, classifier_activation, dropout=0.5):
    """The chain's classifier over `spec.fc` (`dropout` on each hidden layer): the papers'
    `FlattenHead`, or torchvision's (`spec.head == "torchvision"`): `avg_pool` (adaptive, to
    TV_POOL x TV_POOL), `flatten`, then `fc{i}_dropout` *before* each `fc{i}`."""
    if spec.head == "paper":
        return FlattenHead(spec.fc, dropout)(x, spec, classes=classes,
                                             classifier_activation=classifier_activation)
    x = layers.AdaptiveAveragePooling2D(TV_POOL, name="avg_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(spec.fc, start=1):
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
        x = layers.Dense(width, activation="relu", name=f"fc{i}")(x)
    return predictions(x, classes, classifier_activation)


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


def caffe_stage(x, convs, *, pool=None, dropout=0.0, name):
    """A stage of NIN / All-CNN: dropout on its input (`{name}_dropout`, when `dropout` > 0),
    biased convolutions + ReLU `{name}_block{b}` from `(filters, kernel, stride, pad)` rows
    (an int pad: "same" where that is what it gives; or a Keras padding string), Caffe's 3x3/2
    `pool` ("max", "avg" or None: `{name}_pool`), then `{name}_out`."""
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    for b, (filters, kernel, stride, pad) in enumerate(convs, start=1):
        if not isinstance(pad, str):
            pad = "same" if stride == 1 and 2 * pad == kernel - 1 else pad
        x = conv_bn_act(x, filters, kernel, strides=stride, padding=pad, batch_norm=False,
                        use_bias=True, name=f"{name}_block{b}")
    if pool:
        x = caffe_pool(x, pool, name=f"{name}_pool")
    return layers.Identity(name=f"{name}_out")(x)


def class_map_head(x, spec=None, *, classes, classifier_activation, class_map_activation="relu"):
    """NIN's and All-CNN's head: 1x1 convolution to `classes` maps (`classifier_conv`, + ReLU:
    `class_map_activation`) -> global average pooling (`avg_pool`) -> `classifier_activation`
    ("predictions"). Without the top the body's features are pooled as usual."""
    x = conv_bn_act(x, classes, 1, padding="valid", batch_norm=False, use_bias=True,
                    activation=class_map_activation, name="classifier")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Activation(classifier_activation, name="predictions", dtype=head_dtype())(x)
