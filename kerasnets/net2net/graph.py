"""The functional graph Net2Net edits: its nodes in topological order with each tensor's producer
and consumers (`_Graph`), the generic rebuild (`_rebuild`: `keras.models.clone_model` with
changed configs, inserted layers and weights set by name), and the widths it reads."""

from __future__ import annotations

import collections
import difflib
from typing import Sequence

import keras
import numpy as np
from keras import layers

from kerasnets.layers import ConnectionTableConv2D
from kerasnets.utils import deep_graphs


class _Graph:
    """The nodes of a functional model in topological order, with each tensor's producer and
    consumers (keyed by `id(tensor)`), read from Keras' graph records (`KerasTensor.
    _keras_history`, `Layer._inbound_nodes`, as `keras.Model` itself walks them)."""

    def __init__(self, model):
        if isinstance(model, keras.Sequential) or not getattr(model, "outputs", None) \
                or not hasattr(model, "_run_through_graph"):
            raise ValueError(f"Net2Net needs a functional keras.Model; got {type(model).__name__}"
                             f" {getattr(model, 'name', '')!r} (build Sequential models with the "
                             f"functional API).")
        self.model = model
        self.nodes, seen, stack = [], set(), [(t, False) for t in model.outputs]
        while stack:  # iterative post-order walk from the outputs
            tensor, expanded = stack.pop()
            layer, index, _ = tensor._keras_history
            node = layer._inbound_nodes[index]
            if expanded:
                if id(node) not in seen:
                    seen.add(id(node))
                    self.nodes.append(node)
                continue
            if id(node) in seen:
                continue
            stack.append((tensor, True))
            stack += [(t, False) for t in reversed(node.input_tensors)]
        self.producer = {id(t): n for n in self.nodes for t in n.output_tensors}
        self.consumers = collections.defaultdict(list)
        for node in self.nodes:
            for t in {id(t): t for t in node.input_tensors}:
                self.consumers[t].append(node)
        self.outputs = {id(t) for t in model.outputs}
        uses = collections.Counter(n.operation.name for n in self.nodes)
        self.shared = {name for name, count in uses.items() if count > 1}
        self.by_name = {n.operation.name: n for n in self.nodes}

    def node(self, name: str):
        if name not in self.by_name:
            names = [layer.name for layer in self.model.layers]
            close = difflib.get_close_matches(name, names, n=4, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"Model {self.model.name!r} has no layer named {name!r}.{hint}")
        if name in self.shared:
            raise ValueError(f"Layer {name!r} is called more than once in {self.model.name!r}; "
                             f"Net2Net only changes layers used once.")
        return self.by_name[name]


def _rebuild(model, overrides=None, weights=None, after=None, inserted=()):
    """Clone `model` with configs updated by `overrides` (name -> dict) and `inserted` layers
    called after layer `after`, then set `weights` (name -> list) or copy the old ones."""
    overrides, weights = overrides or {}, weights or {}

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), **overrides.get(layer.name, {})})

    def call(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        if layer.name == after:
            for extra in inserted:
                out = extra(out)
        return out

    inputs = keras.tree.map_structure(  # keep the input layers' names
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype,
                              name=t._keras_history.operation.name), model.input)
    with deep_graphs():  # cloning walks the graph recursively, like building it
        new = keras.models.clone_model(model, input_tensors=inputs, clone_function=clone,
                                       call_function=call)
    for layer in new.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return new


def _width(layer) -> int | None:
    if isinstance(layer, layers.Dense):
        return layer.units
    if isinstance(layer, (layers.Conv2D, layers.SeparableConv2D, ConnectionTableConv2D)):
        return layer.filters
    return None


def max_output_difference(model_a, model_b, inputs) -> float:
    """Largest absolute difference between the two models' outputs on `inputs` (inference)."""
    a = keras.ops.convert_to_numpy(model_a(inputs, training=False))
    b = keras.ops.convert_to_numpy(model_b(inputs, training=False))
    return float(np.max(np.abs(a.astype("float64") - b.astype("float64"))))


def layer_widths(model, names: Sequence[str] | None = None) -> dict[str, int]:
    """Units / filters of the model's width-owning layers (Dense, Conv2D, ...), by name."""
    found = {la.name: _width(la) for la in model.layers}
    return {k: v for k, v in found.items() if v is not None and (names is None or k in names)}
