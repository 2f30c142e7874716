"""MobileNetV3: "Searching for MobileNetV3" (Howard et al., ICCV 2019, arXiv:1905.02244),
Table 1 (Large) and Table 2 (Small), as keras.applications builds them.

Blocks are v2's inverted residuals (`_mobilenet_blocks.inverted_residual`) with per-block kernel
size, expansion, squeeze-excite (reduce to `_depth(expanded / 4)`, ReLU, hard-sigmoid gate) and
non-linearity (ReLU or h-swish, x * ReLU6(x + 3) / 6). The stem is a 3x3/2 convolution with 16
filters; after the blocks a 1x1 convolution to 6x the last width (`top_*`, with BN); the head is
global average pooling -> 1x1 convolution with bias to 1024 (Small) / 1280 (Large) channels +
non-linearity (no BN) -> dropout -> 1x1 convolution "logits" -> flatten -> "predictions".
Stages group the blocks by resolution (a new `stage{s}` at every stride 2).

`MobileNetV3Small` / `MobileNetV3Large` hold keras.applications' weights in its order and shapes
and include its preprocessing: a `Rescaling(1 / 127.5, offset=-1)` layer (`stem_rescaling`) that
maps [0, 255] inputs to [-1, 1] (`include_preprocessing=False` leaves it out). Keyword options as
in keras: `alpha` (block widths `_depth(c * alpha)`; the stem stays at 16), `minimalistic`
(3x3 kernels, ReLU, no SE: the paper's "minimalistic" models of section 6.1.1), `dropout_rate`,
`include_preprocessing`.

`mobilenet_v3_small_tv` / `mobilenet_v3_large_tv` are torchvision's `mobilenet_v3_small` /
`mobilenet_v3_large` (same widths, SE widths, hard-sigmoid gate, BN epsilon 1e-3 and count as
keras'): strided convolutions padded `k // 2` on every side (`padding="torch"`), no rescaling
inside (inputs take torchvision's mean/std normalisation), BN momentum 0.99 (PyTorch's 0.01), and
the head as torchvision's `Linear` layers after pooling (`head="linear"`: `avg_pool`, `head_fc`
(Dense + h-swish), `head_dropout`, `predictions` (Dense)) instead of keras' 1x1 convolutions. They
load torchvision's ImageNet weights and give its outputs (tests/test_torch_mobile.py).
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import (finish, head_dtype, model_input, pool_features,
                                            register_family)
from kerasnets.applications._mobilenet_blocks import (check_padding, inverted_residual,
                                                      make_divisible, stage_loop, staged,
                                                      torch_block_rules)
from kerasnets.applications._torch_names import exact, rename_rules
from kerasnets.layers import conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import (KERAS_URL, Published, Transform, keras_checkpoint,
                                       torchvision_checkpoint)

PAPER = Paper("Searching for MobileNetV3", "1905.02244", 2019)
HS = "hard_swish"
HEADS = ("conv", "linear")
TORCHVISION_OPTIONS = dict(padding="torch", include_preprocessing=False, bn_momentum=0.99,
                           head="linear")


@dataclasses.dataclass(frozen=True)
class MobileNetV3Spec:
    # per block: (kernel, expansion, output channels, squeeze-excite, non-linearity, stride);
    # expansion is relative to the block's input width, as in keras.applications
    blocks: tuple[tuple[int, float, int, bool, str, int], ...]
    head_filters: int  # width of the 1x1 convolution after pooling
    stem_filters: int = 16
    top_expansion: int = 6


LARGE = MobileNetV3Spec((
    (3, 1, 16, False, "relu", 1), (3, 4, 24, False, "relu", 2), (3, 3, 24, False, "relu", 1),
    (5, 3, 40, True, "relu", 2), (5, 3, 40, True, "relu", 1), (5, 3, 40, True, "relu", 1),
    (3, 6, 80, False, HS, 2), (3, 2.5, 80, False, HS, 1), (3, 2.3, 80, False, HS, 1),
    (3, 2.3, 80, False, HS, 1), (3, 6, 112, True, HS, 1), (3, 6, 112, True, HS, 1),
    (5, 6, 160, True, HS, 2), (5, 6, 160, True, HS, 1), (5, 6, 160, True, HS, 1)), 1280)
SMALL = MobileNetV3Spec((
    (3, 1, 16, True, "relu", 2), (3, 72 / 16, 24, False, "relu", 2),
    (3, 88 / 24, 24, False, "relu", 1), (5, 4, 40, True, HS, 2), (5, 6, 40, True, HS, 1),
    (5, 6, 40, True, HS, 1), (5, 3, 48, True, HS, 1), (5, 3, 48, True, HS, 1),
    (5, 6, 96, True, HS, 2), (5, 6, 96, True, HS, 1), (5, 6, 96, True, HS, 1)), 1024)

_KERAS = ("keras.applications {}: {} parameters in all, of which {} are BatchNorm moving "
          "statistics; paper Table 3: {}")

# One record per variant; register_family (after _mobilenet_v3) makes the builders and __all__.
# keras' twins rescale inside (include_preprocessing); torchvision's take normalised input.
_TABLE = [
    Variant("mobilenet_v3_small", "MobileNetV3Small", SMALL, 2_542_856,
            _KERAS.format("MobileNetV3Small", "2,554,968", "12,112", "2.5M"),
            keras_equivalent="MobileNetV3Small",
            aliases=("timm/tf_mobilenetv3_small_100",)),
    Variant("mobilenet_v3_large", "MobileNetV3Large", LARGE, 5_483_032,
            _KERAS.format("MobileNetV3Large", "5,507,432", "24,400",
                          "5.4M (this count, = torchvision's, is 5.48M)"),
            keras_equivalent="MobileNetV3Large",
            aliases=("timm/tf_mobilenetv3_large_100",)),
    Variant("mobilenet_v3_small_tv", "MobileNetV3SmallTV", SMALL, 2_542_856,
            "torchvision mobilenet_v3_small (num_params 2,542,856)", options=TORCHVISION_OPTIONS,
            preprocessing="torch",
            doc="MobileNetV3-Small 1.0 (torchvision's padding and head)",
            aliases=("timm/mobilenetv3_small_100",)),
    Variant("mobilenet_v3_large_tv", "MobileNetV3LargeTV", LARGE, 5_483_032,
            "torchvision mobilenet_v3_large (num_params 5,483,032)", options=TORCHVISION_OPTIONS,
            preprocessing="torch",
            doc="MobileNetV3-Large 1.0 (torchvision's padding and head)",
            aliases=("timm/mobilenetv3_large_100",)),
]


def _mobilenet_v3(spec: MobileNetV3Spec, *, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, default_shape, min_size,
                  alpha=1.0, minimalistic=False, dropout_rate=0.2, include_preprocessing=True,
                  padding="keras", bn_momentum=0.999, head="conv"):
    if alpha <= 0:
        raise ValueError(f"{name}: alpha must be > 0, got {alpha}.")
    check_padding(padding, name)
    if head not in HEADS:
        raise ValueError(f"{name}: head must be one of {HEADS}, got {head!r}.")
    norm = dict(bn_epsilon=1e-3, bn_momentum=bn_momentum)
    act = "relu" if minimalistic else HS
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    if include_preprocessing:
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="stem_rescaling")(x)
    x = conv_bn_act(x, spec.stem_filters, 3, strides=2,
                    padding="same" if padding == "keras" else 1, use_bias=False, activation=act,
                    name="stem", **norm)

    def block(x, kernel, expansion, filters, se, activation, stride, *, name):
        expanded = make_divisible(x.shape[-1] * expansion)
        if minimalistic:
            kernel, se, activation = 3, False, "relu"
        return inverted_residual(
            x, make_divisible(filters * alpha),
            expanded=expanded if expansion != 1 else None, kernel_size=kernel, strides=stride,
            activation=activation, se_filters=make_divisible(expanded * 0.25) if se else 0,
            padding=padding, name=name, **norm)

    x = stage_loop(x, spec.blocks, block)
    x = conv_bn_act(x, make_divisible(x.shape[-1] * spec.top_expansion), 1, padding="same",
                    use_bias=False, activation=act, name="top", **norm)
    if include_top:
        if classes is None or classes < 1:
            raise ValueError(f"classes must be a positive integer, got {classes!r}.")
        width = make_divisible(spec.head_filters * alpha) if alpha > 1.0 else spec.head_filters
        if head == "linear":  # torchvision: Linear layers on the pooled vector
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            x = layers.Dense(width, name="head_fc")(x)
            x = layers.Activation(act, name=f"head_{act}")(x)
            if dropout_rate > 0:
                x = layers.Dropout(dropout_rate, name="head_dropout")(x)
            x = layers.Dense(classes, activation=classifier_activation, name="predictions",
                             dtype=head_dtype())(x)
            return finish(inputs, x, name=name, weights=weights)
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = conv_bn_act(x, width, 1, padding="same", batch_norm=False, use_bias=True,
                        activation=act, name="head")
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="head_dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", name="logits")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Activation(classifier_activation, name="predictions", dtype=head_dtype())(x)
    else:
        x = pool_features(x, pooling)
    return finish(inputs, x, name=name, weights=weights)


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "mobilenet_v3_large": (
        keras_checkpoint("MobileNetV3Large",
            Published("weights_mobilenet_v3_large_224_1.0_float.h5",
                "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
                KERAS_URL + "mobilenet_v3/", "59e551e166be033d707958cf9e29a6a7",
                "07fb09a5933dd0c8eaafa16978110389"),
            Transform(224, 256, normalization="raw"), top1=75.6, top5=None, size_mb=None,
            metrics_from="keras.applications.MobileNetV3 docstring"),
    ),
    "mobilenet_v3_large_tv": (
        torchvision_checkpoint("mobilenet_v3_large", "IMAGENET1K_V2",
            "mobilenet_v3_large-5c1a4163.pth", Transform(224, 232), top1=75.274, top5=92.566,
            size_mb=21.107,
            note="IMAGENET1K_V1 (74.042%) is mobilenet_v3_large-8738ca79.pth (load it by path)"),
    ),
    "mobilenet_v3_small": (
        keras_checkpoint("MobileNetV3Small",
            Published("weights_mobilenet_v3_small_224_1.0_float.h5",
                "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
                KERAS_URL + "mobilenet_v3/", "8768d4c2e7dee89b9d02b2d03d65d862",
                "d3e8ec802a04aa4fc771ee12a9a9b836"),
            Transform(224, 256, normalization="raw"), top1=68.1, top5=None, size_mb=None,
            metrics_from="keras.applications.MobileNetV3 docstring"),
    ),
    "mobilenet_v3_small_tv": (
        torchvision_checkpoint("mobilenet_v3_small", "IMAGENET1K_V1",
            "mobilenet_v3_small-047dcff4.pth", Transform(224, 256), top1=67.668, top5=87.402,
            size_mb=9.829),
    ),
}

VARIANTS = register_family(
    globals(), _mobilenet_v3, _TABLE, family="mobilenet_v3", paper=PAPER, preprocessing="raw",
    min_size=32, test_size=32,
    doc=lambda v: f"MobileNetV3-{'Small' if v.spec is SMALL else 'Large'} 1.0",
    weights=WEIGHTS, torch_mapping=lambda variant: torch_mapping(variant.spec))


def torch_mapping(spec: MobileNetV3Spec) -> TorchMapping:
    """torchvision's `features.{i}` (stem 0, one block each, top last) and
    `classifier.{0,3}`."""
    names = [f"stage{s}_block{b}" for s, b in staged([row[-1] for row in spec.blocks])]
    parts = {f"features.{i}": (name, ("expand",) * (expansion != 1) + ("dw",) + ("se",) * se
                               + ("project",))
             for i, (name, (_, expansion, _, se, _, _)) in enumerate(zip(names, spec.blocks),
                                                                    start=1)}
    top = len(spec.blocks) + 1
    fixed = {"features.0.0": "stem_conv", "features.0.1": "stem_bn",
             f"features.{top}.0": "top_conv", f"features.{top}.1": "top_bn",
             "classifier.0": "head_fc", "classifier.3": "predictions"}
    taps = {f"{name.split('_')[0]}_out": f"features.{i}" for i, name in enumerate(names, start=1)}
    return TorchMapping(rename_rules(exact(fixed) + torch_block_rules(parts)), taps,
                        head=("head_fc", "predictions"))
