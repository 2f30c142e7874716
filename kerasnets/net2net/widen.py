"""Net2WiderNet (`wider`): a layer of n units becomes one of q > n units, the copies followed
through every layer between it and its readers, whose incoming weights are divided by the number
of copies."""

from __future__ import annotations

import collections

import numpy as np
from keras import layers

from kerasnets.layers import (ConnectionTableConv2D, ScaledAdd, TrainableSubsampling,
                              ZeroPadChannels)
from kerasnets.net2net.graph import _Graph, _rebuild, _width


# Single-input layers that act on each channel separately and keep channel positions.
_CHANNELWISE = (layers.Activation, layers.ReLU, layers.LeakyReLU, layers.ELU, layers.Dropout,
                layers.SpatialDropout2D, layers.GaussianDropout, layers.GaussianNoise,
                layers.AlphaDropout, layers.Identity, layers.MaxPooling2D,
                layers.AveragePooling2D, layers.GlobalAveragePooling2D,
                layers.GlobalMaxPooling2D, layers.ZeroPadding2D, layers.Cropping2D,
                layers.UpSampling2D, layers.ActivityRegularization)


_MERGES = (layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum,
           layers.Minimum)


_WHY_NOT = {
    "LocalResponseNormalization": "it divides each channel by its neighbours' energy, so copied "
                                  "channels change every output",
    "EuclideanRBF": "its squared distances would count a copied input once per copy (build "
                    "LeNet-5 with output='dense' to widen fc1)",
    "GroupedConv2D": "a grouped convolution splits its channels into fixed groups",
    "ChannelShuffle": "it moves channels between groups",
    "ChannelSplit": "it splits channels into fixed halves",
}


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
