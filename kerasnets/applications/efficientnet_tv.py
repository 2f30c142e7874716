"""EfficientNet B0-B7 and EfficientNetV2-S/M/L as torchvision builds them
(`torchvision.models.efficientnet_b0` ... `efficientnet_v2_l`), so that torchvision's ImageNet
weights load and give torchvision's outputs. Papers: "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks" (Tan & Le, ICML 2019, arXiv:1905.11946), Tables 1-2, and
"EfficientNetV2: Smaller Models and Faster Training" (Tan & Le, ICML 2021, arXiv:2104.00298),
Table 4.

Registry names end in `_tv` (`efficientnet_b0_tv` ... `efficientnet_v2_l_tv`; the names
section of docs/design.md): the plain names are keras.applications' networks (`efficientnet_b0`
... `efficientnet_v2_l` in
`efficientnet.py` / `efficientnet_v2.py`): the same block tables, channel and depth rounding,
squeeze-excite widths (a quarter of the block's input), stochastic-depth schedule, classifier
dropout, layer names and parameter counts (torchvision's `num_params` equal keras' trainable
counts). torchvision differs in what a checkpoint is sensitive to:

    keras.applications                         torchvision (these variants)
    strided convs padded TF "same"             padded k // 2 on every side (PyTorch
      (one pixel less top/left on even sides)    Conv2d(padding=(k - 1) // 2)): `{name}_pad`
    Rescaling + Normalization inside           none: inputs normalised outside, ImageNet
                                                 mean/std (V2-L: [-1, 1], its ported weights)
    BatchNorm epsilon 1e-3                     B0-B4 1e-5 (PyTorch's default), B5-B7 and V2
                                                 1e-3 (weights ported from TF / V2 recipe)
    BatchNorm momentum 0.99 (V2: 0.9)          1 - PyTorch's: 0.9, B5-B7 0.99
    default input: the paper's resolution      torchvision's evaluation crop (B2: 288)

Blocks: MBConv = [1x1 expansion] -> k x k depthwise -> squeeze-excite (swish, sigmoid gate) ->
linear 1x1 projection; Fused-MBConv (V2's early stages) = k x k expansion -> 1x1 projection, or
one k x k convolution when the expansion is 1; identity blocks add their input after stochastic
depth (`_drop`, Dropout with one mask per sample: torchvision's `StochasticDepth(mode="row")`).
"""

from __future__ import annotations

import dataclasses
import functools

from keras import layers

from kerasnets.applications._common import (finish, gap_head, model_input, register_family,
                                            resolution_shape)
from kerasnets.applications._mobilenet_blocks import depthwise_bn_act, torch_block_rules
from kerasnets.applications._torch_names import exact, rename_rules
from kerasnets.applications.efficientnet import (B0_STAGES, CONV_INIT, Stage,
                                                 efficientnet_stages, round_filters)
from kerasnets.applications.efficientnet import PAPER as PAPER_V1
from kerasnets.applications.efficientnet_v2 import L as V2_L
from kerasnets.applications.efficientnet_v2 import M as V2_M
from kerasnets.applications.efficientnet_v2 import PAPER as PAPER_V2
from kerasnets.applications.efficientnet_v2 import S as V2_S
from kerasnets.layers import conv_bn_act, squeeze_excite
from kerasnets.zoo.registry import Variant, register_changed_meaning
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import Transform, torchvision_checkpoint

ACTIVATION = "swish"  # torch.nn.SiLU


@dataclasses.dataclass(frozen=True)
class TorchEfficientNetSpec:
    stages: tuple[Stage, ...]
    width: float  # width coefficient (channels rounded to multiples of 8)
    depth: float  # depth coefficient (repeats rounded up)
    resolution: int  # torchvision's evaluation crop: the default input size
    dropout: float  # before the classifier
    bn_epsilon: float
    bn_momentum: float  # Keras' convention: 1 - PyTorch's momentum
    stem_width: int = 32
    top_width: int = 1280


def _conv(x, filters, kernel, *, stride=1, activation=ACTIVATION, bn_epsilon, bn_momentum,
          name):
    """Convolution (no bias) + BN (+ swish); a strided one padded `k // 2` on every side."""
    return conv_bn_act(x, filters, kernel, strides=stride,
                       padding=kernel // 2 if stride > 1 else "same", use_bias=False,
                       activation=activation, bn_epsilon=bn_epsilon, bn_momentum=bn_momentum,
                       kernel_initializer=CONV_INIT, name=name)


def _residual(inputs, x, *, stride, drop_rate, name):
    """torchvision's `use_res_connect`: stochastic depth, then + input, where the shape holds."""
    if stride != 1 or inputs.shape[-1] != x.shape[-1]:
        return x
    if drop_rate > 0:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
    return layers.Add(name=f"{name}_add")([x, inputs])


