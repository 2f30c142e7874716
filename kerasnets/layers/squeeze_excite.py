"""Squeeze-and-Excitation (Hu et al., arXiv:1709.01507), shared by SENet, MobileNet v3,
EfficientNet and friends."""

from __future__ import annotations

from keras import layers


def squeeze_excite(x, reduced_filters, *, activation="relu", gate="sigmoid", use_bias=True,
                   name):
    """Global average pool -> 1x1 conv to `reduced_filters` (+ `activation`) -> 1x1 conv back to
    the input width (+ `gate`) -> channel-wise rescaling of `x`.

    The 1x1 convolutions on the pooled 1x1 map hold the same parameters as the paper's two FC
    layers (r = 16: `reduced_filters = channels // 16`), and the same layers as keras.applications'
    EfficientNet / MobileNetV3 SE blocks. Layers: `{name}_squeeze`, `{name}_reduce`,
    `{name}_expand`, `{name}_scale`.
    """
    channels = x.shape[-1]
    if reduced_filters < 1:
        raise ValueError(f"{name}: squeeze-excite needs reduced_filters >= 1, got "
                         f"{reduced_filters} for {channels} channels.")
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(reduced_filters, 1, activation=activation, use_bias=use_bias,
                      name=f"{name}_reduce")(s)
    s = layers.Conv2D(channels, 1, activation=gate, use_bias=use_bias, name=f"{name}_expand")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])
