"""Xception: "Xception: Deep Learning with Depthwise Separable Convolutions" (Chollet, CVPR 2017,
arXiv:1610.02357), Figure 5.

    stage    output (299 in)  layers                                  flow    keras blocks
    stem     147x147x64       3x3/2 32, 3x3 64 (valid)                entry   block1
    1        74x74x128        [sep 3x3 128, sep 3x3 128, max-pool/2]  entry   block2
    2        37x37x256        [ReLU, sep 256, ReLU, sep 256, pool/2]  entry   block3
    3        19x19x728        [ReLU, sep 728, ReLU, sep 728, pool/2]  entry   block4
                              8 x [ReLU, sep 728] x 3, identity        middle  block5-12
    4        10x10x2048       [ReLU, sep 728, ReLU, sep 1024, pool/2] exit    block13
                              sep 1536, ReLU, sep 2048, ReLU           exit    block14
    head                      global average pool, dropout 0.5 (section 4.3), fully connected

Every (separable) convolution is unbiased and followed by BatchNorm (epsilon 0.001); the blocks
that downsample (3x3/2 max-pool, "same") have a 1x1/2 convolution + BatchNorm shortcut, the middle
flow's an identity. Stages end at the grid reductions (strides 4, 8, 16, 32). The layers are
keras.applications' Xception's, created in the same order: same weights, same outputs (tested).
keras has no dropout; `dropout=0.0` reproduces it exactly. Names, for block b of stage s:
`stage{s}_block{b}_0_conv` / `_0_bn` (projection shortcut), `_{j}_relu`, `_{j}_sepconv`, `_{j}_bn`
per separable convolution, `_pool`, `_add`; block14 is `stage4_block2`.

`legacy_xception` is timm's `legacy_xception` (Cadene's PyTorch port of keras' weights): the same
layers and parameters, but BatchNorm epsilon 1e-5 (PyTorch's default) and PyTorch's max-pool
padding (one row / column of -inf on every side, `PaddedMaxPooling2D`), which picks other windows
than keras' "same" on even-sized maps (74x74 at 299 px). It loads timm's `legacy_xception.tf_in1k`
through `TIMM_MAPPING` (tested equal on random weights).
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import register_family
from kerasnets.applications._inception import dropout_head, keras_299_checkpoint
from kerasnets.applications._torch_names import nested, rename_rules
from kerasnets.layers import PaddedMaxPooling2D, conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import TIMM_RELEASES, Transform, timm_checkpoint

PAPER = Paper("Xception: Deep Learning with Depthwise Separable Convolutions", "1610.02357", 2017)
BN_EPSILON = 1e-3


@dataclasses.dataclass(frozen=True)
class XceptionSpec:
    stem_widths: tuple[int, int] = (32, 64)
    # per stage, per residual block: the widths of its separable convolutions; a block whose
    # output width differs from its input downsamples (max-pool + 1x1/2 projection shortcut)
    stages: tuple[tuple[tuple[int, ...], ...], ...] = (
        ((128, 128),),
        ((256, 256),),
        ((728, 728),) + ((728, 728, 728),) * 8,
        ((728, 1024),),
    )
    exit_widths: tuple[int, ...] = (1536, 2048)  # separable conv + BN + ReLU, no shortcut
    bn_epsilon: float = BN_EPSILON
    pool_padding: str = "same"  # "same" (keras, TF) or "torch" (-inf on every side, PyTorch)

    def __post_init__(self):
        if self.pool_padding not in ("same", "torch"):
            raise ValueError(f"pool_padding must be 'same' or 'torch', got "
                             f"{self.pool_padding!r}.")


# One record per variant; register_family (below) makes the builders and __all__.
_TABLE = [
    Variant("xception", "Xception", XceptionSpec(), 22_855_952,
            "keras.applications Xception: 22,910,480 parameters in all, of which 54,528 are "
            "BatchNorm moving statistics", keras_equivalent="Xception"),
    Variant("xception_timm", "XceptionTimm",
            XceptionSpec(bn_epsilon=1e-5, pool_padding="torch"), 22_855_952,
            "timm legacy_xception (Cadene's port of keras' Xception weights)",
            retired=("legacy_xception", "LegacyXception")),
]


def _bn(x, name, epsilon=BN_EPSILON):
    return layers.BatchNormalization(epsilon=epsilon, name=name)(x)


def _sepconv(x, filters, name):
    return layers.SeparableConv2D(filters, 3, padding="same", use_bias=False,
                                  name=f"{name}_sepconv")(x)


def xception_block(x, widths, *, preact=True, bn_epsilon=BN_EPSILON, pool_padding="same", name):
    """ReLU -> separable 3x3 -> BN, once per width (no ReLU before the first when `preact` is
    False: the stem ends in one); then, if the width changes, a 3x3/2 max-pool (`pool_padding`
    "same" or "torch") added to a 1x1/2 projection + BN of the input (`{name}_0_conv`,
    `{name}_0_bn`), else the input itself."""
    downsample = widths[-1] != x.shape[-1]
    if downsample:  # created first, as keras does
        shortcut = layers.Conv2D(widths[-1], 1, strides=2, padding="same", use_bias=False,
                                 name=f"{name}_0_conv")(x)
        shortcut = _bn(shortcut, f"{name}_0_bn", bn_epsilon)
    else:
        shortcut = x
    y = x
    for j, width in enumerate(widths, start=1):
        if preact or j > 1:
            y = layers.Activation("relu", name=f"{name}_{j}_relu")(y)
        y = _bn(_sepconv(y, width, f"{name}_{j}"), f"{name}_{j}_bn", bn_epsilon)
    if downsample and pool_padding == "torch":
        y = PaddedMaxPooling2D(3, strides=2, pad=1, name=f"{name}_pool")(y)
    elif downsample:
        y = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(y)
    return layers.Add(name=f"{name}_add")([y, shortcut])


def _xception(x, spec: XceptionSpec, *, name):
    """The body: the stem, the entry and middle flows' blocks, the exit flow."""
    for j, (width, stride) in enumerate(zip(spec.stem_widths, (2, 1)), start=1):
        x = conv_bn_act(x, width, 3, strides=stride, padding="valid", use_bias=False,
                        bn_epsilon=spec.bn_epsilon, name=f"stem_{j}")
    for s, blocks in enumerate(spec.stages, start=1):
        for b, widths in enumerate(blocks, start=1):
            x = xception_block(x, widths, preact=(s, b) != (1, 1), bn_epsilon=spec.bn_epsilon,
                               pool_padding=spec.pool_padding, name=f"stage{s}_block{b}")
        if s == len(spec.stages):
            prefix = f"stage{s}_block{len(blocks) + 1}"
            for j, width in enumerate(spec.exit_widths, start=1):
                x = _bn(_sepconv(x, width, f"{prefix}_{j}"), f"{prefix}_{j}_bn", spec.bn_epsilon)
                x = layers.Activation("relu", name=f"{prefix}_{j}_relu")(x)
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x


