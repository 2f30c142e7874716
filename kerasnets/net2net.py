"""Net2Net: function-preserving widening and deepening of Keras functional models.

Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via Knowledge Transfer" (ICLR 2016,
arXiv:1511.05641; seed 003), section 2.

- **Net2WiderNet** (`wider`): a layer of n units becomes one of q > n units; unit j < n keeps its
  weights, unit j >= n copies a randomly chosen unit g(j). Every layer that reads the widened
  units gets their outgoing weights divided by the number of copies, so its output is unchanged.
  The copies are followed through everything between the widened layer and its readers:
  per-channel layers (BatchNormalization: gamma, beta, mean, variance copied per unit; LeNet's
  trainable subsampling; DepthwiseConv2D), element-wise activations, pooling, padding, dropout,
  Flatten (a copied channel's positions in the flattened vector), channel concatenations and
  element-wise merges (Add, Multiply, ...). Both sides of a merge must carry the same copies, so
  the layers on the other side of a residual addition are widened together with the requested
  one (`follow_additions=False` raises instead).
- **Net2DeeperNet** (`deeper`): inserts a layer initialised to the identity (a convolution with a
  centred identity kernel, or a Dense with an identity matrix; then, when the model uses
  BatchNorm, an identity BatchNorm: gamma = sqrt(var + eps), beta = mean) followed by the
  activation that produced its input. That preserves the function only when the activation is
  idempotent, f(f(x)) = f(x) (ReLU, ReLU6, linear), so others (tanh, sigmoid, ...) are refused.

The new model is rebuilt generically: `keras.models.clone_model` walks the functional graph in
topological order, each changed layer is re-created from its `get_config()` with new
`filters`/`units` (the other layers re-infer their shapes), inserted layers are called after the
named one, and the weights are set by layer name. Layer names are kept, so later steps can
address the same layers; inserted layers are named `{after}_deeper{n}_{conv|dense|bn|act}`.
`noise` > 0 adds the paper's small symmetry-breaking noise to the outgoing weights of copied
units (the function is then preserved only approximately).
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import re
from typing import Sequence

import keras
import numpy as np
from keras import layers

from kerasnets.layers import (ConnectionTableConv2D, ScaledAdd, TrainableSubsampling,
                              ZeroPadChannels)
from kerasnets.utils import deep_graphs

__all__ = ["Step", "apply_step", "deeper", "layer_widths", "max_output_difference",
           "parse_schedule", "resolve_width", "wider"]

# Single-input layers that act on each channel separately and keep channel positions.
_CHANNELWISE = (layers.Activation, layers.ReLU, layers.LeakyReLU, layers.ELU, layers.Dropout,
                layers.SpatialDropout2D, layers.GaussianDropout, layers.GaussianNoise,
                layers.AlphaDropout, layers.Identity, layers.MaxPooling2D,
                layers.AveragePooling2D, layers.GlobalAveragePooling2D,
                layers.GlobalMaxPooling2D, layers.ZeroPadding2D, layers.Cropping2D,
                layers.UpSampling2D, layers.ActivityRegularization)
# Of those, the ones that keep an activation's range (deeper looks through them for it).
_RANGE_KEEPING = (layers.Dropout, layers.SpatialDropout2D, layers.GaussianDropout,
                  layers.AlphaDropout, layers.Identity, layers.MaxPooling2D,
                  layers.AveragePooling2D, layers.GlobalAveragePooling2D,
                  layers.GlobalMaxPooling2D, layers.ZeroPadding2D, layers.Cropping2D,
                  layers.UpSampling2D, layers.Flatten)
_MERGES = (layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum,
           layers.Minimum)
_IDEMPOTENT = ("relu", "relu6", "linear")
_WHY_NOT = {
    "LocalResponseNormalization": "it divides each channel by its neighbours' energy, so copied "
                                  "channels change every output",
    "EuclideanRBF": "its squared distances would count a copied input once per copy (build "
                    "LeNet-5 with output='dense' to widen fc1)",
    "GroupedConv2D": "a grouped convolution splits its channels into fixed groups",
    "ChannelShuffle": "it moves channels between groups",
    "ChannelSplit": "it splits channels into fixed halves",
}


# ----------------------------------------------------------------------------- the graph


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


# ----------------------------------------------------------------------------- Net2WiderNet


def _width(layer) -> int | None:
    if isinstance(layer, layers.Dense):
        return layer.units
    if isinstance(layer, (layers.Conv2D, layers.SeparableConv2D, ConnectionTableConv2D)):
        return layer.filters
    return None


def _check_layer(layer, role: str) -> None:
    """Raise unless `layer` can be widened (`role="out"`) or read widened inputs (`"in"`)."""
    cls = type(layer).__name__
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"Layer {layer.name!r} ({cls}) is channels_first; Net2Net supports "
                         f"channels_last models only.")
    if isinstance(layer, layers.Conv2D) and getattr(layer, "groups", 1) != 1:
        raise ValueError(f"Layer {layer.name!r} (Conv2D, groups={layer.groups}) cannot be "
                         f"widened or take widened inputs: a grouped convolution splits its "
                         f"channels into fixed groups.")
    if isinstance(layer, layers.DepthwiseConv2D) and role == "out":
        raise ValueError(f"Layer {layer.name!r} (DepthwiseConv2D) has depth_multiplier x its "
                         f"input's channels: widen the layer that feeds it instead.")
    if isinstance(layer, layers.BatchNormalization) and \
            layer.axis not in (-1, len(layer.input.shape) - 1):
        raise ValueError(f"Layer {layer.name!r} (BatchNormalization) normalises axis "
                         f"{layer.axis}, not the channel axis.")


def _is_unit_layer(layer) -> bool:
    """Dense / Conv2D / SeparableConv2D / ConnectionTableConv2D: they own units (a width) and
    read their inputs through weights, so they can be widened and can absorb widened inputs."""
    return _width(layer) is not None


def _unsupported(layer, target: str) -> ValueError:
    cls = type(layer).__name__
    why = _WHY_NOT.get(cls, "Net2Net does not know how this layer mixes channels")
    if isinstance(layer, layers.Activation) and layer.get_config()["activation"] in (
            "softmax", "log_softmax"):
        why = "softmax normalises across the channels"
    return ValueError(f"Cannot widen {target!r}: its channels reach layer {layer.name!r} ({cls}), "
                      f"which cannot take copied channels: {why}.")


class _WidenPlan:
    """Follows a replication map through the graph: `maps[id(tensor)]` gives, for every channel
    of the widened tensor, the old channel it copies; `in_maps` / `out_maps` the same for the
    input / output channels of each layer whose weights change."""

    def __init__(self, graph: _Graph, target: str, mapping: np.ndarray, follow_additions: bool):
        self.graph, self.target, self.follow = graph, target, follow_additions
        self.maps: dict[int, np.ndarray] = {}
        self.in_maps: dict[str, np.ndarray] = {}
        self.out_maps: dict[str, np.ndarray] = {}
        self.queue: collections.deque = collections.deque()
        node = graph.node(target)
        _check_layer(node.operation, "out")
        self._produce(node, mapping)
        while self.queue:
            self._forward(self.queue.popleft())

    def _assign(self, tensor, mapping, via: str) -> None:
        old = self.maps.get(id(tensor))
        if old is not None:
            if not np.array_equal(old, mapping):
                raise ValueError(f"Cannot widen {self.target!r}: layer {via!r} would receive two "
                                 f"different copies of the same channels (a merge or "
                                 f"concatenation reached twice); widen one branch at a time.")
            return
        if id(tensor) in self.graph.outputs:
            raise ValueError(f"Cannot widen {self.target!r}: it would change the width of the "
                             f"model output {via!r}.")
        self.maps[id(tensor)] = mapping
        self.queue.append(tensor)

    def _set(self, table, layer, mapping) -> None:
        if layer.name in self.graph.shared:
            raise ValueError(f"Cannot widen {self.target!r}: layer {layer.name!r} is called more "
                             f"than once.")
        if layer.name in table and not np.array_equal(table[layer.name], mapping):
            raise ValueError(f"Cannot widen {self.target!r}: layer {layer.name!r} would be "
                             f"widened twice in different ways.")
        table[layer.name] = mapping

    def _produce(self, node, mapping) -> None:
        self._set(self.out_maps, node.operation, mapping)
        self._assign(node.output_tensors[0], mapping, node.operation.name)

    def _require(self, tensor, mapping, merge) -> None:
        """Make `tensor` (another input of `merge`) carry `mapping`: widen the layer that
        produces it, through channel-wise layers."""
        if id(tensor) in self.maps:
            return self._assign(tensor, mapping, merge.name)
        node = self.graph.producer[id(tensor)]
        layer = node.operation
        if not self.follow:
            raise ValueError(f"Cannot widen {self.target!r} alone: {merge.name!r} "
                             f"({type(merge).__name__}) merges it with the output of "
                             f"{layer.name!r}, which would have to be widened with it (pass "
                             f"follow_additions=True to widen both sides together).")
        if node.is_input:
            raise ValueError(f"Cannot widen {self.target!r}: {merge.name!r} "
                             f"({type(merge).__name__}) merges it with the model input "
                             f"{layer.name!r}, whose channels cannot be copied.")
        if _is_unit_layer(layer):
            _check_layer(layer, "out")
            return self._produce(node, mapping)
        if isinstance(layer, (*_CHANNELWISE, layers.BatchNormalization, TrainableSubsampling)) or (
                isinstance(layer, layers.DepthwiseConv2D) and layer.depth_multiplier == 1):
            return self._require(node.input_tensors[0], mapping, merge)
        if isinstance(layer, (*_MERGES, ScaledAdd)):  # e.g. the previous block's
            for other in node.input_tensors:  # residual addition: all its inputs
                self._require(other, mapping, layer)
            return None
        why = ("it is the parameter-free shortcut of shortcut='A' ResNets, which pads a "
               "narrower stream with zeros: widen that stream (from the stem, which widens every "
               "later stage with it) or build the model with shortcut='B'"
               if isinstance(layer, ZeroPadChannels)
               else "widen the tensor that layer reads instead")
        raise ValueError(f"Cannot widen {self.target!r}: {merge.name!r} "
                         f"({type(merge).__name__}) merges it with the output of {layer.name!r} "
                         f"({type(layer).__name__}), whose channels cannot be copied to match "
                         f"({why}).")

    def _forward(self, tensor) -> None:
        mapping = self.maps[id(tensor)]
        for node in self.graph.consumers[id(tensor)]:
            layer, out = node.operation, node.output_tensors
            name = layer.name
            if isinstance(layer, layers.InputLayer):
                continue
            _check_layer(layer, "in")
            if _is_unit_layer(layer):
                self._set(self.in_maps, layer, mapping)
            elif isinstance(layer, _CHANNELWISE) and not (
                    isinstance(layer, layers.Activation)
                    and layer.get_config()["activation"] in ("softmax", "log_softmax")):
                self._assign(out[0], mapping, name)
            elif isinstance(layer, (layers.BatchNormalization, TrainableSubsampling)):
                self._set(self.in_maps, layer, mapping)
                self._assign(out[0], mapping, name)
            elif isinstance(layer, layers.DepthwiseConv2D):
                self._set(self.in_maps, layer, mapping)
                self._assign(out[0], _expand(mapping, layer.depth_multiplier), name)
            elif isinstance(layer, layers.Flatten):
                spatial = tensor.shape[1:-1]
                if any(s is None for s in spatial):
                    raise ValueError(f"Cannot widen {self.target!r}: {name!r} flattens maps of "
                                     f"unknown size {tuple(tensor.shape)}.")
                positions = int(np.prod(spatial, dtype=np.int64))
                self._assign(out[0], _expand_positions(mapping, positions, tensor.shape[-1]),
                             name)
            elif isinstance(layer, ZeroPadChannels):
                old = tensor.shape[-1]
                self._assign(out[0], np.concatenate([mapping, old + np.arange(layer.extra)]),
                             name)
            elif isinstance(layer, (*_MERGES, ScaledAdd)):
                for other in node.input_tensors:
                    self._require(other, mapping, layer)
                self._assign(out[0], mapping, name)
            elif isinstance(layer, layers.Concatenate):
                if layer.axis not in (-1, len(tensor.shape) - 1):
                    raise ValueError(f"Cannot widen {self.target!r}: {name!r} concatenates "
                                     f"along axis {layer.axis}, not the channels.")
                parts, offset = [], 0
                for part in node.input_tensors:
                    size = part.shape[-1]
                    parts.append(offset + self.maps.get(id(part), np.arange(size)))
                    offset += size
                self._assign(out[0], np.concatenate(parts), name)
            else:
                raise _unsupported(layer, self.target)


def _expand(mapping, multiplier: int) -> np.ndarray:
    """Channel map after a depthwise layer: input channel c gives outputs c*m .. c*m + m - 1."""
    return (mapping[:, None] * multiplier + np.arange(multiplier)[None, :]).ravel()


def _expand_positions(mapping, positions: int, channels: int) -> np.ndarray:
    """Channel map after Flatten of (..., channels) maps: position p, channel j -> p*C + g(j)."""
    return (np.arange(positions)[:, None] * channels + mapping[None, :]).ravel()


def _read(kernel, mapping, axis, rng, noise):
    """Input rows of `kernel` for copied inputs: gathered and divided by the number of copies
    (+ noise on the rows of copied units)."""
    counts = np.bincount(mapping, minlength=kernel.shape[axis])
    if counts.min() == 0:
        raise AssertionError("every old channel keeps at least one copy")
    shape = [1] * kernel.ndim
    shape[axis] = len(mapping)
    new = np.take(kernel, mapping, axis=axis) / counts[mapping].reshape(shape)
    if noise:
        copied = (counts[mapping] > 1).reshape(shape)
        new = new + copied * rng.normal(0.0, noise * float(kernel.std()), new.shape)
    return new.astype(kernel.dtype)


def _transform(layer, weights, in_map, out_map, rng, noise):
    """New config entries and weights of `layer` for copied inputs (`in_map`) and/or outputs
    (`out_map`)."""
    config, w = {}, list(weights)
    if isinstance(layer, layers.DepthwiseConv2D):
        w[0] = np.take(w[0], in_map, axis=2)
        if len(w) > 1:
            w[1] = np.take(w[1], _expand(in_map, layer.depth_multiplier))
    elif isinstance(layer, layers.SeparableConv2D):
        if in_map is not None:
            w[0] = np.take(w[0], in_map, axis=2)
            w[1] = _read(w[1], _expand(in_map, layer.depth_multiplier), 2, rng, noise)
        if out_map is not None:
            w[1] = np.take(w[1], out_map, axis=3)
            w[2:] = [np.take(b, out_map) for b in w[2:]]
            config["filters"] = len(out_map)
    elif isinstance(layer, (layers.Dense, layers.Conv2D)):
        axis = w[0].ndim - 2
        if in_map is not None:
            w[0] = _read(w[0], in_map, axis, rng, noise)
        if out_map is not None:
            w[0] = np.take(w[0], out_map, axis=axis + 1)
            w[1:] = [np.take(b, out_map) for b in w[1:]]
            config["units" if isinstance(layer, layers.Dense) else "filters"] = len(out_map)
    elif isinstance(layer, ConnectionTableConv2D):
        config["table"], w = _connection_table(layer, w, in_map, out_map, rng, noise)
    else:  # per-channel weights: BatchNormalization, TrainableSubsampling
        w = [np.take(v, in_map) for v in w]
    return config, w


def _connection_table(layer, weights, in_map, out_map, rng, noise):
    """LeNet-5's C3 (`ConnectionTableConv2D`) with copied inputs and/or outputs: a copied output
    map gets its source's connections; a copied input is connected wherever its source was, with
    the kernel divided by the number of copies."""
    kernel, bias = weights
    table = layer.table
    in_map = np.arange(layer.input.shape[-1]) if in_map is None else in_map
    out_map = np.arange(len(table)) if out_map is None else out_map
    counts = np.bincount(in_map)
    index = {(i, j): n for n, (i, j) in enumerate((i, j) for j, row in enumerate(table)
                                                  for i in row)}
    rows, columns = [], []
    for old_out in out_map:
        row = [new_in for new_in, old_in in enumerate(in_map) if old_in in table[old_out]]
        rows.append(row)
        for new_in in row:
            old_in = in_map[new_in]
            column = kernel[:, :, index[(old_in, old_out)]] / counts[old_in]
            if noise and counts[old_in] > 1:
                column = column + rng.normal(0.0, noise * float(kernel.std()), column.shape)
            columns.append(column)
    return rows, [np.stack(columns, axis=-1).astype(kernel.dtype), bias[out_map]]


def wider(model, layer_name: str, new_width: int, *, noise: float = 0.0, seed=None,
          follow_additions: bool = True):
    """Net2WiderNet: a copy of `model` in which layer `layer_name` (Dense, Conv2D,
    SeparableConv2D, LeNet's ConnectionTableConv2D) has `new_width` units, the new ones copies
    of random existing ones, and every layer reading them divides their outgoing weights by the
    number of copies, so the function is unchanged (exactly, up to float rounding, with
    `noise=0`).

    Layers tied to `layer_name` by an element-wise merge (a residual addition) get the same
    copies; with `follow_additions=False` such a merge raises instead. A layer that cannot take
    copied channels (LRN, a grouped convolution, a model output, ...) raises a ValueError naming
    it. `noise` > 0 adds Gaussian noise of `noise` x the kernel's standard deviation to the
    outgoing weights of copied units (symmetry breaking); `seed` makes the choice of copies and
    the noise reproducible.
    """
    graph = _Graph(model)
    layer = graph.node(layer_name).operation
    old = _width(layer)
    if old is None:
        _check_layer(layer, "out")
        raise ValueError(f"Cannot widen {layer_name!r} ({type(layer).__name__}): wider supports "
                         f"Dense, Conv2D, SeparableConv2D and ConnectionTableConv2D layers.")
    if isinstance(new_width, bool) or not isinstance(new_width, (int, np.integer)) \
            or new_width < old:
        raise ValueError(f"new_width for {layer_name!r} must be an integer >= its current width "
                         f"{old} (Net2WiderNet only adds units), got {new_width!r}.")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    rng = np.random.default_rng(seed)
    mapping = np.concatenate([np.arange(old), rng.integers(0, old, int(new_width) - old)])
    plan = _WidenPlan(graph, layer_name, mapping, follow_additions)
    overrides, weights = {}, {}
    for name in sorted(set(plan.in_maps) | set(plan.out_maps)):
        target = model.get_layer(name)
        overrides[name], weights[name] = _transform(
            target, target.get_weights(), plan.in_maps.get(name), plan.out_maps.get(name), rng,
            noise)
    return _rebuild(model, overrides, weights)


# ----------------------------------------------------------------------------- Net2DeeperNet


def _activation_of(layer):
    """`(kind, layer to clone or None, display name)` for a layer that applies an activation
    (kind "relu" for any ReLU that is zero below 0 and the identity above, up to a cap), else
    None."""
    if isinstance(layer, layers.ReLU):
        config = layer.get_config()
        plain = not config.get("negative_slope") and not config.get("threshold")
        return ("relu" if plain else "leaky_relu"), layer, f"ReLU({config.get('max_value')}, " \
            f"negative_slope={config.get('negative_slope')}, threshold={config.get('threshold')})"
    if isinstance(layer, (layers.LeakyReLU, layers.ELU, layers.PReLU, layers.Softmax)):
        return type(layer).__name__, layer, type(layer).__name__
    if isinstance(layer, (layers.Activation, layers.Dense, layers.Conv2D, layers.SeparableConv2D,
                          layers.DepthwiseConv2D)):
        function = keras.activations.get(layer.get_config().get("activation"))
        name = getattr(function, "__name__", str(function))
        if isinstance(layer, layers.Activation):
            return name, layer, name
        if name != "linear":
            return name, None, name
    return None


def _activation_before(graph: _Graph, tensor):
    """The activation that produced `tensor`, looking through layers that keep its range
    (pooling, dropout, padding, Identity, Flatten; a concatenation if all its inputs agree):
    `(kind, layer to clone, display name, layer name)`; kind "linear" when the tensor is not an
    activation's output (BatchNorm, an addition, a linear layer)."""
    node = graph.producer[id(tensor)]
    layer = node.operation
    found = None if node.is_input else _activation_of(layer)
    if found:
        return (*found, layer.name)
    if isinstance(layer, _RANGE_KEEPING):
        return _activation_before(graph, node.input_tensors[0])
    if isinstance(layer, (layers.Concatenate, layers.Maximum)):
        parts = [_activation_before(graph, t) for t in node.input_tensors]
        if len({p[0] for p in parts}) == 1:
            return parts[0]
    return "linear", None, "linear", layer.name


def deeper(model, after_layer_name: str, *, kind: str = "conv", kernel_size: int = 3,
           batch_norm: bool | None = None, data=None):
    """Net2DeeperNet: a copy of `model` with an identity-initialised layer inserted after
    `after_layer_name`, followed by the activation that produced that layer's output.

    `kind="conv"` inserts a stride-1 "same" Conv2D with as many filters as input channels and a
    centred identity `kernel_size` x `kernel_size` kernel (odd sizes); `kind="dense"` a Dense
    with an identity matrix (2-D outputs). `batch_norm` (default: whether the model has any
    BatchNormalization) adds an identity BatchNorm after it — gamma = sqrt(var + eps),
    beta = mean — with the moving statistics of `data` (a batch of model inputs) at the
    insertion point when given, so that training-mode batch statistics also start close to the
    identity (else mean 0, variance 1), and the model's BN epsilon and momentum.

    The function is preserved when the activation is idempotent, f(f(x)) = f(x): ReLU, ReLU6,
    or none (the input is not an activation's output); any other activation (tanh, sigmoid,
    ELU, ...) raises a ValueError naming the layer that applies it.
    """
    graph = _Graph(model)
    node = graph.node(after_layer_name)
    if len(node.output_tensors) != 1:
        raise ValueError(f"Layer {after_layer_name!r} has {len(node.output_tensors)} outputs; "
                         f"deeper inserts after single-output layers.")
    tensor = node.output_tensors[0]
    shape, channels = tuple(tensor.shape), tensor.shape[-1]
    rank = {"conv": 4, "dense": 2}.get(kind)
    if rank is None:
        raise ValueError(f"kind must be 'conv' or 'dense', got {kind!r}.")
    if len(shape) != rank:
        other = {4: "kind='conv'", 2: "kind='dense'"}.get(len(shape), "another layer")
        raise ValueError(f"Layer {after_layer_name!r} outputs shape {shape}; kind={kind!r} needs "
                         f"a {rank}-D tensor (use {other}).")
    if channels is None:
        raise ValueError(f"Layer {after_layer_name!r} has an unknown number of channels.")
    if kind == "conv" and (not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1
                           or kernel_size % 2 == 0):
        raise ValueError(f"kernel_size must be a positive odd integer (an identity kernel needs "
                         f"a centre), got {kernel_size!r}.")
    act, act_layer, act_name, source = _activation_before(graph, tensor)
    if act not in _IDEMPOTENT:
        raise ValueError(f"Cannot deepen after {after_layer_name!r}: its input comes from the "
                         f"activation {act_name!r} of layer {source!r}, and f(f(x)) != f(x) for "
                         f"it, so an identity-initialised layer followed by it would change the "
                         f"function. Net2DeeperNet needs an idempotent activation (ReLU, ReLU6) "
                         f"or none.")
    norms = [la for la in model.layers if isinstance(la, layers.BatchNormalization)]
    if batch_norm is None:
        batch_norm = bool(norms)
    names = {la.name for la in model.layers}
    n = 1
    while any(x.startswith(f"{after_layer_name}_deeper{n}_") for x in names):
        n += 1
    base = f"{after_layer_name}_deeper{n}"
    dtype = node.operation.dtype_policy
    if kind == "conv":
        main = layers.Conv2D(channels, kernel_size, padding="same", use_bias=not batch_norm,
                             name=f"{base}_conv", dtype=dtype)
        kernel = np.zeros((kernel_size, kernel_size, channels, channels), "float32")
        kernel[kernel_size // 2, kernel_size // 2] = np.eye(channels, dtype="float32")
    else:
        main = layers.Dense(channels, use_bias=not batch_norm, name=f"{base}_dense", dtype=dtype)
        kernel = np.eye(channels, dtype="float32")
    inserted = [main]
    weights = {main.name: [kernel] + ([] if batch_norm else [np.zeros(channels, "float32")])}
    if batch_norm:
        ref = norms[0].get_config() if norms else {}
        eps = float(ref.get("epsilon", 1e-3))
        bn = layers.BatchNormalization(epsilon=eps, momentum=ref.get("momentum", 0.99),
                                       name=f"{base}_bn", dtype=dtype)
        mean, var = np.zeros(channels, "float32"), np.ones(channels, "float32")
        if data is not None:
            features = keras.ops.convert_to_numpy(
                keras.Model(model.input, tensor)(data, training=False)).astype("float64")
            axes = tuple(range(features.ndim - 1))
            mean, var = features.mean(axes), features.var(axes)
        weights[bn.name] = [np.sqrt(var + eps), mean, mean, var]
        inserted.append(bn)
    if act != "linear":
        if act_layer is not None:
            config = {**act_layer.get_config(), "name": f"{base}_{act}"}
            inserted.append(act_layer.__class__.from_config(config))
        else:
            inserted.append(layers.Activation(act, name=f"{base}_{act}", dtype=dtype))
    return _rebuild(model, weights=weights, after=after_layer_name, inserted=inserted)


# ----------------------------------------------------------------------------- schedules


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a growth schedule: `train` for `epochs`, `wider` `layer` to `width` ("2x",
    "1.5x" of its current width, or a number of units), or `deeper` after `layer` (`kind`
    "conv" | "dense", None: from the layer's output rank; `kernel_size` for conv)."""

    op: str
    layer: str | None = None
    epochs: int = 0
    width: str | None = None
    kind: str | None = None
    kernel_size: int = 3

    def __str__(self) -> str:
        if self.op == "train":
            return f"train:{self.epochs}"
        if self.op == "wider":
            return f"wider:{self.layer}:{self.width}"
        return ":".join(["deeper", self.layer] + ([self.kind] if self.kind else [])
                        + ([str(self.kernel_size)] if self.kernel_size != 3 else []))


_WIDTH = re.compile(r"^(\d+(\.\d+)?x|\d+)$")


def parse_schedule(text: str) -> list[Step]:
    """Parse `"train:3,wider:stage1_block1_conv:2x,train:3,deeper:stage2_out,train:3"`.

    Steps are comma-separated: `train:EPOCHS`, `wider:LAYER:WIDTH` (WIDTH = `2x`, `1.5x` or a
    number of units), `deeper:LAYER[:conv|dense][:KERNEL_SIZE]`. Errors name the bad step.
    """
    steps = []
    for raw in [s.strip() for s in (text or "").split(",") if s.strip()]:
        parts = raw.split(":")
        op, args = parts[0].strip().lower(), [p.strip() for p in parts[1:]]
        try:
            if op == "train" and len(args) == 1 and args[0].isdigit() and int(args[0]) > 0:
                steps.append(Step("train", epochs=int(args[0])))
            elif op == "wider" and len(args) == 2 and args[0] and _WIDTH.match(args[1]):
                steps.append(Step("wider", args[0], width=args[1]))
            elif op == "deeper" and 1 <= len(args) <= 3 and args[0]:
                kind = next((a for a in args[1:] if a in ("conv", "dense")), None)
                sizes = [a for a in args[1:] if a not in ("conv", "dense")]
                if len(sizes) > 1 or (sizes and not sizes[0].isdigit()):
                    raise ValueError
                steps.append(Step("deeper", args[0], kind=kind,
                                  kernel_size=int(sizes[0]) if sizes else 3))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"Bad schedule step {raw!r}: expected train:EPOCHS (> 0), "
                             f"wider:LAYER:WIDTH (2x, 1.5x or units) or "
                             f"deeper:LAYER[:conv|dense][:KERNEL_SIZE].") from None
    if not steps:
        raise ValueError("The schedule is empty.")
    return steps


def resolve_width(model, layer_name: str, width: str | int) -> int:
    """The new width for `wider`: "2x" / "1.5x" of the layer's current width (rounded), or a
    number of units."""
    current = _width(model.get_layer(layer_name))
    if current is None:
        raise ValueError(f"Layer {layer_name!r} has no width to multiply "
                         f"({type(model.get_layer(layer_name)).__name__}).")
    text = str(width)
    return int(round(current * float(text[:-1]))) if text.endswith("x") else int(text)


def apply_step(model, step: Step, *, noise: float = 0.0, seed=None, data=None):
    """Apply a `wider` or `deeper` step of a schedule (`kind` None: conv for 4-D outputs, dense
    for 2-D ones)."""
    if step.op == "wider":
        return wider(model, step.layer, resolve_width(model, step.layer, step.width),
                     noise=noise, seed=seed)
    if step.op == "deeper":
        kind = step.kind or ("dense" if len(model.get_layer(step.layer).output.shape) == 2
                             else "conv")
        return deeper(model, step.layer, kind=kind, kernel_size=step.kernel_size, data=data)
    raise ValueError(f"apply_step takes wider / deeper steps, got {step}.")


def max_output_difference(model_a, model_b, inputs) -> float:
    """Largest absolute difference between the two models' outputs on `inputs` (inference)."""
    a = keras.ops.convert_to_numpy(model_a(inputs, training=False))
    b = keras.ops.convert_to_numpy(model_b(inputs, training=False))
    return float(np.max(np.abs(a.astype("float64") - b.astype("float64"))))


def layer_widths(model, names: Sequence[str] | None = None) -> dict[str, int]:
    """Units / filters of the model's width-owning layers (Dense, Conv2D, ...), by name."""
    found = {la.name: _width(la) for la in model.layers}
    return {k: v for k, v in found.items() if v is not None and (names is None or k in names)}
