"""What ShuffleNet v1 and v2 share (`shufflenet.py`, `shufflenet_v2.py`): the 3x3 depthwise
convolution without activation, the stem (conv1 + max-pool) and the stage loop of Table 1 / 5,
in which each stage's first unit has stride 2 and each stage ends in `stage{s}_out`."""

from __future__ import annotations

from keras import layers

from kerasnets.applications._mobilenet_blocks import depthwise_bn_act
from kerasnets.layers import conv_bn_act


def depthwise_bn(x, stride, *, name):
    """3x3 depthwise convolution (padded by 1 on every side, as in the papers) + BN, no
    activation: `{name}_pad` (stride 2 only), `{name}_conv`, `{name}_bn`."""
    return depthwise_bn_act(x, 3, strides=stride, pad=1, activation=None, bn_epsilon=1e-5,
                            name=name)


def shufflenet_stem(x, width):
    """3x3/2 convolution + BN + ReLU, 3x3/2 max-pool (both padded by 1): `stem_*`."""
    x = conv_bn_act(x, width, 3, strides=2, padding=1, kernel_initializer="he_normal",
                    name="stem")
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)  # after a ReLU: zeros never win
    return layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def shufflenet_stages(x, spec, unit):
    """The stem (`spec.stem_width`), then stage s of `spec.depths[s - 1]` units of
    `spec.widths[s - 1]` output channels: `unit(x, width, stride=2 for a stage's first unit
    else 1, name="stage{s}_block{b}")`, closed by an Identity `stage{s}_out`."""
    x = shufflenet_stem(x, spec.stem_width)
    for s, (depth, width) in enumerate(zip(spec.depths, spec.widths), start=1):
        for b in range(1, depth + 1):
            x = unit(x, width, stride=2 if b == 1 else 1, name=f"stage{s}_block{b}")
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x
