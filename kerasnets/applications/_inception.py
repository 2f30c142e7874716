"""What the Inception families share (googlenet, bn_inception, inception_v3): a module is a tuple of
branches applied to the same input and concatenated; a branch is a tuple of operations, written as
data (`Conv`, `Pool`, `Split`), so every family's tables read like the papers' tables.

Layer names, for a module called `name` (`stage{s}_block{b}`): `{name}_{i}_{j}_*` is operation j
of branch i (both from 1): a convolution's `_conv`, `_bn`, `_relu` (and `_pad`), a pooling's
`_pool` (and `_pad`); a `Split` adds `a` / `b` to its two convolutions' names and concatenates them
in `{name}_{i}_{j}_concat`; the module ends in the concatenation `{name}_concat`. The convolution
itself is the family's (`conv(x, filters, kernel, *, strides, padding, name)`), since the families
differ there: bias and no BatchNorm (GoogLeNet), BatchNorm (BN-Inception), `conv_bn` (TF-slim's
unbiased convolution + BatchNorm with epsilon 1e-3, with or without its scale: Inception v3, v4,
Inception-ResNet).

Also shared: the "V" (valid) convolutions, pools and Reduction-A of Inception-v4 and
Inception-ResNet, `modules` (a stem of operations and modules in order), timm's branch names
(`TIMM_BRANCH_RULES`), and `dropout_head` (the usual head with a checked `dropout` option).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Union

from keras import layers

from kerasnets.applications._common import GapHead
from kerasnets.layers import CeilModeMaxPooling2D, LocalResponseNormalization
from kerasnets.weights.records import Transform, keras_checkpoint, tf_kernels

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
class LRN:
    """Caffe's local response normalization, `{name}_lrn` (bvlc_googlenet: local_size 5, alpha
    1e-4 divided by the window, beta 0.75, k 1)."""

    size: int = 5
    alpha: float = 1e-4 / 5
    beta: float = 0.75
    k: float = 1.0


@dataclasses.dataclass(frozen=True)
class Split:
    """Two convolutions of the same input, concatenated (Inception v3's 8x8 modules, Fig. 7)."""

    a: Conv
    b: Conv


Op = Union[Conv, Pool, Split, LRN]
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
    if isinstance(op, LRN):
        return LocalResponseNormalization(size=op.size, k=op.k, alpha=op.alpha, beta=op.beta,
                                          name=f"{name}_lrn")(x)
    if isinstance(op, Split):
        parts = [apply(x, half, conv, name=f"{name}{tag}") for half, tag in ((op.a, "a"),
                                                                              (op.b, "b"))]
        return layers.Concatenate(name=f"{name}_concat")(parts)
    return conv(x, op.filters, op.kernel, strides=op.strides, padding=op.padding, name=name)


# torchvision's `transform_input` (GoogLeNet, Inception v3): weights trained on [-1, 1] inputs fed
# ImageNet mean / std normalised ones, turned back per channel into (pixel - 0.5) / 0.5
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


# how torchvision builds the published GoogLeNet / Inception v3 (`Checkpoint.build_options`)
TV_BUILD_OPTIONS = (("transform_input", True), ("aux_logits", False), ("init_weights", True))


def keras_299_checkpoint(app, name, md5_top, md5_notop, *, top1, top5, size_mb):
    """The `Checkpoint` of keras.applications' `app` (Inception v3, Inception-ResNet-v2,
    Xception): `tf_kernels` files `name`, a 299 crop of 341, [-1, 1] inputs."""
    return keras_checkpoint(app, tf_kernels(name, f"{name}/", md5_top, md5_notop),
                            Transform(299, 341, normalization="tf"), top1=top1, top5=top5,
                            size_mb=size_mb)


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



def inception_stages(x, stages, conv, *, side=None, opening=None):
    """Stages of modules (each a tuple of branches): `stage{s}_block{b}`, then `stage{s}_out`.
    `opening(x, s)` runs before each stage's modules (a stage's max-pool), and `side(x, s, b)`
    after each module (an auxiliary classifier's tap): the side outputs it returns (not None)
    come back as the list of `(features, side_outputs)`."""
    taps = []
    for s, stage in enumerate(stages, start=1):
        if opening is not None:
            x = opening(x, s)
        for b, branches in enumerate(stage, start=1):
            x = inception_module(x, branches, conv, name=f"stage{s}_block{b}")
            tap = side(x, s, b) if side is not None else None
            if tap is not None:
                taps.append(tap)
        x = layers.Identity(name=f"stage{s}_out")(x)
    return (x, taps) if side is not None else x


def torch_stem(x, ops, conv, *, name, transform, aux_logits, include_top):
    """The start of the torchvision-ported Inceptions (GoogLeNet, v3): the check that auxiliary
    classifiers come with the top, torchvision's `transform_input` (`stem_transform_input`)
    when asked, then the stem's operations `stem_{j}` (`modules`)."""
    if aux_logits and not include_top:
        raise ValueError(f"{name}: aux_logits=True adds classifiers; it needs include_top=True.")
    if transform:
        x = transform_input(x, name="stem_transform_input")
    return modules(x, ops, conv)


def modules(x, ops, conv, *, name="stem"):
    """Operations (`Conv`, `Pool`, `LRN`) and modules (tuples of branches) in order, the j-th
    named `{name}_{j}`; None is an operation left out (its number kept)."""
    for j, op in enumerate(ops, start=1):
        if op is None:
            continue
        x = (inception_module(x, op, conv, name=f"{name}_{j}") if isinstance(op, tuple)
             else apply(x, op, conv, name=f"{name}_{j}"))
    return x


def conv_bn(x, filters, kernel, *, strides=1, padding="same", scale=True, name):
    """TF-slim's convolution: unbiased, BatchNorm (epsilon 0.001; no gamma with `scale=False`, as
    TF-slim's Inception v3 / Inception-ResNet-v2 and keras.applications), ReLU: `{name}_conv`,
    `{name}_bn`, `{name}_relu`. An int `padding` pads explicitly first (`{name}_pad`)."""
    if not isinstance(padding, str):
        x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-3, scale=scale, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


# Inception-v4 / Inception-ResNet (arXiv:1602.07261) building blocks
MAX_POOL_V2 = Pool("max", 3, 2, "valid")  # the figures' 3x3/2 "V" max-pool
AVG_POOL = Pool("avg", 3, 1, "same")  # the modules' pool branch (padding not averaged)


def V(filters, kernel, strides=1) -> Conv:
    """A valid-padded convolution (marked "V" in the figures; the others are "same")."""
    return Conv(filters, kernel, strides, "valid")


def reduction_a(k, l, m, n):
    """Figure 7: 3x3/2 n V | 1x1 k, 3x3 l, 3x3/2 m V | 3x3/2 max-pool V, in the branch order of
    TF-slim, keras.applications and timm (which fixes the channel order)."""
    return ((V(n, 3, 2),), (Conv(k, 1), Conv(l, 3), V(m, 3, 2)), (MAX_POOL_V2,))


# timm / Cadene's Inception ports: module path -> layer name, as `_torch_names` rules. Inside a
# module, `branch{b}` (a single ConvNormAct), `branch{b}.{j}` (a Sequential, pools included) and
# `branch{b}_{j}{a|b}` (Inception-C's split convolutions) are our operation j+1 of branch b+1.
TIMM_BRANCH_RULES = (
    (r"branch(?P<b>\d)\.(?P<j>\d+)\.(?P<t>conv|bn)",
     lambda m: f"{int(m['b']) + 1}_{int(m['j']) + 1}_{m['t']}"),
    (r"branch(?P<b>\d)\.(?P<t>conv|bn)", lambda m: f"{int(m['b']) + 1}_1_{m['t']}"),
    (r"branch(?P<b>\d)_(?P<j>\d)(?P<ab>[ab]?)\.(?P<t>conv|bn)",
     lambda m: f"{int(m['b']) + 1}_{int(m['j']) + 1}{m['ab']}_{m['t']}"),
)


def dropout_head(default: float):
    """The usual head (`GapHead`: global average pool, dropout, Dense) whose dropout is the
    family option `dropout` (default `default`), a rate in [0, 1)."""

    def head(x, spec=None, *, classes, classifier_activation, dropout=default):
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        return GapHead(dropout)(x, spec, classes=classes,
                                classifier_activation=classifier_activation)

    return head
