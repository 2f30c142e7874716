"""Pooling layers that Keras does not ship."""

from __future__ import annotations

import keras
from keras import layers, ops


class _PaddedValidMaxPooling(layers.MaxPooling2D):
    """A valid max-pool after rows and columns of -inf (`_pads()`: (top, bottom), (left, right)),
    so a padded value is never selected. Channels-last only."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        name = type(self).__name__
        if padding != "valid":
            raise ValueError(f"{name} pads by itself; padding must be 'valid', got {padding!r}.")
        super().__init__(pool_size, strides, padding="valid", data_format=data_format, **kwargs)
        if self.data_format != "channels_last":
            raise ValueError(f"{name} supports channels_last only.")

    def call(self, inputs):
        rows, cols = self._pads()
        padded = ops.pad(inputs, [[0, 0], list(rows), list(cols), [0, 0]],
                         constant_values=float("-inf"))
        return super().call(padded)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        rows, cols = (sum(p) for p in self._pads())
        padded = (batch, None if height is None else height + rows,
                  None if width is None else width + cols, channels)
        return super().compute_output_shape(padded)


@keras.saving.register_keras_serializable(package="kerasnets")
class CeilModeMaxPooling2D(_PaddedValidMaxPooling):
    """Max pooling whose output size rounds up, as Caffe's pooling and PyTorch's `ceil_mode=True`:

        out = ceil((n - pool_size) / strides) + 1        (Keras' "valid" rounds down)

    The 2012-2014 Caffe / cuda-convnet models (CNN-F/M/S, ZFNet) need it for their published
    feature-map sizes, e.g. 3x3/2 pooling of 26x26 maps gives 13x13, not 12x12. Implemented as
    `strides - 1` rows and columns of -inf on the bottom/right followed by a valid max-pool, so a
    padded value is never selected (requires `strides <= pool_size`: every window starts inside
    the input). Channels-last only.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        if any(s > p for s, p in zip(self.strides, self.pool_size)):
            raise ValueError(f"CeilModeMaxPooling2D needs strides <= pool_size, got "
                             f"strides={self.strides}, pool_size={self.pool_size}.")

    def _pads(self):
        return tuple((0, s - 1) for s in self.strides)


@keras.saving.register_keras_serializable(package="kerasnets")
class PaddedMaxPooling2D(_PaddedValidMaxPooling):
    """PyTorch's `MaxPool2d(pool_size, strides, padding=pad)`: `pad` rows and columns of -inf on
    every side, then a valid max-pool, so out = floor((n + 2 * pad - pool_size) / strides) + 1 and
    a padded value is never selected. Keras' "same" pads only the bottom/right of even sides
    (TF's rule), which picks other windows: ports of PyTorch models (timm's legacy Xception) need
    this one. `pad <= pool_size // 2`, as PyTorch requires. Channels-last only.
    """

    def __init__(self, pool_size=2, strides=None, pad=0, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        pads = (pad, pad) if isinstance(pad, int) else tuple(pad)
        if len(pads) != 2 or any(not isinstance(p, int) or p < 0 for p in pads):
            raise ValueError(f"PaddedMaxPooling2D pad must be a non-negative int or a pair of "
                             f"them, got {pad!r}.")
        if any(p > k // 2 for p, k in zip(pads, self.pool_size)):
            raise ValueError(f"PaddedMaxPooling2D needs pad <= pool_size // 2 (as PyTorch), got "
                             f"pad={pad!r}, pool_size={self.pool_size}.")
        self.pad = pads

    def _pads(self):
        return tuple((p, p) for p in self.pad)

    def get_config(self):
        return {**super().get_config(), "pad": list(self.pad)}
