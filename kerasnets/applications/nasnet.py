"""NASNet-A: "Learning Transferable Architectures for Scalable Image Recognition" (Zoph, Vasudevan,
Shlens & Le, CVPR 2018, arXiv:1707.07012), Figure 4 (the Normal and Reduction cells of NASNet-A),
Figure 2 (the ImageNet stack) and Tables 2-3 (NASNet-A (6 @ 4032) and the mobile (4 @ 1056)).

A NASNet-A (N @ P) has N Normal cells per resolution and P filters in its penultimate layer (the
concatenation of the last cell: 6 branches of P / 24 filters at the last resolution):

    stage  cells                                             filters per branch (F = P / 24)
    stem   3x3 conv /2 (`stem_block_filters`), BN;
           reduction cell (F / 4), reduction cell (F / 2)    the two "stem" cells of Figure 2
    1      N normal cells                                    F
    2      reduction cell, N normal cells                    F x m   (m = `filter_multiplier`)
    3      reduction cell, N normal cells                    F x m^2
    head   ReLU, global average pool, classifier

Each cell takes the two previous hidden states: the current input (1x1 conv + BN: "h") and the
previous one ("p"), "adjusted" first when its resolution (factorized reduction: two 1x1 convs on
offset, stride-2 subsamplings, concatenated) or its width (1x1 projection) differs. A cell is a
table of five combinations (left op, left input, right op, right input) whose two results are
added; `NORMAL_CELL` and `REDUCTION_CELL` below are Figure 4 as data. Separable ops are applied
twice (ReLU, separable conv, BN, x 2) as in the paper's appendix. With `skip_reduction` (NASNet
Large) the cell after a reduction cell takes as "p" the state before the reduction cell's own "p".

`NASNetMobile` and `NASNetLarge` hold keras.applications' weights in keras' order and shapes and
give the same outputs (tested); layers follow this project's names (`stem_*`,
`stage{s}_block{b}_*` with block 1 of stages 2-3 the reduction cell, `stage{s}_out` after the last
Normal cell of each stage).

`nasnet_large_timm` is timm's `nasnetalarge` (TF-slim's NASNet-A Large as timm ports it, with TF
"SAME" padding throughout): the layers and parameters of `nasnet_large`, but its three strided
3x3 max-pools per reduction cell pad with -inf (TF's "SAME", as TF-slim trained it), where keras
pads with zeros before a valid pool (which changes a window's maximum where all its values are
negative). Strided average pools count the zero padding in both. It loads timm's
`nasnetalarge.tf_in1k` through `TIMM_MAPPING` (tested equal on random weights).
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import (correct_pad, finish, gap_head, model_input,
                                            register_family)
from kerasnets.applications._torch_names import nested, rename_rules
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import (KERAS_URL, Published, Transform, keras_checkpoint,
                                       timm_checkpoint)

PAPER = Paper("Learning Transferable Architectures for Scalable Image Recognition", "1707.07012",
              2018)
BN = dict(momentum=0.9997, epsilon=1e-3)  # the TF-slim / keras.applications constants


@dataclasses.dataclass(frozen=True)
class NASNetSpec:
    """NASNet-A (`num_blocks` @ `penultimate_filters`)."""

    penultimate_filters: int  # P
    num_blocks: int  # N, Normal cells per stage
    stem_block_filters: int  # the first 3x3 convolution
    skip_reduction: bool  # the cell after a reduction skips it for its "p" input
    filter_multiplier: int = 2  # width growth per reduction
    # strided max-pools: "zeros" (keras: zero padding, then a valid pool) or "same" (TF's SAME,
    # padding never selected: TF-slim, timm)
    max_pool_padding: str = "zeros"

    def __post_init__(self):
        if self.penultimate_filters % (24 * self.filter_multiplier ** 2):
            raise ValueError(f"NASNet-A needs penultimate_filters divisible by 24 * "
                             f"filter_multiplier ** 2 = {24 * self.filter_multiplier ** 2}, got "
                             f"{self.penultimate_filters}.")
        if self.num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {self.num_blocks}.")
        if self.max_pool_padding not in ("zeros", "same"):
            raise ValueError(f"max_pool_padding must be 'zeros' or 'same', got "
                             f"{self.max_pool_padding!r}.")


@dataclasses.dataclass(frozen=True)
class Cell:
    """Five combinations (left op, left input, right op, right input), each the sum of its two
    ops; inputs are "h" (this cell's input), "p" (the previous cell's input) or the number of an
    earlier combination. Ops: "sep{k}" (separable k x k, twice), "avg3", "max3", "id"; "/2"
    marks stride 2. `concat` lists the hidden states that form the cell's output."""

    combinations: tuple[tuple[str, object, str, object], ...]
    concat: tuple[object, ...]
    reduction: bool


