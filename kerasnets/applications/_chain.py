"""The plain convolution chains of 2012-2014 (AlexNet, ZFNet, OverFeat, CNN-F/M/S): each variant is
a table of layers (`ChainSpec`) and one builder turns any table into a model.

A table has a stem (the first convolution with its normalisation and pooling) and stages (a run of
layers at one resolution, ending at its pooling); then fully connected layers. Layer names:
`stem_conv`, `stem_relu`, `stem_lrn`, `stem_pool`; `stage{s}_block{b}_{pad,conv,relu,lrn}` for the
convolutions of stage s, `stage{s}_pool` (and `stage{s}_lrn` for a normalisation after the pooling),
`stage{s}_out`; then `flatten`, `fc{i}`, `fc{i}_dropout`, `predictions`. Every convolution and
fully connected layer has a bias and a ReLU, as in all these papers.
"""

from __future__ import annotations

import dataclasses
from typing import Union

from keras import layers

from kerasnets.applications._common import finish, flatten_fc_head, model_input
from kerasnets.layers import CeilModeMaxPooling2D, LocalResponseNormalization, conv_bn_act


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

    def __post_init__(self):
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


def chain_model(spec: ChainSpec, *, include_top, weights, input_tensor, input_shape, pooling,
                classes, classifier_activation, name, default_shape, min_size, dropout=0.5,
                groups=1):
    """Build the chain `spec`; `groups` applies to the convolutions marked `split`."""
    if groups < 1:
        raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}.")
    if groups > 1 and not any(isinstance(layer, Conv) and layer.split for layer in spec.layers):
        raise ValueError(f"{name} has no grouped (two-tower) convolutions; groups must be 1, "
                         f"got {groups}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name, require_static=include_top)
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
    x = flatten_fc_head(x, include_top=include_top, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, units=spec.fc,
                        dropout=dropout)
    return finish(inputs, x, name=name, weights=weights)
