"""ShuffleNet v2: "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design"
(Ma, Zhang, Zheng & Sun, ECCV 2018, arXiv:1807.11164), Table 5.

    layer        output   stride  repeat  output channels  0.5x   1x    1.5x   2x
    conv1        112x112  2       1                        24     24    24     24
    max-pool      56x56   2                                24     24    24     24
    stage 2       28x28   2 / 1   1 / 3                    48     116   176    244
    stage 3       14x14   2 / 1   1 / 7                    96     232   352    488
    stage 4        7x7    2 / 1   1 / 3                    192    464   704    976
    conv5          7x7    1       1                        1024   1024  1024   2048
    global average pool, 1000-d fc                         41M    146M  299M   591M FLOPs

The paper's stages 2-4 are `stage1..stage3` here; conv5 is `post_conv` / `post_bn` / `post_relu`.
A unit (Fig. 3c) splits the channels in two halves: the first passes unchanged, the second goes
through 1x1 (+ BN + ReLU), 3x3 depthwise (+ BN) and 1x1 (+ BN + ReLU); the halves are concatenated
and shuffled with 2 groups. The stride-2 unit (Fig. 3d) feeds the whole input to both branches, the
first becoming 3x3/2 depthwise (+ BN) and 1x1 (+ BN + ReLU). Convolutions are unbiased and padded
as in torchvision, whose layout and exact counts (1,366,792 / 2,278,604 / 3,503,624 / 7,393,996)
this reproduces; Table 5's complexities are checked against `kerasnets.zoo.flops.count_flops`.
Each variant is torchvision's model of the same name: it loads torchvision's ImageNet weights
(`kerasnets.weights.load_torch_state_dict`; torchvision's `stage{s}` is `stage{s - 1}` here) and
gives its outputs (tests/test_torch_mobile.py).
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.applications._torch_names import exact, nested, rename_rules
from kerasnets.applications.shufflenet import depthwise_bn, shufflenet_stem
from kerasnets.layers import conv_bn_act
from kerasnets.layers.shuffle import ChannelShuffle, ChannelSplit
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import Transform, torchvision_checkpoint

__all__ = ["ShuffleNetV2"]  # register_family adds one builder per variant

PAPER = Paper("ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
              "1807.11164", 2018)


@dataclasses.dataclass(frozen=True)
class ShuffleNetV2Spec:
    widths: tuple[int, ...]  # output channels of stages 2-4 (even: two branches)
    final_width: int = 1024  # conv5
    stem_width: int = 24
    depths: tuple[int, ...] = (4, 8, 4)  # units per stage, the first with stride 2

    def __post_init__(self):
        if len(self.depths) != len(self.widths) or min(self.depths) < 1:
            raise ValueError(f"depths {self.depths} and widths {self.widths} must pair up, one "
                             f"unit or more per stage.")
        if any(w % 2 for w in self.widths):
            raise ValueError(f"ShuffleNet v2 widths must be even, got {self.widths}.")


# One record per variant; register_family (after _shufflenet_v2) makes the builders.
_TABLE = [
    Variant("shufflenet_v2_x0_5", "ShuffleNetV2_x0_5", ShuffleNetV2Spec((48, 96, 192)), 1_366_792,
            "torchvision shufflenet_v2_x0_5; paper Table 5: 1.4M"),
    Variant("shufflenet_v2_x1_0", "ShuffleNetV2_x1_0", ShuffleNetV2Spec((116, 232, 464)),
            2_278_604, "torchvision shufflenet_v2_x1_0; paper Table 5: 2.3M"),
    Variant("shufflenet_v2_x1_5", "ShuffleNetV2_x1_5", ShuffleNetV2Spec((176, 352, 704)),
            3_503_624, "torchvision shufflenet_v2_x1_5; paper Table 5: 3.5M"),
    Variant("shufflenet_v2_x2_0", "ShuffleNetV2_x2_0", ShuffleNetV2Spec((244, 488, 976), 2048),
            7_393_996, "torchvision shufflenet_v2_x2_0; paper Table 5: 7.4M"),
]
# variant: Table 5's MFLOPs, quoted in the builders' docstrings
MFLOPS = {"shufflenet_v2_x0_5": 41, "shufflenet_v2_x1_0": 146, "shufflenet_v2_x1_5": 299,
          "shufflenet_v2_x2_0": 591}


def shufflenet_v2_unit(x, filters, *, stride=1, name):
    """ShuffleNet v2 unit (Fig. 3c/d) with `filters` output channels. Layers: `{name}_split`
    (stride 1) or the strided shortcut branch `{name}_0_dw_*` (depthwise) + `{name}_0_*` (1x1);
    the main branch `{name}_1_*` (1x1), `{name}_dw_*` (depthwise), `{name}_2_*` (1x1);
    `{name}_concat`, `{name}_shuffle`."""
    branch = filters // 2
    conv = dict(padding="valid", kernel_initializer="he_normal")
    if stride == 1:
        shortcut, x = ChannelSplit(2, name=f"{name}_split")(x)
    else:
        shortcut = depthwise_bn(x, stride, name=f"{name}_0_dw")
        shortcut = conv_bn_act(shortcut, branch, 1, **conv, name=f"{name}_0")
    y = conv_bn_act(x, branch, 1, **conv, name=f"{name}_1")
    y = depthwise_bn(y, stride, name=f"{name}_dw")
    y = conv_bn_act(y, branch, 1, **conv, name=f"{name}_2")
    y = layers.Concatenate(name=f"{name}_concat")([shortcut, y])
    return ChannelShuffle(2, name=f"{name}_shuffle")(y)


def _shufflenet_v2(spec: ShuffleNetV2Spec, *, include_top, weights, input_tensor, input_shape,
                   pooling, classes, classifier_activation, name, default_shape, min_size):
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = shufflenet_stem(x, spec.stem_width)
    for s, (depth, width) in enumerate(zip(spec.depths, spec.widths), start=1):
        for b in range(1, depth + 1):
            x = shufflenet_v2_unit(x, width, stride=2 if b == 1 else 1, name=f"stage{s}_block{b}")
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = conv_bn_act(x, spec.final_width, 1, padding="valid", kernel_initializer="he_normal",
                    name="post")
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "shufflenet_v2_x0_5": (
        torchvision_checkpoint("shufflenet_v2_x0_5", "IMAGENET1K_V1",
            "shufflenetv2_x0.5-f707e7126e.pth", Transform(224, 256), top1=60.552, top5=81.746,
            size_mb=5.282),
    ),
    "shufflenet_v2_x1_0": (
        torchvision_checkpoint("shufflenet_v2_x1_0", "IMAGENET1K_V1",
            "shufflenetv2_x1-5666bf0f80.pth", Transform(224, 256), top1=69.362, top5=88.316,
            size_mb=8.791),
    ),
    "shufflenet_v2_x1_5": (
        torchvision_checkpoint("shufflenet_v2_x1_5", "IMAGENET1K_V1",
            "shufflenetv2_x1_5-3c479a10.pth", Transform(224, 232), top1=72.996, top5=91.086,
            size_mb=13.557),
    ),
    "shufflenet_v2_x2_0": (
        torchvision_checkpoint("shufflenet_v2_x2_0", "IMAGENET1K_V1",
            "shufflenetv2_x2_0-8be3c8ee.pth", Transform(224, 232), top1=76.23, top5=93.006,
            size_mb=28.433),
    ),
}

VARIANTS = register_family(
    globals(), _shufflenet_v2, _TABLE, family="shufflenet_v2", paper=PAPER, min_size=32,
    test_size=32,
    doc=lambda v: (f"ShuffleNet v2 {v.name[-3:].replace('_', '.')}x "
                   f"(paper: {MFLOPS[v.name]} MFLOPs)"),
    weights=WEIGHTS, torch_mapping=lambda variant: TORCH_MAPPING)
WIDTH_MULTIPLIERS = {0.5: "shufflenet_v2_x0_5", 1.0: "shufflenet_v2_x1_0",
                     1.5: "shufflenet_v2_x1_5", 2.0: "shufflenet_v2_x2_0"}


def ShuffleNetV2(include_top=True, weights=None, input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax", name=None, *,
                 width_multiplier=1.0, **options):
    """ShuffleNet v2 `width_multiplier`x (0.5, 1, 1.5 or 2: Table 5's widths are the paper's
    choices, not a formula), in the keras.applications style of `MobileNetV2(alpha=...)`: the
    registered variant of that width, built by its builder (same graph, layer names, reference
    count and weights; default `name` the variant's, e.g. "shufflenet_v2_x1_0"). Other
    arguments as the variant builders."""
    variant = WIDTH_MULTIPLIERS.get(width_multiplier) if isinstance(
        width_multiplier, (int, float)) and not isinstance(width_multiplier, bool) else None
    if variant is None:
        raise ValueError(f"ShuffleNetV2: width_multiplier must be one of "
                         f"{', '.join(f'{m:g}' for m in WIDTH_MULTIPLIERS)} (Table 5), got "
                         f"{width_multiplier!r}.")
    return globals()[VARIANTS[variant].builder](
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name or variant, **options)


# torchvision's module paths -> layer names: stem, conv5 and fc whole; a unit's branch1 (strided
# shortcut: depthwise, BN, 1x1, BN) and branch2 (1x1, BN, ReLU, depthwise, BN, 1x1, BN) by part
_TORCH_FIXED = {"conv1.0": "stem_conv", "conv1.1": "stem_bn", "conv5.0": "post_conv",
                "conv5.1": "post_bn", "fc": "predictions"}
_TORCH_BRANCH = {"branch1.0": "0_dw_conv", "branch1.1": "0_dw_bn", "branch1.2": "0_conv",
                 "branch1.3": "0_bn", "branch2.0": "1_conv", "branch2.1": "1_bn",
                 "branch2.3": "dw_conv", "branch2.4": "dw_bn", "branch2.5": "2_conv",
                 "branch2.6": "2_bn"}
_TORCH_RULES = exact(_TORCH_FIXED) + nested(
    r"stage(?P<stage>\d+)\.(?P<unit>\d+)",
    lambda m: f"stage{int(m['stage']) - 1}_block{int(m['unit']) + 1}", exact(_TORCH_BRANCH))
TORCH_MAPPING = TorchMapping(rename_rules(_TORCH_RULES),
                             {f"stage{s}_out": f"stage{s + 1}" for s in (1, 2, 3)})