NORMAL_CELL = Cell((("sep5", "h", "sep3", "p"),
                    ("sep5", "p", "sep3", "p"),
                    ("avg3", "h", "id", "p"),
                    ("avg3", "p", "avg3", "p"),
                    ("sep3", "h", "id", "h")),
                   concat=("p", 1, 2, 3, 4, 5), reduction=False)
REDUCTION_CELL = Cell((("sep5/2", "h", "sep7/2", "p"),
                       ("max3/2", "h", "sep7/2", "p"),
                       ("avg3/2", "h", "sep5/2", "p"),
                       ("id", 2, "avg3", 1),
                       ("sep3", 1, "max3/2", "h")),
                      concat=(2, 3, 4, 5), reduction=True)

_KERAS = ("keras.applications {}: {} parameters in all, of which {} are BatchNorm moving "
          "statistics; paper Table {}: {} for NASNet-A ({} @ {})")

# One record per variant; register_family (after _nasnet) makes the builders and __all__.
_TABLE = [
    Variant("nasnet_mobile", "NASNetMobile", NASNetSpec(1056, 4, 32, skip_reduction=False),
            5_289_978,
            _KERAS.format("NASNetMobile", "5,326,716", "36,738", 3, "5.3M", 4, 1056),
            keras_equivalent="NASNetMobile"),
    Variant("nasnet_large", "NASNetLarge", NASNetSpec(4032, 6, 96, skip_reduction=True),
            88_753_150,
            _KERAS.format("NASNetLarge", "88,949,818", "196,668", 2, "88.9M", 6, 4032),
            keras_equivalent="NASNetLarge", input_shape=(331, 331, 3)),
    Variant("nasnet_large_timm", "NASNetALarge",
            NASNetSpec(4032, 6, 96, skip_reduction=True, max_pool_padding="same"), 88_753_150,
            "timm nasnetalarge (TF-slim's NASNet-A Large, TF SAME padding)",
            input_shape=(331, 331, 3),
            aliases=("nasnetalarge",)),
]


def _bn(x, name):
    return layers.BatchNormalization(**BN, name=name)(x)


def _conv1x1(x, filters, name):
    return layers.Conv2D(filters, 1, padding="same", use_bias=False,
                         kernel_initializer="he_normal", name=name)(x)


def separable_block(x, filters, kernel_size, *, strides=1, name):
    """ReLU, separable conv (stride `strides`), BN, ReLU, separable conv, BN."""
    for i in (1, 2):
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
        padding = "same"
        if i == 1 and strides > 1:
            x = layers.ZeroPadding2D(correct_pad(x, kernel_size), name=f"{name}_pad")(x)
            padding = "valid"
        x = layers.SeparableConv2D(filters, kernel_size, strides=strides if i == 1 else 1,
                                   padding=padding, use_bias=False, name=f"{name}_sep{i}")(x)
        x = _bn(x, f"{name}_bn{i}")
    return x


