"""Analytic FLOPs: multiply-adds of one forward pass, per image, from layer shapes.

Convention: one multiply-add (MAC) counts once; only Conv / Depthwise / Separable / grouped
convolutions and Dense layers are counted (biases, batch norm, activations, pooling and additions
are left out, as in the papers' tables). Multiply by 2 for "FLOPs" in the
multiply-and-add-counted-twice convention.

TensorFlow's profiler gives the same numbers for ungrouped convolutions (tested), but it takes
about a minute for VGG16 and counts Keras' grouped `Conv2D(groups>1)` as zero; this counter is
instant and sees `GroupedConv2D`.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from kerasnets.layers import GroupedConv2D


def _prod(values) -> int:
    out = 1
    for v in values:
        if v is None:
            raise ValueError("FLOPs need a model with a static input size; build it with a fixed "
                             "input_shape.")
        out *= int(v)
    return out


def _conv_macs(conv, in_shape, out_shape) -> int:
    groups = getattr(conv, "groups", 1) or 1
    return _prod(out_shape[1:]) * _prod(conv.kernel_size) * (int(in_shape[-1]) // groups)


def layer_macs(layer, in_shape, out_shape) -> int:
    """Multiply-adds of one call of `layer` with these (batched) input/output shapes."""
    if isinstance(layer, GroupedConv2D):
        g = layer.groups
        sub_in = tuple(in_shape[:-1]) + (int(in_shape[-1]) // g,)
        sub_out = tuple(out_shape[:-1]) + (int(out_shape[-1]) // g,)
        return g * _conv_macs(layer.convs[0], sub_in, sub_out)
    if isinstance(layer, layers.SeparableConv2D):
        depth = _prod(out_shape[1:-1]) * int(in_shape[-1]) * layer.depth_multiplier
        return depth * _prod(layer.kernel_size) + depth * int(out_shape[-1])
    if isinstance(layer, layers.DepthwiseConv2D):
        return _prod(out_shape[1:]) * _prod(layer.kernel_size)
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)) and not isinstance(
            layer, (layers.Conv2DTranspose,)):
        return _conv_macs(layer, in_shape, out_shape)
    if isinstance(layer, layers.Dense):
        return _prod(in_shape[1:]) * int(out_shape[-1])
    return 0


def _shape(t):
    return tuple(t.shape)


def count_flops(model, per_layer: bool = False):
    """Multiply-adds of one forward pass for one image.

    With `per_layer=True` returns `(total, {layer_name: macs})`. Nested functional models are
    counted through their own layers.
    """
    table: dict[str, int] = {}

    def visit(m, prefix=""):
        for layer in m.layers:
            if isinstance(layer, keras.Model) and hasattr(layer, "layers"):
                visit(layer, prefix + layer.name + "/")
                continue
            total = 0
            for node in getattr(layer, "_inbound_nodes", []):
                ins = [t for t in node.input_tensors]
                outs = list(node.outputs)
                if not ins or not outs:
                    continue
                total += layer_macs(layer, _shape(ins[0]), _shape(outs[0]))
            if total:
                table[prefix + layer.name] = total

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
