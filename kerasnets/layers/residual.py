"""Merges and shortcuts that Keras does not ship: `ScaledAdd` (Inception-ResNet), `ZeroPadChannels`
(ResNet option A shortcuts), `WeightedSum` (RandWire nodes)."""

from __future__ import annotations

import keras
from keras import layers, ops

from kerasnets.layers._checks import positive_int


@keras.saving.register_keras_serializable(package="kerasnets")
class ScaledAdd(layers.Layer):
    """`inputs[0] + scale * inputs[1]`: a shortcut plus a residual scaled by a constant.

    The residual scaling of Szegedy et al. (arXiv:1602.07261, section 3.3, Figure 20: scale 0.1 to
    0.3 stabilises very wide residual Inception networks); keras.applications' InceptionResNetV2
    computes it in its `CustomScaleLayer`. Weightless, so it does not change weight order.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="kerasnets")
class ZeroPadChannels(layers.Layer):
    """Appends `extra` all-zero channels (channels-last): the identity shortcut of ResNet option A
    when the width grows (fb.resnet.torch's `Concat(Identity, MulConstant(0))`)."""

    def __init__(self, extra, **kwargs):
        super().__init__(**kwargs)
        self.extra = positive_int("ZeroPadChannels", "extra", extra)

    def call(self, inputs):
        return ops.pad(inputs, [[0, 0]] * (len(inputs.shape) - 1) + [[0, self.extra]])

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return tuple(input_shape[:-1]) + (None if channels is None else channels + self.extra,)

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}


@keras.saving.register_keras_serializable(package="kerasnets")
class WeightedSum(layers.Layer):
    """sum_i sigmoid(w_i) * x_i over a list of same-shaped inputs: the aggregation of a RandWire
    node, with positive learnable weights (w_i = 0 at the start: every weight 1/2)."""

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise ValueError(f"{self.name}: WeightedSum needs a list of two inputs or more.")
        self.logits = self.add_weight(shape=(len(input_shape),), initializer="zeros",
                                      name="logits")

    def call(self, inputs):
        weights = ops.sigmoid(self.logits)
        out = weights[0] * inputs[0]
        for i in range(1, len(inputs)):
            out = out + weights[i] * inputs[i]
        return out

    def compute_output_shape(self, input_shape):
        return input_shape[0]