def adjust_block(p, x, filters, *, reduce, name):
    """The previous hidden state `p` brought to the shape of `x`: a factorized reduction when
    `reduce` (p has twice x's resolution), a 1x1 projection when only the width differs."""
    if reduce:
        p = layers.Activation("relu", name=f"{name}_relu")(p)
        p1 = layers.AveragePooling2D(1, strides=2, name=f"{name}_pool1")(p)
        p1 = _conv1x1(p1, filters // 2, f"{name}_conv1")
        p2 = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(p)
        p2 = layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}_crop")(p2)  # shift by one pixel
        p2 = layers.AveragePooling2D(1, strides=2, name=f"{name}_pool2")(p2)
        p2 = _conv1x1(p2, filters // 2, f"{name}_conv2")
        p = layers.Concatenate(name=f"{name}_concat")([p1, p2])
        return _bn(p, f"{name}_bn")
    if p.shape[-1] != filters:
        p = layers.Activation("relu", name=f"{name}_relu")(p)
        p = _conv1x1(p, filters, f"{name}_conv")
        return _bn(p, f"{name}_bn")
    return p


def _op(op, key, states, padded, filters, *, max_pool_padding="zeros", name):
    """Apply `op` (see `Cell`) to the hidden state `states[key]`."""
    x = states[key]
    kind, _, stride = op.partition("/")
    strides = int(stride or 1)
    if kind == "id":
        return x
    if kind.startswith("sep"):
        return separable_block(x, filters, int(kind[3:]), strides=strides, name=name)
    pool = {"avg": layers.AveragePooling2D, "max": layers.MaxPooling2D}[kind[:3]]
    if strides > 1 and kind.startswith("max") and max_pool_padding == "same":
        return pool(int(kind[3:]), strides=strides, padding="same", name=f"{name}_maxpool")(x)
    if strides > 1:
        return pool(int(kind[3:]), strides=strides, name=f"{name}_{kind[:3]}pool")(padded(key))
    return pool(int(kind[3:]), strides=1, padding="same", name=f"{name}_{kind[:3]}pool")(x)


def nasnet_cell(x, p, cell: Cell, filters, *, reduce_p, max_pool_padding="zeros", name):
    """One cell on the current input `x` and the previous hidden state `p` (None: use `x`);
    `reduce_p` says that `p` has twice `x`'s resolution; `max_pool_padding` as in `NASNetSpec`."""
    p = x if p is None else adjust_block(p, x, filters, reduce=reduce_p, name=f"{name}_adjust")
    h = layers.Activation("relu", name=f"{name}_h_relu")(x)
    h = _bn(_conv1x1(h, filters, f"{name}_h_conv"), f"{name}_h_bn")
    states = {"h": h, "p": p}
    pads = {}

    def padded(key):  # the input of a strided pooling, padded once per cell as keras does
        if key not in pads:
            pads[key] = layers.ZeroPadding2D(correct_pad(states[key], 3),
                                             name=f"{name}_{key}_pad")(states[key])
        return pads[key]

    for i, (left, left_in, right, right_in) in enumerate(cell.combinations, start=1):
        a = _op(left, left_in, states, padded, filters, max_pool_padding=max_pool_padding,
                name=f"{name}_comb{i}_left")
        b = _op(right, right_in, states, padded, filters, max_pool_padding=max_pool_padding,
                name=f"{name}_comb{i}_right")
        states[i] = layers.Add(name=f"{name}_comb{i}_add")([a, b])
    return layers.Concatenate(name=f"{name}_concat")([states[k] for k in cell.concat])


def _nasnet(spec: NASNetSpec, *, include_top, weights, input_tensor, input_shape, pooling,
            classes, classifier_activation, name, default_shape, min_size):
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    m, filters = spec.filter_multiplier, spec.penultimate_filters // 24
    x = layers.Conv2D(spec.stem_block_filters, 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer="he_normal", name="stem_conv")(x)
    x = _bn(x, "stem_bn")
    # (cell, filters per branch, name, the stage that it closes or None), in order
    plan = [(REDUCTION_CELL, filters // m ** 2, "stem_reduce1", None),
            (REDUCTION_CELL, filters // m, "stem_reduce2", None)]
    for s in range(1, 4):
        cells = [REDUCTION_CELL] * (s > 1) + [NORMAL_CELL] * spec.num_blocks
        width = filters * m ** (s - 1)
        plan += [(cell, width, f"stage{s}_block{b}", s if b == len(cells) else None)
                 for b, cell in enumerate(cells, start=1)]
    # p, and whether p has twice x's resolution; p is None before the first cell
    p, p_reduced = None, False
    for cell, width, cell_name, closes in plan:
        out = nasnet_cell(x, p, cell, width, reduce_p=p_reduced,
                          max_pool_padding=spec.max_pool_padding, name=cell_name)
        if closes:
            out = layers.Identity(name=f"stage{closes}_out")(out)
        if cell.reduction and spec.skip_reduction and cell_name.startswith("stage"):
            p_reduced = True  # keep this cell's own p, now at twice the resolution of `out`
        else:
            p, p_reduced = x, cell.reduction
        x = out
    x = layers.Activation("relu", name="post_relu")(x)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


# All three take inputs scaled to [-1, 1]: keras' NASNets and timm's TF-slim port alike.
# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "nasnet_large": (
        keras_checkpoint("NASNetLarge",
            Published("NASNet-large.h5", "NASNet-large-no-top.h5", KERAS_URL + "nasnet/",
                "11577c9a518f0070763c2b964a382f17", "d81d89dc07e6e56530c4e77faddd61b5"),
            Transform(331, 378, normalization="tf"), top1=82.5, top5=96.0, size_mb=343),
    ),
    "nasnet_large_timm": (
        timm_checkpoint("nasnetalarge", "tf_in1k",
            Transform.from_crop(331, 0.911, interpolation="bicubic", normalization="tf"),
            top1=82.626, note="TF-slim's checkpoint as ported by Cadene / timm"),
    ),
    "nasnet_mobile": (
        keras_checkpoint("NASNetMobile",
            Published("NASNet-mobile.h5", "NASNet-mobile-no-top.h5", KERAS_URL + "nasnet/",
                "020fb642bf7360b370c678b08e0adf61", "1ed92395b5b598bdda52abe5c0dbfd63"),
            Transform(224, 256, normalization="tf"), top1=74.4, top5=91.9, size_mb=23),
    ),
}

VARIANTS = register_family(
    globals(), _nasnet, _TABLE, family="nasnet", paper=PAPER, preprocessing="tf", min_size=32,
    test_size=32,
    doc=lambda v: (f"NASNet-A ({v.spec.num_blocks} @ {v.spec.penultimate_filters})"
                   + ("" if v.keras_equivalent else " (timm's nasnetalarge)")),
    weights=WEIGHTS, torch_mapping=lambda variant: TIMM_MAPPING)


def _cell_name(cell: str) -> str:
    """timm's cell -> ours: `cell_{k}` are the Normal cells, 6 per stage after each reduction."""
    if cell.startswith("cell_stem_"):
        return f"stem_reduce{int(cell[-1]) + 1}"
    if cell.startswith("reduction_cell_"):
        return f"stage{int(cell[-1]) + 2}_block1"
    k = int(cell[5:])
    return f"stage{k // 6 + 1}_block{k % 6 + 1 + (k >= 6)}"


# inside a cell: (pattern, name) on the path after the cell's name
_TIMM_CELL_RULES = (
    (r"conv_1x1\.(?P<t>conv|bn)", "h_{t}"),
    (r"conv_prev_1x1\.(?P<t>conv|bn)", "adjust_{t}"),  # width projection of p
    (r"path_(?P<k>[12])\.conv", "adjust_conv{k}"),  # factorized reduction of p
    (r"final_path_bn", "adjust_bn"),
    *nested(r"comb_iter_(?P<i>\d)_(?P<side>left|right)",
            lambda m: f"comb{int(m['i']) + 1}_{m['side']}",
            ((r"separable_(?P<k>[12])\.(?P<part>depthwise|pointwise)_conv2d", "sep{k}/{part}"),
             (r"bn_sep_(?P<k>[12])", "bn{k}"))),
)
_TIMM_RULES = (
    (r"conv0\.(?P<t>conv|bn)", "stem_{t}"),
    (r"last_linear", "predictions"),
    *nested(r"(?P<cell>cell_stem_[01]|reduction_cell_[01]|cell_\d+)",
            lambda m: _cell_name(m["cell"]), _TIMM_CELL_RULES),
)


TIMM_MAPPING = TorchMapping(
    rename_rules(_TIMM_RULES),
    taps={"stage1_out": "cell_5", "stage2_out": "cell_11", "stage3_out": "cell_17"},
    head=("predictions",))
