"""MobileNet (v1): "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications" (Howard et al., 2017, arXiv:1704.04861), Table 1 body, the width multiplier of
Table 6, the resolution multiplier of Table 7 and the full-convolution control of Table 4.

    stage  input    layers (Table 1)                                   filters
    stem   224^2    3x3 conv /2                                        32
    1      112^2    dw 3x3 + pw 1x1                                    64
    2      112^2    dw 3x3 /2 + pw; dw + pw                            128
    3       56^2    dw /2 + pw; dw + pw                                256
    4       28^2    dw /2 + pw; 5 x (dw + pw)                          512
    5       14^2    dw /2 + pw; dw + pw                                1024
    head     7^2    global average pool, classifier

Every convolution is followed by BatchNorm and ReLU6 (keras.applications; the paper says ReLU).
Table 1 prints the last depthwise convolution as "s2" on a 7x7 input; it has stride 1, as the
input sizes in the same table and every released model show.

`MobileNet` holds keras.applications.MobileNet's weights in its order and shapes (tested), with
keras' head: global average pool (1x1 map) -> dropout -> 1x1 convolution "conv_preds" -> reshape
-> activation "predictions" (the same function as a Dense layer). Options (keyword-only):
`alpha` (width multiplier: every width x alpha, rounded down as keras does), `depth_multiplier`
(channels per depthwise filter), `dropout` (keras' 1e-3) and `depthwise=False`, the paper's
"Conv MobileNet" of Table 4 (each dw + pw pair replaced by a full 3x3 convolution). The
resolution multiplier is the input size: `input_shape=(160, 160, 3)`.

Parameter and mult-add counts follow the paper's convention, the classifier included (Table 2
gives it 24.33% of the parameters and 0.18% of the mult-adds): 4.2M / 569M for 1.0 MobileNet-224.
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import (finish, head_dtype, model_input, pool_features,
                                            register_family)
from kerasnets.applications._mobilenet_blocks import depthwise_bn_act, stage_loop
from kerasnets.layers import conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.records import KERAS_URL, Published, Transform, keras_checkpoint

PAPER = Paper("MobileNets: Efficient Convolutional Neural Networks for Mobile Vision "
              "Applications", "1704.04861", 2017)


@dataclasses.dataclass(frozen=True)
class MobileNetSpec:
    stem_filters: int = 32
    # (pointwise filters, stride of the depthwise convolution), one row per dw + pw pair
    blocks: tuple[tuple[int, int], ...] = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1),
                                           (512, 2)) + ((512, 1),) * 5 + ((1024, 2), (1024, 1))


BODY = MobileNetSpec()
_KERAS = ("keras.applications MobileNet(alpha={}): {} parameters in all, of which {} are "
          "BatchNorm moving statistics; paper Table 6: {}")

# One record per variant (all of the one BODY, the options differ); register_family (after
# _mobilenet) makes the builders and __all__. Only the 1.0 MobileNet has weights (keras', "tf"
# preprocessing); the others have none, and the family's "torch" is nominal for them.
_TABLE = [
    Variant("mobilenet", "MobileNet", BODY, 4_231_976,
            _KERAS.format("1.0", "4,253,864", "21,888", "4.2M"), keras_equivalent="MobileNet",
            preprocessing="tf"),
    Variant("mobilenet_x0_75", "MobileNet_x0_75", BODY, 2_585_560,
            _KERAS.format("0.75", "2,601,976", "16,416", "2.6M"), options={"alpha": 0.75},
            retired=("mobilenet_075", "MobileNet_075")),
    Variant("mobilenet_x0_5", "MobileNet_x0_5", BODY, 1_331_592,
            _KERAS.format("0.5", "1,342,536", "10,944", "1.3M"), options={"alpha": 0.5},
            retired=("mobilenet_050", "MobileNet_050")),
    Variant("mobilenet_x0_25", "MobileNet_x0_25", BODY, 470_072,
            _KERAS.format("0.25", "475,544", "5,472", "0.5M"), options={"alpha": 0.25},
            retired=("mobilenet_025", "MobileNet_025")),
    Variant("mobilenet_conv", "MobileNet_Conv", BODY, 29_294_088,
            "exact count of Table 1 with full 3x3 convolutions; paper Table 4 (Conv MobileNet): "
            "29.3M", options={"depthwise": False}),
]


def conv_unit(x, filters, stride, *, alpha, depth_multiplier, depthwise, name):
    """One row of Table 1: depthwise 3x3 (+ BN + ReLU6) then pointwise 1x1 (+ BN + ReLU6)
    (`{name}_dw_*`, `{name}_pw_*`); with `depthwise=False` one full 3x3 convolution
    (`{name}_conv`, ...). A strided 3x3 pads one row and column at the end (keras)."""
    filters = int(filters * alpha)
    if not depthwise:
        if stride > 1:
            x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
        return conv_bn_act(x, filters, 3, strides=stride, padding="same" if stride == 1 else 0,
                           use_bias=False, activation="relu6", bn_epsilon=1e-3, name=name)
    x = depthwise_bn_act(x, 3, strides=stride, pad=((0, 1), (0, 1)),
                         depth_multiplier=depth_multiplier, bn_momentum=0.99, name=f"{name}_dw")
    return conv_bn_act(x, filters, 1, padding="same", use_bias=False, activation="relu6",
                       bn_epsilon=1e-3, name=f"{name}_pw")


def _mobilenet(spec: MobileNetSpec, *, include_top, weights, input_tensor, input_shape, pooling,
               classes, classifier_activation, name, default_shape, min_size, alpha=1.0,
               depth_multiplier=1, dropout=1e-3, depthwise=True):
    if alpha <= 0 or depth_multiplier < 1 or int(depth_multiplier) != depth_multiplier:
        raise ValueError(f"{name}: alpha must be > 0 and depth_multiplier a positive integer, "
                         f"got alpha={alpha}, depth_multiplier={depth_multiplier}.")
    if not depthwise and depth_multiplier != 1:
        raise ValueError(f"{name}: depth_multiplier applies to depthwise convolutions; "
                         f"depthwise=False needs depth_multiplier=1.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = conv_bn_act(x, int(spec.stem_filters * alpha), 3, strides=2, padding="same",
                    use_bias=False, activation="relu6", bn_epsilon=1e-3, name="stem")

    def block(x, filters, stride, *, name):
        return conv_unit(x, filters, stride, alpha=alpha, depth_multiplier=int(depth_multiplier),
                         depthwise=depthwise, name=name)

    x = stage_loop(x, spec.blocks, block)
    if include_top:
        if classes is None or classes < 1:
            raise ValueError(f"classes must be a positive integer, got {classes!r}.")
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = layers.Dropout(dropout, name="head_dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape")(x)
        x = layers.Activation(classifier_activation, name="predictions", dtype=head_dtype())(x)
    else:
        x = pool_features(x, pooling)
    return finish(inputs, x, name=name, weights=weights)


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "mobilenet": (
        keras_checkpoint("MobileNet",
            Published("mobilenet_1_0_{size}_tf.h5", "mobilenet_1_0_{size}_tf_no_top.h5",
                KERAS_URL + "mobilenet/", sizes=(128, 160, 192, 224)),
            Transform(224, 256, normalization="tf"), top1=70.4, top5=89.5, size_mb=16),
    ),
}

VARIANTS = register_family(
    globals(), _mobilenet, _TABLE, family="mobilenet", paper=PAPER, min_size=32, test_size=32,
    doc=lambda v: ("Conv MobileNet (full convolutions)" if v.name.endswith("conv")
                   else f"{v.options.get('alpha', 1.0)} MobileNet"),
    weights=WEIGHTS)
