"""What the Inception families share (googlenet, bn_inception, inception_v3): a module is a tuple of
branches applied to the same input and concatenated; a branch is a tuple of operations, written as
data (`Conv`, `Pool`, `Split`), so every family's tables read like the papers' tables.

Layer names, for a module called `name` (`stage{s}_block{b}`): `{name}_{i}_{j}_*` is operation j
of branch i (both from 1): a convolution's `_conv`, `_bn`, `_relu` (and `_pad`), a pooling's
`_pool` (and `_pad`); a `Split` adds `a` / `b` to its two convolutions' names and concatenates them
in `{name}_{i}_{j}_concat`; the module ends in the concatenation `{name}_concat`. The convolution
itself is the family's (`conv(x, filters, kernel, *, strides, padding, name)`), since the families
differ there: bias and no BatchNorm (GoogLeNet), BatchNorm (BN-Inception), BatchNorm without scale
(keras' Inception v3).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Union

from keras import layers

from kerasnets.layers import CeilModeMaxPooling2D

Padding = Union[str, int]  # "same", "valid", or explicit zero padding on every side


@dataclasses.dataclass(frozen=True)
class Conv:
    filters: int
    kernel: Union[int, tuple[int, int]]
    strides: int = 1
    padding: Padding = "same"


@dataclasses.dataclass(frozen=True)
class Pool:
    """Max or average pooling. `padding`: "same" / "valid" as in Keras (an average over "same"
    padding counts only the pixels inside); an int zero-pads explicitly first, so an average counts
    the padding (Caffe, PyTorch `count_include_pad`); "ceil" rounds the output size up (Caffe's max
    pooling, `CeilModeMaxPooling2D`)."""

    kind: str  # "max" | "avg"
    size: int = 3
    strides: int = 1
    padding: Padding = "same"

    def __post_init__(self):
        if self.kind not in ("max", "avg"):
            raise ValueError(f"Pool kind must be 'max' or 'avg', got {self.kind!r}.")
        if self.padding == "ceil" and self.kind != "max":
            raise ValueError("Ceil-mode pooling is implemented for max pooling only.")


@dataclasses.dataclass(frozen=True)
class Split:
    """Two convolutions of the same input, concatenated (Inception v3's 8x8 modules, Fig. 7)."""

    a: Conv
    b: Conv


Op = Union[Conv, Pool, Split]
Branch = tuple[Op, ...]
ConvFn = Callable[..., object]


def pool(x, op: Pool, *, name):
    """The pooling `op`: layers `{name}_pool` (and `{name}_pad` for explicit padding)."""
    if op.padding == "ceil":
        return CeilModeMaxPooling2D(op.size, op.strides, name=f"{name}_pool")(x)
    padding = op.padding
    if not isinstance(padding, str):
        x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        padding = "valid"
    layer = layers.MaxPooling2D if op.kind == "max" else layers.AveragePooling2D
    return layer(op.size, op.strides, padding=padding, name=f"{name}_pool")(x)


def apply(x, op: Op, conv: ConvFn, *, name):
    """One operation of a branch (or of a stem) under the prefix `name`."""
    if isinstance(op, Pool):
        return pool(x, op, name=name)
    if isinstance(op, Split):
        parts = [apply(x, half, conv, name=f"{name}{tag}") for half, tag in ((op.a, "a"),
                                                                              (op.b, "b"))]
        return layers.Concatenate(name=f"{name}_concat")(parts)
    return conv(x, op.filters, op.kernel, strides=op.strides, padding=op.padding, name=name)


# torchvision's `transform_input` (GoogLeNet, Inception v3): weights trained on [-1, 1] inputs fed
# ImageNet mean / std normalised ones, turned back per channel into (pixel - 0.5) / 0.5
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def transform_input(x, *, name):
    """torchvision's `transform_input` as one `Rescaling` layer `name`: x * std / 0.5 +
    (mean - 0.5) / 0.5 per channel."""
    return layers.Rescaling(scale=[std / 0.5 for std in TORCH_STD],
                            offset=[(mean - 0.5) / 0.5 for mean in TORCH_MEAN], name=name)(x)


def inception_module(x, branches: tuple[Branch, ...], conv: ConvFn, *, name):
    """The branches of one module side by side, concatenated along the channels in table order."""
    outputs = []
    for i, branch in enumerate(branches, start=1):
        y = x
        for j, op in enumerate(branch, start=1):
            y = apply(y, op, conv, name=f"{name}_{i}_{j}")
        outputs.append(y)
    return layers.Concatenate(name=f"{name}_concat")(outputs)

