"""Channel shuffle and channel split (ShuffleNet v1/v2, Zhang et al. arXiv:1707.01083,
Ma et al. arXiv:1807.11164). Channels-last, parameter-free, no multiply-adds."""

from __future__ import annotations

import keras
from keras import layers, ops

from kerasnets.layers._checks import positive_int


def _check_groups(layer, channels, groups):
    if channels is None or channels % groups:
        raise ValueError(f"{layer.name}: the number of channels ({channels}) must be known and "
                         f"divisible by {groups}.")


@keras.saving.register_keras_serializable(package="kerasnets")
class ChannelShuffle(layers.Layer):
    """Interleaves the channels of `groups` groups (ShuffleNet, section 3.1): the `g * n` channels
    are reshaped to `(g, n)`, transposed to `(n, g)` and flattened back, so output channel
    `j * g + i` is input channel `i * n + j` and each group of the next grouped convolution sees
    every group of this one."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = positive_int("ChannelShuffle", "groups", groups)

    def build(self, input_shape):
        _check_groups(self, input_shape[-1], self.groups)

    def call(self, inputs):
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        x = ops.reshape(inputs, tuple(shape[:-1]) + (self.groups, channels // self.groups))
        x = ops.swapaxes(x, -1, -2)
        return ops.reshape(x, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape, output_shape):
        return 0

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="kerasnets")
class ChannelSplit(layers.Layer):
    """Splits the channels into `parts` equal, contiguous parts and returns them as a list
    (ShuffleNet v2's channel split, section 4)."""

    def __init__(self, parts=2, **kwargs):
        super().__init__(**kwargs)
        self.parts = positive_int("ChannelSplit", "parts", parts)

    def build(self, input_shape):
        _check_groups(self, input_shape[-1], self.parts)

    def call(self, inputs):
        return ops.split(inputs, self.parts, axis=-1)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        part = tuple(input_shape[:-1]) + (None if channels is None else channels // self.parts,)
        return [part] * self.parts

    def macs(self, input_shape, output_shape):
        return 0

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}
