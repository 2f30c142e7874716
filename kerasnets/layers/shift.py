"""The shift operation: "Shift: A Zero FLOP, Zero Parameter Alternative to Spatial Convolutions"
(Wu, Wan, Yue, Jin, Zhao, Golmant, Gholaminejad, Gonzalez & Keutzer, CVPR 2018,
arXiv:1711.08141), section 3."""

from __future__ import annotations

import keras
from keras import layers, ops

from kerasnets.layers._checks import positive_int


@keras.saving.register_keras_serializable(package="kerasnets")
class Shift(layers.Layer):
    """Moves each channel by one of the `kernel_size**2` offsets of a k x k window, filling with
    zeros: no parameters and no multiply-adds.

    As in the paper, the M channels are divided evenly into k^2 groups of floor(M / k^2)
    contiguous channels; group i (row-major over the window) reads from offset
    `(dy, dx) = (i // k - k // 2, i % k - k // 2) * dilation_rate`, i.e.
    `out[h, w] = in[h + dy, w + dx]` (zero outside the image), so group k^2 // 2 is not moved.
    The M mod k^2 remaining channels are not moved either. Sandwiched between 1x1 convolutions,
    any assignment of offsets to channels is equivalent up to a permutation of the convolutions'
    weights (section 3); the authors' CUDA kernel interleaves the offsets (channel c takes offset
    c mod k^2) instead of grouping them. Channels-last.
    """

    def __init__(self, kernel_size=3, dilation_rate=1, **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"Shift needs an odd kernel_size >= 1, got {kernel_size}.")
        self.kernel_size = int(kernel_size)
        self.dilation_rate = positive_int("Shift", "dilation_rate", dilation_rate)

    def build(self, input_shape):
        channels = input_shape[-1]
        if len(input_shape) != 4 or channels is None or channels < self.kernel_size ** 2:
            raise ValueError(f"{self.name}: Shift needs 4D channels-last input with at least "
                             f"{self.kernel_size ** 2} channels, got shape {input_shape}.")

    def offsets(self):
        """(dy, dx) of each of the k^2 channel groups, in channel order."""
        k, d = self.kernel_size, self.dilation_rate
        return [((i // k - k // 2) * d, (i % k - k // 2) * d) for i in range(k * k)]

    def call(self, inputs):
        reach = self.dilation_rate * (self.kernel_size // 2)
        per_group = inputs.shape[-1] // self.kernel_size ** 2
        padded = ops.pad(inputs, [[0, 0], [reach, reach], [reach, reach], [0, 0]])
        parts = []
        for i, (dy, dx) in enumerate(self.offsets()):
            rows = slice(reach + dy, (dy - reach) or None)  # keeps the input's height
            cols = slice(reach + dx, (dx - reach) or None)
            parts.append(padded[:, rows, cols, i * per_group:(i + 1) * per_group])
        rest = per_group * self.kernel_size ** 2
        if rest < inputs.shape[-1]:
            parts.append(inputs[..., rest:])
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape, output_shape):
        return 0

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate}