# preprocessing: keras' Xception weights (and timm's port of them) take [-1, 1]
# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "xception_timm": (timm_checkpoint("legacy_xception", "tf_in1k", Transform.from_crop(
        299, 0.8975, interpolation="bicubic", normalization="tf"), top1=79.04,
        url=TIMM_RELEASES + "v0.1-cadene/xception-43020ad28.pth",
        note="Cadene's port of keras' Xception weights"),),
    "xception": (keras_299_checkpoint(
        "Xception", "xception", "0a58e3b7378bc2990ea3b43d5981f1f6",
        "b0042744bf5b25fce3cb969f33bebb97", top1=79.0, top5=94.5, size_mb=88),),
}
VARIANTS = register_family(
    globals(), _xception, _TABLE, family="xception", paper=PAPER, head=dropout_head(0.5),
    preprocessing="tf", input_shape=(299, 299, 3), min_size=71, test_size=71,
    doc=lambda v: "Xception" + (" (timm's legacy_xception)" if v.keras_equivalent is None
                                else ""),
    weights=WEIGHTS, torch_mapping=lambda variant: TIMM_MAPPING)


def _block_name(n: int) -> str:
    """timm's `block{n}` (1-12) -> ours: entry flow stages 1-3, middle flow blocks 2-9 of stage 3,
    block12 opens stage 4."""
    return {1: "stage1_block1", 2: "stage2_block1", 12: "stage4_block1"}.get(
        n, f"stage3_block{n - 2}")


# `rep` holds [ReLU,] separable, BN per width (then the pool): index i is width i // 3 + 1 with
# and without the leading ReLU; the exit flow's conv3 / conv4 are stage4_block2's 1st / 2nd.
_SEPCONV = ((r"conv1", "sepconv/depthwise"), (r"pointwise", "sepconv/pointwise"))
_TIMM_RULES = (
    (r"conv(?P<i>[12])", "stem_{i}_conv"),
    (r"bn(?P<i>[12])", "stem_{i}_bn"),
    *nested(r"block(?P<n>\d+)", lambda m: _block_name(int(m["n"])), (
        (r"skip", "0_conv"),
        (r"skipbn", "0_bn"),
        *nested(r"rep\.(?P<i>\d+)", lambda m: str(int(m["i"]) // 3 + 1),
                _SEPCONV + (("", "bn"),)))),
    *nested(r"conv(?P<i>[34])", lambda m: f"stage4_block2_{int(m['i']) - 2}", _SEPCONV),
    (r"bn(?P<i>[34])", lambda m: f"stage4_block2_{int(m['i']) - 2}_bn"),
    (r"fc", "predictions"),
)


TIMM_MAPPING = TorchMapping(
    rename_rules(_TIMM_RULES),
    taps={"stage1_out": "block1", "stage2_out": "block2", "stage3_out": "block11",
          "stage4_out": "act4"},
    head=("predictions",))