def torch_mbconv(x, filters, *, expand, kernel, stride=1, se_ratio=0.25, drop_rate=0.0,
                 bn_epsilon, bn_momentum, name):
    """torchvision's `MBConv`: `{name}_expand_*` (1x1, when expand > 1), `{name}_dw_*`,
    `{name}_se_*`, `{name}_project_*`, then `{name}_drop` / `{name}_add`."""
    norm = dict(bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    in_channels = x.shape[-1]
    y = x
    if expand != 1:
        y = _conv(y, in_channels * expand, 1, name=f"{name}_expand", **norm)
    y = depthwise_bn_act(y, kernel, strides=stride, pad=kernel // 2, activation=ACTIVATION,
                         depthwise_initializer=CONV_INIT, name=f"{name}_dw", **norm)
    if se_ratio:
        y = squeeze_excite(y, max(1, int(in_channels * se_ratio)), activation=ACTIVATION,
                           name=f"{name}_se")
    y = _conv(y, filters, 1, activation=None, name=f"{name}_project", **norm)
    return _residual(x, y, stride=stride, drop_rate=drop_rate, name=name)


def torch_fused_mbconv(x, filters, *, expand, kernel, stride=1, se_ratio=0.0, drop_rate=0.0,
                       bn_epsilon, bn_momentum, name):
    """torchvision's `FusedMBConv`: `{name}_expand_*` (k x k, strided) + `{name}_project_*`
    (1x1, linear), or for expand 1 a single k x k `{name}_project_*` with swish; no SE."""
    if se_ratio:
        raise ValueError(f"{name}: torchvision's Fused-MBConv has no squeeze-excite "
                         f"(se_ratio={se_ratio}).")
    norm = dict(bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    if expand != 1:
        y = _conv(x, x.shape[-1] * expand, kernel, stride=stride, name=f"{name}_expand", **norm)
        y = _conv(y, filters, 1, activation=None, name=f"{name}_project", **norm)
    else:
        y = _conv(x, filters, kernel, stride=stride, name=f"{name}_project", **norm)
    return _residual(x, y, stride=stride, drop_rate=drop_rate, name=name)


TORCH_BLOCKS = {"mbconv": torch_mbconv, "fused": torch_fused_mbconv}


def _efficientnet_tv(spec: TorchEfficientNetSpec, *, include_top, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name, default_shape,
                     min_size, drop_connect_rate=0.2):
    if not 0 <= drop_connect_rate < 1:
        raise ValueError(f"{name}: drop_connect_rate must be in [0, 1), got {drop_connect_rate}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    norm = dict(bn_epsilon=spec.bn_epsilon, bn_momentum=spec.bn_momentum)
    width = functools.partial(round_filters, width=spec.width)
    x = _conv(x, width(spec.stem_width), 3, stride=2, name="stem", **norm)
    x = efficientnet_stages(x, spec.stages, width=width, depth=spec.depth,
                            drop_connect_rate=drop_connect_rate, blocks=TORCH_BLOCKS, **norm)
    x = _conv(x, width(spec.top_width), 1, name="top", **norm)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, dropout=spec.dropout)
    return finish(inputs, x, name=name, weights=weights)


_B = functools.partial(TorchEfficientNetSpec, B0_STAGES)
_B_PORTED = dict(bn_epsilon=1e-3, bn_momentum=0.99)  # B5-B7: BatchNorm2d(eps=1e-3, momentum=0.01)
_TORCH_BN = dict(bn_epsilon=1e-5, bn_momentum=0.9)  # PyTorch's BatchNorm2d defaults
_V2_BN = dict(bn_epsilon=1e-3, bn_momentum=0.9)  # BatchNorm2d(eps=1e-3)

# One record per variant: spec = torchvision's (width, depth, crop, dropout, BN), trainable params
# at 1000 classes = torchvision's num_params. EfficientNet (B0-B7) and EfficientNetV2 (S/M/L)
# register in their own families, below.
_V1_TABLE = [
    Variant("efficientnet_b0_tv", "EfficientNetB0TV", _B(1.0, 1.0, 224, 0.2, **_TORCH_BN),
            5_288_548, "torchvision efficientnet_b0 (num_params 5,288,548)",
            aliases=("timm/efficientnet_b0",)),
    Variant("efficientnet_b1_tv", "EfficientNetB1TV", _B(1.0, 1.1, 240, 0.2, **_TORCH_BN),
            7_794_184, "torchvision efficientnet_b1 (num_params 7,794,184)",
            aliases=("timm/efficientnet_b1",)),
    Variant("efficientnet_b2_tv", "EfficientNetB2TV", _B(1.1, 1.2, 288, 0.3, **_TORCH_BN),
            9_109_994, "torchvision efficientnet_b2 (num_params 9,109,994)",
            aliases=("timm/efficientnet_b2",)),
    Variant("efficientnet_b3_tv", "EfficientNetB3TV", _B(1.2, 1.4, 300, 0.3, **_TORCH_BN),
            12_233_232, "torchvision efficientnet_b3 (num_params 12,233,232)",
            aliases=("timm/efficientnet_b3",)),
    Variant("efficientnet_b4_tv", "EfficientNetB4TV", _B(1.4, 1.8, 380, 0.4, **_TORCH_BN),
            19_341_616, "torchvision efficientnet_b4 (num_params 19,341,616)",
            aliases=("timm/efficientnet_b4",)),
    Variant("efficientnet_b5_tv", "EfficientNetB5TV", _B(1.6, 2.2, 456, 0.4, **_B_PORTED),
            30_389_784, "torchvision efficientnet_b5 (num_params 30,389,784)",
            aliases=("timm/efficientnet_b5",)),
    Variant("efficientnet_b6_tv", "EfficientNetB6TV", _B(1.8, 2.6, 528, 0.5, **_B_PORTED),
            43_040_704, "torchvision efficientnet_b6 (num_params 43,040,704)",
            aliases=("timm/efficientnet_b6",)),
    Variant("efficientnet_b7_tv", "EfficientNetB7TV", _B(2.0, 3.1, 600, 0.5, **_B_PORTED),
            66_347_960, "torchvision efficientnet_b7 (num_params 66,347,960)",
            aliases=("timm/efficientnet_b7",)),
]
_V2_TABLE = [
    Variant("efficientnet_v2_s_tv", "EfficientNetV2STV",
            TorchEfficientNetSpec(V2_S, 1.0, 1.0, 384, 0.2, stem_width=24, **_V2_BN), 21_458_488,
            "torchvision efficientnet_v2_s (num_params 21,458,488)"),
    Variant("efficientnet_v2_m_tv", "EfficientNetV2MTV",
            TorchEfficientNetSpec(V2_M, 1.0, 1.0, 480, 0.3, stem_width=24, **_V2_BN), 54_139_356,
            "torchvision efficientnet_v2_m (num_params 54,139,356)"),
    # ported from google/automl: mean = std = 0.5, i.e. [-1, 1]
    Variant("efficientnet_v2_l_tv", "EfficientNetV2LTV",
            TorchEfficientNetSpec(V2_L, 1.0, 1.0, 480, 0.4, stem_width=32, **_V2_BN),
            118_515_272, "torchvision efficientnet_v2_l (num_params 118,515,272)",
            preprocessing="tf"),
]


def _doc(prefix):
    """efficientnet_b0_tv -> "EfficientNet-B0 as torchvision builds it" (prefix "EfficientNet")."""
    return lambda v: f"{prefix}-{v.name.split('_')[-2].upper()} as torchvision builds it"


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "efficientnet_b0_tv": (
        torchvision_checkpoint("efficientnet_b0", "IMAGENET1K_V1",
            "efficientnet_b0_rwightman-7f5810bc.pth", Transform(224, 256, interpolation="bicubic"),
            top1=77.692, top5=93.532, size_mb=20.451, note="ported from timm"),
    ),
    "efficientnet_b1_tv": (
        torchvision_checkpoint("efficientnet_b1", "IMAGENET1K_V2", "efficientnet_b1-c27df63c.pth",
            Transform(240, 255), top1=79.838, top5=94.934, size_mb=30.136,
            note="IMAGENET1K_V1 (78.642%, from timm, bicubic 256) is "
                 "efficientnet_b1_rwightman-bac287d4.pth, (load it by path)"),
    ),
    "efficientnet_b2_tv": (
        torchvision_checkpoint("efficientnet_b2", "IMAGENET1K_V1",
            "efficientnet_b2_rwightman-c35c1473.pth", Transform(288, 288, interpolation="bicubic"),
            top1=80.608, top5=95.31, size_mb=35.174, note="ported from timm"),
    ),
    "efficientnet_b3_tv": (
        torchvision_checkpoint("efficientnet_b3", "IMAGENET1K_V1",
            "efficientnet_b3_rwightman-b3899882.pth", Transform(300, 320, interpolation="bicubic"),
            top1=82.008, top5=96.054, size_mb=47.184, note="ported from timm"),
    ),
    "efficientnet_b4_tv": (
        torchvision_checkpoint("efficientnet_b4", "IMAGENET1K_V1",
            "efficientnet_b4_rwightman-23ab8bcd.pth", Transform(380, 384, interpolation="bicubic"),
            top1=83.384, top5=96.594, size_mb=74.489, note="ported from timm"),
    ),
    "efficientnet_b5_tv": (
        torchvision_checkpoint("efficientnet_b5", "IMAGENET1K_V1",
            "efficientnet_b5_lukemelas-1a07897c.pth", Transform(456, 456, interpolation="bicubic"),
            top1=83.444, top5=96.628, size_mb=116.864, note="ported from TF"),
    ),
    "efficientnet_b6_tv": (
        torchvision_checkpoint("efficientnet_b6", "IMAGENET1K_V1",
            "efficientnet_b6_lukemelas-24a108a5.pth", Transform(528, 528, interpolation="bicubic"),
            top1=84.008, top5=96.916, size_mb=165.362, note="ported from TF"),
    ),
    "efficientnet_b7_tv": (
        torchvision_checkpoint("efficientnet_b7", "IMAGENET1K_V1",
            "efficientnet_b7_lukemelas-c5b4e57e.pth", Transform(600, 600, interpolation="bicubic"),
            top1=84.122, top5=96.908, size_mb=254.675, note="ported from TF"),
    ),
    "efficientnet_v2_l_tv": (
        torchvision_checkpoint("efficientnet_v2_l", "IMAGENET1K_V1",
            "efficientnet_v2_l-59c71312.pth",
            Transform(480, 480, interpolation="bicubic", normalization="tf"), top1=85.808,
            top5=97.788, size_mb=454.573, note="ported from google/automl"),
    ),
    "efficientnet_v2_m_tv": (
        torchvision_checkpoint("efficientnet_v2_m", "IMAGENET1K_V1",
            "efficientnet_v2_m-dc08266a.pth", Transform(480, 480), top1=85.112, top5=97.156,
            size_mb=208.01),
    ),
    "efficientnet_v2_s_tv": (
        torchvision_checkpoint("efficientnet_v2_s", "IMAGENET1K_V1",
            "efficientnet_v2_s-dd5fe13b.pth", Transform(384, 384), top1=84.228, top5=96.878,
            size_mb=82.704),
    ),
}

VARIANTS = {
    **register_family(globals(), _efficientnet_tv, _V1_TABLE, input_shape=resolution_shape,
                      family="efficientnet", paper=PAPER_V1, min_size=32, test_size=32,
                      doc=_doc("EfficientNet"), weights=WEIGHTS,
                      torch_mapping=lambda variant: torch_mapping(variant.spec)),
    **register_family(globals(), _efficientnet_tv, _V2_TABLE, input_shape=resolution_shape,
                      family="efficientnet_v2", paper=PAPER_V2, min_size=32, test_size=32,
                      doc=_doc("EfficientNetV2"), weights=WEIGHTS,
                      torch_mapping=lambda variant: torch_mapping(variant.spec)),
}
# efficientnet_b0..b7 and efficientnet_v2_{s,m,l} named these rebuilds on 2026-12-04 only; they
# name the paper's / keras.applications' networks now, with a warning for the old meaning.
for _variant in VARIANTS:
    register_changed_meaning(
        _variant[:-3], f"Model name {_variant[:-3]!r} names the paper's / keras.applications' "
                       f"network (since 2026-12-05; on 2026-12-04 it named torchvision's "
                       f"rebuild); torchvision's is {_variant!r}.")


def torch_mapping(spec: TorchEfficientNetSpec) -> TorchMapping:
    """torchvision's `features.0` (stem), `features.{s}.{b}` (stage s, block b + 1),
    `features.{last}` (top) and `classifier.1`."""
    import math

    parts = {}
    for s, stage in enumerate(spec.stages, start=1):
        if stage.block == "fused":
            names = ("expand", "project") if stage.expand != 1 else ("project",)
        else:
            names = (("expand",) if stage.expand != 1 else ()) + ("dw",) + (
                ("se",) if stage.se_ratio else ()) + ("project",)
        for b in range(int(math.ceil(spec.depth * stage.repeats))):
            parts[f"features.{s}.{b}"] = (f"stage{s}_block{b + 1}", names)
    top = len(spec.stages) + 1
    fixed = {"features.0.0": "stem_conv", "features.0.1": "stem_bn",
             f"features.{top}.0": "top_conv", f"features.{top}.1": "top_bn",
             "classifier.1": "predictions"}
    taps = {f"stage{s}_out": f"features.{s}" for s in range(1, top)}
    return TorchMapping(rename_rules(exact(fixed) + torch_block_rules(parts)), taps)
