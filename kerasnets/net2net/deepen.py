"""Net2DeeperNet (`deeper`): a layer initialised to the identity inserted after a named one,
then an identity BatchNorm when the model uses BatchNorm, and the idempotent activation found
upstream."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from kerasnets.net2net.graph import _Graph, _rebuild


# Channel-wise layers (and Flatten) that keep an activation's range (deeper looks through
# them for it).
_RANGE_KEEPING = (layers.Dropout, layers.SpatialDropout2D, layers.GaussianDropout,
                  layers.AlphaDropout, layers.Identity, layers.MaxPooling2D,
                  layers.AveragePooling2D, layers.GlobalAveragePooling2D,
                  layers.GlobalMaxPooling2D, layers.ZeroPadding2D, layers.Cropping2D,
                  layers.UpSampling2D, layers.Flatten)
_IDEMPOTENT = ("relu", "relu6", "linear")


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
