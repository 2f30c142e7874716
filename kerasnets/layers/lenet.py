"""The layers of LeNet-5 ("Gradient-Based Learning Applied to Document Recognition", LeCun,
Bottou, Bengio & Haffner 1998, section II.B and Appendix A), usable in any model: LeCun's
`scaled_tanh` squashing function, trainable subsampling (`TrainableSubsampling`, the S-layers),
a convolution restricted by a connection table (`ConnectionTableConv2D`, C3's Table I) and the
Euclidean RBF output units (`EuclideanRBF`). `kerasnets.applications.lenet` builds LeNet-5 from
them.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerasnets")
def scaled_tanh(x):
    """LeCun's squashing function f(a) = 1.7159 tanh(2a/3) (f(1) = 1, f(-1) = -1)."""
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


@keras.saving.register_keras_serializable(package="kerasnets")
class TrainableSubsampling(layers.Layer):
    """LeNet's S-layers: the sum of each non-overlapping `pool_size` window, times a trainable
    coefficient, plus a trainable bias (one coefficient and one bias per feature map).

    The coefficient starts at 1 / pool_size**2, i.e. as average pooling.
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.coefficient = self.add_weight(
            name="coefficient", shape=(channels,),
            initializer=keras.initializers.Constant(1.0 / self.pool_size ** 2))
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        area = float(self.pool_size ** 2)
        window_sum = ops.average_pool(inputs, self.pool_size, self.pool_size, "valid") * area
        return window_sum * self.coefficient + self.bias

    def compute_output_shape(self, input_shape):
        size = lambda n: None if n is None else n // self.pool_size  # noqa: E731
        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="kerasnets")
class ConnectionTableConv2D(layers.Layer):
    """A valid, stride-1 convolution in which output map j sees only the input maps `table[j]`
    (LeNet-5's C3). Parameters: one `kernel_size` x `kernel_size` kernel per connection and one
    bias per output map, so the count is exactly the table's.

    The kernels live in one (k, k, connections) variable and are scattered into a dense
    (k, k, in, out) kernel with zeros elsewhere for a single convolution. `kernel_initializer`
    initialises that dense kernel (so its fans are the usual ones); the table's entries are kept.
    """

    def __init__(self, table, kernel_size, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.table = tuple(tuple(int(i) for i in row) for row in table)
        if not self.table or any(not row or len(set(row)) != len(row) for row in self.table):
            raise ValueError(f"{self.name}: every output map needs one or more distinct inputs, "
                             f"got table={self.table}.")
        self.kernel_size = int(kernel_size)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @property
    def filters(self):
        return len(self.table)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or max(max(row) for row in self.table) >= channels:
            raise ValueError(f"{self.name}: the connection table refers to input maps beyond the "
                             f"{channels} input channels.")
        connections = [(i, j) for j, row in enumerate(self.table) for i in row]
        scatter = np.zeros((len(connections), channels, self.filters), "float32")
        for n, (i, j) in enumerate(connections):
            scatter[n, i, j] = 1.0
        self._scatter = scatter
        k = self.kernel_size

        def init_kernel(shape, dtype=None):
            dense = self.kernel_initializer((k, k, channels, self.filters), dtype=dtype)
            return ops.einsum("hwio,nio->hwn", dense, ops.cast(scatter, dense.dtype))

        self.kernel = self.add_weight(name="kernel", shape=(k, k, len(connections)),
                                      initializer=init_kernel)
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer=self.bias_initializer)

    def call(self, inputs):
        scatter = ops.cast(self._scatter, self.kernel.dtype)
        kernel = ops.einsum("hwn,nio->hwio", self.kernel, scatter)
        return ops.conv(inputs, ops.cast(kernel, inputs.dtype), strides=1,
                        padding="valid") + ops.cast(self.bias, inputs.dtype)

    def macs(self, input_shape, output_shape):
        """Multiply-adds of the table's connections only (the zeros of the dense kernel aside)."""
        connections = sum(len(row) for row in self.table)
        return int(np.prod(output_shape[1:3])) * connections * self.kernel_size ** 2

    def compute_output_shape(self, input_shape):
        size = lambda n: None if n is None else n - self.kernel_size + 1  # noqa: E731
        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "table": [list(row) for row in self.table],
                "kernel_size": self.kernel_size,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@keras.saving.register_keras_serializable(package="kerasnets")
class EuclideanRBF(layers.Layer):
    """LeNet-5's output layer: unit i computes y_i = sum_j (x_j - w_ij)^2, the squared distance
    from its input to its parameter vector; the layer returns `activation(-y)` (negative squared
    distances as logits). The paper fixed the vectors to +-1 bitmaps of the characters; here they
    are trainable and start uniform in [-1, 1].
    """

    def __init__(self, units, activation=None, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomUniform(-1.0, 1.0))

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer)

    def call(self, inputs):
        diff = ops.expand_dims(inputs, -1) - ops.cast(self.kernel, inputs.dtype)
        return self.activation(-ops.sum(ops.square(diff), axis=-2))

    def macs(self, input_shape, output_shape):
        """One squared difference (a multiply-add) per input per unit."""
        return int(np.prod(input_shape[1:])) * self.units

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
