"""Normalisation layers that Keras does not ship."""

from __future__ import annotations

import keras
from keras import layers, ops

from kerasnets.zoo.preprocessing import check_mode, renormalize


@keras.saving.register_keras_serializable(package="kerasnets")
class LocalResponseNormalization(layers.Layer):
    """Local response normalisation across channels (Krizhevsky et al., 2012, section 3.3).

        b[c] = a[c] / (k + alpha * sum_{c' in window(c)} a[c']**2) ** beta

    with a window of `size` adjacent channels centred on c (clipped at the edges). The paper's
    constants are the defaults: size n = 5, k = 2, alpha = 1e-4, beta = 0.75. Note that Caffe
    divides alpha by n; pass `alpha=1e-4 / 5` to reproduce Caffe models. Channels-last input.
    Built from elementwise ops and slices only, so it exports to TFLite and ONNX.
    """

    def __init__(self, size=5, k=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if size < 1 or size % 2 == 0:
            raise ValueError(f"LocalResponseNormalization size must be odd and >= 1, got {size}.")
        self.size, self.k, self.alpha, self.beta = int(size), float(k), float(alpha), float(beta)

    def call(self, inputs):
        half = self.size // 2
        squared = ops.square(inputs)
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[half, half]]
        padded = ops.pad(squared, pad)
        channels = inputs.shape[-1]
        window = padded[..., 0:channels]
        for offset in range(1, self.size):
            window = window + padded[..., offset:offset + channels]
        return inputs / ops.power(self.k + self.alpha * window, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, k=self.k, alpha=self.alpha, beta=self.beta)
        return config


@keras.saving.register_keras_serializable(package="kerasnets")
class Renormalize(layers.Layer):
    """Input normalised by preprocessing mode `source` -> the same pixels normalised by `target`
    with `channels` channels (`kerasnets.zoo.preprocessing.renormalize`): puts a model that expects
    one normalisation (an ImageNet teacher) behind a pipeline made for another (its student).
    Parameter-free."""

    def __init__(self, source: str, target: str, channels: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.source, self.target = check_mode(source), check_mode(target)
        if channels not in (None, 1, 3):
            raise ValueError(f"Renormalize: channels must be 1, 3 or None, got {channels}.")
        self.channels = channels

    def call(self, inputs):
        return renormalize(inputs, self.source, self.target, self.channels)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels or input_shape[-1],)

    def macs(self, input_shape, output_shape):
        return 0

    def get_config(self):
        return {**super().get_config(), "source": self.source, "target": self.target,
                "channels": self.channels}
