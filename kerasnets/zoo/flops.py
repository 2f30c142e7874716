"""Analytic FLOPs: multiply-adds of one forward pass, per image, from layer shapes.

Convention: one multiply-add (MAC) counts once; only Conv / Depthwise / Separable / grouped /
transposed convolutions and Dense layers are counted (biases, batch norm, activations, pooling
and additions are left out, as in the papers' tables). Multiply by 2 for "FLOPs" in the
multiply-and-add-counted-twice convention.

TensorFlow's profiler gives the same numbers for ungrouped convolutions (tested), but it takes
about a minute for VGG16 and counts Keras' grouped `Conv2D(groups>1)` as zero; this counter is
instant and sees `GroupedConv2D`. Custom layers count themselves (a `macs` method; every
kerasnets layer that multiplies has one), so this module imports no kerasnets module.
"""

from __future__ import annotations

import math

import keras
from keras import layers


def _prod(values) -> int:
    out = 1
    for v in values:
        if v is None:
            raise ValueError("FLOPs need a model with a static input size; build it with a fixed "
                             "input_shape.")
        out *= int(v)
    return out


def _channels(layer, shape) -> int:
    """The channel count of a (batched) shape, channels_last or channels_first."""
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    return int(shape[1] if first else shape[-1])


def _spatial(layer, shape) -> int:
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    return _prod(shape[2:] if first else shape[1:-1])


def _conv_macs(conv, in_shape, out_shape) -> int:
    groups = getattr(conv, "groups", 1) or 1
    return _prod(out_shape[1:]) * _prod(conv.kernel_size) * (_channels(conv, in_shape) // groups)


def layer_macs(layer, in_shape, out_shape) -> int:
    """Multiply-adds of one call of `layer` with these (batched) input/output shapes.

    A custom layer can count itself with a method `macs(input_shape, output_shape) -> int`.
    """
    if callable(getattr(layer, "macs", None)):
        return int(layer.macs(in_shape, out_shape))
    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        depth = _spatial(layer, out_shape) * _channels(layer, in_shape) * layer.depth_multiplier
        return depth * _prod(layer.kernel_size) + depth * _channels(layer, out_shape)
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        return _prod(out_shape[1:]) * _prod(layer.kernel_size)
    if isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)):
        # every input position scatters a kernel-sized patch onto every output channel
        return (_spatial(layer, in_shape) * _prod(layer.kernel_size) * _channels(layer, in_shape)
                * _channels(layer, out_shape))
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        return _conv_macs(layer, in_shape, out_shape)
    if isinstance(layer, layers.Dense):
        return _prod(in_shape[1:]) * int(out_shape[-1])
    return 0


def _graph_nodes(model):
    """The call nodes of `model`'s own graph, inputs first.

    Only these count: a layer's `_inbound_nodes` also hold its calls in other graphs (a layer
    shared with another model, a Sequential rebuilt after `add` or `build`).
    """
    graph = getattr(model, "_functional", None) or model  # a built Sequential wraps a Functional
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if by_depth is None:
        raise ValueError(f"count_flops needs a functional model or a built Sequential; "
                         f"{model.name!r} ({type(model).__name__}) has no layer graph.")
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]


def count_flops(model, per_layer: bool = False):
    """Multiply-adds of one forward pass for one image.

    With `per_layer=True` returns `(total, {layer_name: macs})`. Nested models are counted through
    their own layers (as `outer/inner_layer`), once per call.
    """
    table: dict[str, int] = {}

    def visit(m, prefix=""):
        for node in _graph_nodes(m):
            layer = node.operation
            if isinstance(layer, keras.Model):
                visit(layer, prefix + layer.name + "/")
                continue
            if not node.input_tensors or not node.outputs:
                continue
            macs = layer_macs(layer, tuple(node.input_tensors[0].shape),
                              tuple(node.outputs[0].shape))
            if macs:
                key = prefix + layer.name
                table[key] = table.get(key, 0) + macs

    visit(model)
    total = sum(table.values())
    return (total, table) if per_layer else total


def format_flops(macs: int) -> str:
    """Human-readable multiply-adds: 3.86 G, 724 M, 12.3 K."""
    if macs <= 0:
        return "0"
    exp = min(int(math.log10(macs) // 3), 4)
    unit = ["", "K", "M", "G", "T"][exp]
    return f"{macs / 10 ** (3 * exp):.3g} {unit}".strip()
