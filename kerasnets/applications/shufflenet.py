"""ShuffleNet: "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
Devices" (Zhang, Zhou, Lin & Sun, CVPR 2018, arXiv:1707.01083), Table 1.

    layer        output   stride  repeat  output channels (g = 1 / 2 / 3 / 4 / 8)
    image        224x224                  3
    conv1        112x112  2       1       24              (3x3 + BN + ReLU: `stem`)
    max-pool      56x56   2               24              (3x3)
    stage 2       28x28   2 / 1   1 / 3   144 / 200 / 240 / 272 / 384
    stage 3       14x14   2 / 1   1 / 7   288 / 400 / 480 / 544 / 768
    stage 4        7x7    2 / 1   1 / 3   576 / 800 / 960 / 1088 / 1536
    global average pool, 1000-d fc, softmax

The paper's stages 2-4 are `stage1..stage3` here. A ShuffleNet unit (Fig. 2) is a grouped 1x1
convolution to a quarter of the unit's output width (+ BN + ReLU), a channel shuffle, a 3x3
depthwise convolution (+ BN, no ReLU; stride 2 in a stage's first unit), a grouped 1x1
convolution (+ BN), added to the input, then a ReLU. The stride-2 unit concatenates a 3x3/2
average-pooled shortcut instead (so its 1x1 produces the output width minus the input width), and
stage 2's first 1x1 is not grouped (too few input channels, section 3.3). Grouped convolutions go
through `kerasnets.layers.conv2d`. "ShuffleNet s x" multiplies every width by s; conv1's 24 becomes
`int(24 * s)` (pytorchcv) unless the spec's `stem` says otherwise: the authors' megvii-model
ShuffleNet-Series keeps 24 at 1.5x, and only then does 1.5x give Table 5's 292 MFLOPs (36: 300).

Reference counts are pytorchcv's exact ones (osmr/imgclsmob, whose ShuffleNet this layout follows;
they do not depend on the concatenation order, which follows megvii's: shortcut first); for 1.5x
and 2x, which pytorchcv does not ship, they are exact counts of this layout, with megvii's rounded
figures cited. Table 2 / 5 give multiply-adds (MFLOPs), checked against
`kerasnets.zoo.flops.count_flops` in the tests (1x: 134-143 for Table 2's 140; 0.5x: 37.6 for 38; 2x:
524.0 for 524). Not registered: pytorchcv's 0.25x (conv1 6 wide: 11.0 MFLOPs where Table 2 says 13,
which a 12-wide conv1 gives).
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.layers import conv_bn_act
from kerasnets.layers.shuffle import ChannelShuffle
from kerasnets.zoo.registry import Paper, Variant

__all__ = ["ShuffleNet"]  # register_family adds one builder per variant

PAPER = Paper("ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
              "1707.01083", 2018)

STEM_WIDTH = 24
WIDTHS = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088),
          8: (384, 768, 1536)}  # Table 1: output channels of stages 2-4 at 1x


@dataclasses.dataclass(frozen=True)
class ShuffleNetSpec:
    groups: int  # g of the pointwise group convolutions
    scale: float = 1.0  # s of "ShuffleNet s x"
    depths: tuple[int, ...] = (4, 8, 4)  # units per stage, the first with stride 2
    stem: int | None = None  # conv1's width; None: int(24 * scale)

    def __post_init__(self):
        if self.groups not in WIDTHS:
            raise ValueError(f"ShuffleNet groups must be one of {sorted(WIDTHS)}, "
                             f"got {self.groups}.")
        if len(self.depths) != len(WIDTHS[self.groups]) or min(self.depths) < 1:
            raise ValueError(f"depths must give 3 stages of one unit or more, got {self.depths}.")
        g, previous = self.groups, self.stem_width
        for s, width in enumerate(self.widths):
            grouped = (width // 4, width - previous, width) + ((previous,) if s else ())
            if any(c < 1 or c % g for c in grouped):
                raise ValueError(f"ShuffleNet {self.scale}x with g={g}: stage widths "
                                 f"{self.widths} do not split into {g} groups.")
            previous = width

    @property
    def stem_width(self) -> int:
        return self.stem or int(STEM_WIDTH * self.scale)

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(int(c * self.scale) for c in WIDTHS[self.groups])


_PYTORCHCV = "pytorchcv (osmr/imgclsmob) shufflenet_{}"

# One record per variant; register_family (after _shufflenet) makes the builders.
_TABLE = [
    Variant("shufflenet_g1", "ShuffleNetG1", ShuffleNetSpec(1), 1_531_936,
            _PYTORCHCV.format("g1_w1")),
    Variant("shufflenet_g2", "ShuffleNetG2", ShuffleNetSpec(2), 1_733_848,
            _PYTORCHCV.format("g2_w1")),
    Variant("shufflenet_g3", "ShuffleNetG3", ShuffleNetSpec(3), 1_865_728,
            _PYTORCHCV.format("g3_w1") + "; megvii ShuffleNet-Series: 1.9M"),
    Variant("shufflenet_g4", "ShuffleNetG4", ShuffleNetSpec(4), 1_968_344,
            _PYTORCHCV.format("g4_w1")),
    Variant("shufflenet_g8", "ShuffleNetG8", ShuffleNetSpec(8), 2_434_768,
            _PYTORCHCV.format("g8_w1") + "; megvii ShuffleNet-Series: 2.4M"),
    Variant("shufflenet_g3_x0_5", "ShuffleNetG3_x0_5", ShuffleNetSpec(3, 0.5), 718_324,
            _PYTORCHCV.format("g3_wd2") + "; megvii ShuffleNet-Series: 0.7M",
            retired=("shufflenet_g3_0_5x", "ShuffleNetG3_0_5x")),
    Variant("shufflenet_g3_x1_5", "ShuffleNetG3_x1_5", ShuffleNetSpec(3, 1.5, stem=24),
            3_442_168, "exact count of Table 1 at 1.5x with megvii's 24-wide conv1; megvii "
                       "ShuffleNet-Series: 3.4M",
            retired=("shufflenet_g3_1_5x", "ShuffleNetG3_1_5x")),
    Variant("shufflenet_g3_x2_0", "ShuffleNetG3_x2_0", ShuffleNetSpec(3, 2.0), 5_450_776,
            "exact count of Table 1 at 2x; megvii ShuffleNet-Series: 5.4M",
            retired=("shufflenet_g3_2x", "ShuffleNetG3_2x")),
]
# variant: the paper's MFLOPs (Table 2 / 5), quoted in the builders' docstrings
MFLOPS = {"shufflenet_g1": 140, "shufflenet_g2": 140, "shufflenet_g3": 140, "shufflenet_g4": 140,
          "shufflenet_g8": 140, "shufflenet_g3_x0_5": 38, "shufflenet_g3_x1_5": 292,
          "shufflenet_g3_x2_0": 524}


def depthwise_bn(x, stride, *, name):
    """3x3 depthwise convolution (padded by 1 on every side, as in the papers) + BN, no
    activation: `{name}_pad` (stride 2 only), `{name}_conv`, `{name}_bn`."""
    padding = "same"
    if stride > 1:
        x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.DepthwiseConv2D(3, strides=stride, padding=padding, use_bias=False,
                               name=f"{name}_conv")(x)
    return layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)


def shufflenet_stem(x, width):
    """3x3/2 convolution + BN + ReLU, 3x3/2 max-pool (both padded by 1): `stem_*`."""
    x = conv_bn_act(x, width, 3, strides=2, padding=1, kernel_initializer="he_normal",
                    name="stem")
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)  # after a ReLU: zeros never win
    return layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def shuffle_unit(x, filters, *, groups, stride=1, group_first=True, name):
    """ShuffleNet unit (Fig. 2b/c) with `filters` output channels. Layers: `{name}_1_*` grouped
    1x1 (+ BN + ReLU), `{name}_shuffle`, `{name}_dw_*` depthwise 3x3 (+ BN), `{name}_2_*`
    grouped 1x1 (+ BN); then `{name}_add` or (stride 2) `{name}_0_pad`, `{name}_0_pool`,
    `{name}_concat`; `{name}_relu`."""
    conv = dict(padding="valid", kernel_initializer="he_normal")
    y = conv_bn_act(x, filters // 4, 1, groups=groups if group_first else 1, **conv,
                    name=f"{name}_1")
    if groups > 1:
        y = ChannelShuffle(groups, name=f"{name}_shuffle")(y)
    y = depthwise_bn(y, stride, name=f"{name}_dw")
    y = conv_bn_act(y, filters - x.shape[-1] if stride > 1 else filters, 1, groups=groups,
                    activation=None, **conv, name=f"{name}_2")
    if stride > 1:
        shortcut = layers.ZeroPadding2D(1, name=f"{name}_0_pad")(x)  # count_include_pad
        shortcut = layers.AveragePooling2D(3, strides=stride, name=f"{name}_0_pool")(shortcut)
        y = layers.Concatenate(name=f"{name}_concat")([shortcut, y])
    else:
        y = layers.Add(name=f"{name}_add")([x, y])
    return layers.Activation("relu", name=f"{name}_relu")(y)


def _shufflenet(spec: ShuffleNetSpec, *, include_top, weights, input_tensor, input_shape,
                pooling, classes, classifier_activation, name, default_shape, min_size):
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = shufflenet_stem(x, spec.stem_width)
    for s, (depth, width) in enumerate(zip(spec.depths, spec.widths), start=1):
        for b in range(1, depth + 1):
            x = shuffle_unit(x, width, groups=spec.groups, stride=2 if b == 1 else 1,
                             group_first=(s, b) != (1, 1), name=f"stage{s}_block{b}")
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


def _doc(spec: ShuffleNetSpec, mflops) -> str:
    flops = f", paper: {mflops} MFLOPs" if mflops else ""
    return f"ShuffleNet {spec.scale:g}x (g = {spec.groups}{flops})"


VARIANTS = register_family(
    globals(), _shufflenet, _TABLE, family="shufflenet", paper=PAPER, min_size=32, test_size=32,
    doc=lambda v: _doc(v.spec, MFLOPS[v.name]))


def ShuffleNet(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name=None, *, groups=3,
               scale=1.0, **options):
    """ShuffleNet `scale`x with `groups` pointwise groups (Table 1, Table 2's g and s), in the
    keras.applications style of `MobileNet(alpha=...)`.

    A (groups, scale) of the registry is its variant, built by that builder (same graph, layer
    names, reference count and weights; default `name` the variant's, e.g. "shufflenet_g3"). Any
    other scale whose widths split into the groups builds the same layout unregistered, named
    `shufflenet_g{groups}_{scale}x`, with conv1 `int(24 * scale)` wide (24 at 1.5x, as
    megvii's ShuffleNet-Series). Other arguments as the variant builders.
    """
    try:
        spec = ShuffleNetSpec(int(groups), float(scale),
                              stem=STEM_WIDTH if float(scale) == 1.5 else None)
    except (TypeError, ValueError) as e:
        raise ValueError(f"ShuffleNet(groups={groups!r}, scale={scale!r}): {e}") from None
    if not spec.scale > 0:
        raise ValueError(f"ShuffleNet: scale must be positive, got {scale!r}.")
    variant = next((v.name for v in VARIANTS.values() if v.spec == spec), None)
    base = dict(include_top=include_top, weights=weights, input_tensor=input_tensor,
                input_shape=input_shape, pooling=pooling, classes=classes,
                classifier_activation=classifier_activation)
    if variant is not None:
        return globals()[VARIANTS[variant].builder](**base, name=name or variant, **options)
    if isinstance(weights, str) and weights == "imagenet":
        raise ValueError(f"ShuffleNet(groups={groups}, scale={scale:g}) has no published weights; "
                         f"the registered variants are {', '.join(VARIANTS)}.")
    if options:
        raise TypeError(f"ShuffleNet got unexpected keyword arguments {sorted(options)}.")
    return _shufflenet(spec, **base, name=name or f"shufflenet_g{spec.groups}_{spec.scale:g}x"
                       .replace(".", "_"), default_shape=(224, 224, 3), min_size=32)
