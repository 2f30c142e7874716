"""Convolution building blocks shared by every family."""

from __future__ import annotations

import math

import keras
from keras import layers, ops


def _pair(value):
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


@keras.saving.register_keras_serializable(package="kerasnets")
class GroupedConv2D(layers.Layer):
    """Grouped convolution with one kernel in the standard `(kh, kw, cin / groups, cout)` layout
    (the same variables, in the same shapes, as `keras.layers.Conv2D(groups=g)`, so checkpoints
    are interchangeable and identical on every device), computed by the fastest route:

    - `implementation="split"`: split input and kernel into `groups` parts, one convolution each,
      concatenate. On CPU Keras' `Conv2D(groups>1)` trains ~100x slower (its kernel gradient goes
      through a slow XLA path) and exports to ONNX graphs that onnxruntime rejects; the split form
      is numerically identical, exports cleanly and its FLOPs are visible to profilers.
    - `implementation="native"`: one grouped convolution (cuDNN does it well on GPUs).
    - `implementation="auto"` (default): native when TensorFlow sees a GPU, else split; decided
      when the layer is traced.
    """

    IMPLEMENTATIONS = ("auto", "split", "native")

    def __init__(self, filters, kernel_size, groups, strides=1, padding="valid", use_bias=True,
                 dilation_rate=1, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, implementation="auto", **kwargs):
        super().__init__(**kwargs)
        if groups < 1 or filters % groups:
            raise ValueError(f"{self.name}: filters={filters} is not divisible by groups={groups}.")
        if implementation not in self.IMPLEMENTATIONS:
            raise ValueError(f"{self.name}: implementation must be one of {self.IMPLEMENTATIONS}, "
                             f"got {implementation!r}.")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.groups = int(groups)
        self.strides = _pair(strides)
        self.padding = padding
        self.use_bias = use_bias
        self.dilation_rate = _pair(dilation_rate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.implementation = implementation

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(f"{self.name}: input channels {channels} are not divisible by "
                             f"groups={self.groups}.")
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (channels // self.groups, self.filters),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def _native(self):
        if self.implementation != "auto":
            return self.implementation == "native"
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))

    def call(self, inputs):
        kernel = ops.cast(self.kernel, inputs.dtype)
        conv = lambda x, k: ops.conv(x, k, strides=self.strides, padding=self.padding,  # noqa: E731
                                     dilation_rate=self.dilation_rate)
        if self._native():
            out = conv(inputs, kernel)
        else:
            out = ops.concatenate([conv(x, k) for x, k in zip(
                ops.split(inputs, self.groups, axis=-1),
                ops.split(kernel, self.groups, axis=-1))], axis=-1)
        if self.bias is not None:
            out = out + ops.cast(self.bias, out.dtype)
        return out

    def macs(self, input_shape, output_shape):
        """Multiply-adds of one call (`kerasnets.zoo.flops`): every output value reads a kernel
        window over its group's `input channels / groups` channels."""
        kh, kw = self.kernel_size
        return math.prod(int(d) for d in output_shape[1:]) * kh * kw * (
            int(input_shape[-1]) // self.groups)

    def compute_output_shape(self, input_shape):
        return ops.conv(keras.KerasTensor(input_shape),
                        keras.KerasTensor(self.kernel_size + (input_shape[-1], self.filters)),
                        strides=self.strides, padding=self.padding,
                        dilation_rate=self.dilation_rate).shape

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, groups=self.groups,
            strides=self.strides, padding=self.padding, use_bias=self.use_bias,
            dilation_rate=self.dilation_rate, implementation=self.implementation,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
        )
        return config


def conv2d(filters, kernel_size, *, strides=1, padding="valid", groups=1, use_bias=True,
           name=None, **kwargs):
    """A `Conv2D` for groups == 1, else the CPU- and export-friendly `GroupedConv2D`."""
    if groups == 1:
        return layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                             use_bias=use_bias, name=name, **kwargs)
    return GroupedConv2D(filters, kernel_size, groups, strides=strides, padding=padding,
                         use_bias=use_bias, name=name, **kwargs)


def conv_bn_act(x, filters, kernel_size, *, strides=1, padding="same", groups=1, use_bias=None,
                batch_norm=True, activation="relu", bn_epsilon=1e-5, bn_momentum=0.99,
                kernel_initializer="glorot_uniform", name):
    """Conv (+ BatchNorm) (+ activation). Layers: `{name}_pad`, `{name}_conv`, `{name}_bn`,
    `{name}_{activation}`.

    `padding` is "same", "valid" or an explicit int / pair of ints (a `ZeroPadding2D` followed by
    a valid convolution, as in the papers' tables and PyTorch). `use_bias` defaults to
    `not batch_norm`.
    """
    if use_bias is None:
        use_bias = not batch_norm
    if not isinstance(padding, str):
        if padding:
            x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        padding = "valid"
    x = conv2d(filters, kernel_size, strides=strides, padding=padding, groups=groups,
               use_bias=use_bias, kernel_initializer=kernel_initializer, name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum,
                                      name=f"{name}_bn")(x)
    if activation:
        act_name = activation if isinstance(activation, str) else "act"
        x = layers.Activation(activation, name=f"{name}_{act_name}")(x)
    return x
