"""Residual merges that Keras does not ship."""

from __future__ import annotations

import keras
from keras import layers


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
