"""PyTorch state dicts (torchvision, timm, packaged checkpoints) onto kerasnets models.

A state dict is `{"layer1.0.conv1.weight": array, ...}` (numpy arrays, as
`kerasnets.weights.read_checkpoint` returns them). Each family registers, per variant, a
`TorchMapping` (`register_family(..., torch_mapping=...)`): a `rename` function from a
torch *module path* (`layer1.0.conv1`) to the kerasnets layer that holds the same weights
(`stage1_block1_1_conv`). Everything else is generic and keyed on the Keras layer's type:

    Keras layer            torch tensors                      conversion
    Conv2D, GroupedConv2D  weight (O, I/g, kh, kw) [, bias]   -> kernel (kh, kw, I/g, O)
    DepthwiseConv2D        weight (C*m, 1, kh, kw) [, bias]   -> kernel (kh, kw, C, m)
    SeparableConv2D        "name/depthwise" + "name/pointwise" modules (Xception-style)
    Dense                  weight (out, in) [, bias]          -> kernel (in, out); after a Flatten
                                                                 of (h, w, c) maps, rows go from
                                                                 torch's c-h-w order to h-w-c
    BatchNormalization     weight, bias, running_mean, running_var -> gamma, beta, mean, var

`num_batches_tracked` is skipped. Every tensor must be used exactly once and every weight of the
model set exactly once; otherwise `WeightsMismatchError` names the first tensor / layer that
does not fit, and nothing is assigned (all arrays are prepared before the first assignment).
torch itself is never imported.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import numpy as np

from kerasnets.zoo import registry
from kerasnets.weights import records
from kerasnets.weights.keras_files import WeightsMismatchError

SKIPPED_SUFFIXES = ("num_batches_tracked",)
# Where trainers put the model's state dict in the dict they save, and the prefixes their
# wrappers add to every key (DataParallel / DistributedDataParallel: `module.`; Lightning and
# EMA wrappers: `model.`).
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "state_dict_ema", "model_ema")
WRAPPER_PREFIXES = ("module.", "model.")


def _array(value):
    if hasattr(value, "detach"):              # a torch tensor, from a caller's torch.load
        value = value.detach().cpu().numpy()
    return value


def unwrap_state_dict(obj: Mapping) -> dict[str, np.ndarray]:
    """The model's state dict in what a trainer saved: `obj` itself, or the dict under its first
    key in `STATE_DICT_KEYS` when `obj` is a training checkpoint (`{"epoch": 9, "state_dict":
    {...}, "optimizer": {...}}`), with the wrapper prefixes (`module.`, `model.`) removed while
    every key carries one. Torch tensors become numpy arrays."""
    if not any(hasattr(v, "shape") for v in obj.values()):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    state = {k: _array(v) for k, v in obj.items()}
    while state:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state)), None)
        if prefix is None:
            break
        state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def head_classes(state_dict: Mapping[str, np.ndarray], mapping: TorchMapping) -> int | None:
    """The class count of a state dict's classifier: the output size of the tensor that maps
    to the last layer of `mapping.head` (None when the state dict has no such tensor)."""
    last = mapping.head[-1] if mapping.head else None
    for key, value in state_dict.items():
        module, attr = split_key(key)
        if attr == "weight" and last is not None and mapping.rename(module) == last:
            return int(np.shape(value)[0])
    return None


@dataclasses.dataclass(frozen=True)
class TorchMapping:
    """How one family's torch module paths map onto kerasnets layer names.

    - `rename(module_path) -> str | None`: the kerasnets layer name (for a `SeparableConv2D`,
      `"{layer}/depthwise"` or `"{layer}/pointwise"`); None marks a module that is deliberately
      not used (an auxiliary classifier). A name that is not a layer of the model is an error,
      except for the `head` layers when the model was built without its top.
    - `taps`: kerasnets tap layer -> torch module path whose forward output equals it (NCHW),
      used by the equality tests (`{"stage2_out": "layer2"}`).
    - `head`: the classifier's layers, skipped for `include_top=False` models.
    """

    rename: Callable[[str], str | None]
    taps: Mapping[str, str] = dataclasses.field(default_factory=dict)
    head: tuple[str, ...] = ("predictions",)


def split_key(key: str) -> tuple[str, str]:
    """`"layer1.0.conv1.weight"` -> `("layer1.0.conv1", "weight")`."""
    module, _, attr = key.rpartition(".")
    return module, attr


def _flatten_source(layer):
    """For a Dense fed (through Dropouts) by a Flatten of 4D maps, the (h, w, c) it flattens."""
    import keras

    node = layer._inbound_nodes[0] if getattr(layer, "_inbound_nodes", None) else None
    while node is not None:
        parents = node.parent_nodes
        if len(parents) != 1:
            return None
        parent = parents[0].operation
        if isinstance(parent, keras.layers.Dropout):
            node = parents[0]
            continue
        if isinstance(parent, keras.layers.Flatten):
            shape = parent.input.shape
            return tuple(shape[1:]) if len(shape) == 4 else None
        return None
    return None


def _conv_kernel(w):
    return np.transpose(w, (2, 3, 1, 0))  # O, I, kh, kw -> kh, kw, I, O


def _depthwise_kernel(w, channels):
    o, _, kh, kw = w.shape  # C*m, 1, kh, kw -> kh, kw, C, m
    return np.transpose(w.reshape(channels, o // channels, kh, kw), (2, 3, 0, 1))


def _layer_arrays(layer, tensors: dict[str, dict[str, np.ndarray]], used: set, where: str):
    """The arrays for `layer.weights`, in order, from its torch modules' tensors
    (`{slot: {attr: array}}`, slot "" for a single module); records each `(slot, attr)` taken
    in `used`."""
    import keras

    from kerasnets.layers.conv import GroupedConv2D

    def need(slot, attr):
        try:
            value = tensors[slot][attr]
            used.add((slot, attr))
            return value
        except KeyError:
            have = {s: sorted(t) for s, t in tensors.items()}
            raise WeightsMismatchError(
                f"{where}: layer {layer.name!r} ({type(layer).__name__}) needs torch tensor "
                f"'{attr}'{' of its ' + slot + ' module' if slot else ''}; the mapped modules "
                f"have {have}.") from None

    def bias(slot=""):
        return [need(slot, "bias")] if getattr(layer, "use_bias", False) else []

    if isinstance(layer, keras.layers.SeparableConv2D):
        channels = layer.depthwise_kernel.shape[2]
        out = [_depthwise_kernel(need("depthwise", "weight"), channels),
               _conv_kernel(need("pointwise", "weight"))]
        return out + bias("pointwise")
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        channels = layer.kernel.shape[2]
        return [_depthwise_kernel(need("", "weight"), channels)] + bias()
    if isinstance(layer, (keras.layers.Conv2D, GroupedConv2D)):
        return [_conv_kernel(need("", "weight"))] + bias()
    if isinstance(layer, keras.layers.Dense):
        kernel = need("", "weight").T
        hwc = _flatten_source(layer)
        if hwc is not None and None not in hwc and kernel.shape[0] == int(np.prod(hwc)):
            h, w, c = hwc  # torch flattened (c, h, w); Keras flattens (h, w, c)
            kernel = kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)
        return [kernel] + bias()
    if isinstance(layer, keras.layers.BatchNormalization):
        out = []
        if layer.scale:
            out.append(need("", "weight"))
        if layer.center:
            out.append(need("", "bias"))
        return out + [need("", "running_mean"), need("", "running_var")]
    raise WeightsMismatchError(f"{where}: layer {layer.name!r} is a {type(layer).__name__}, "
                               f"which has no torch conversion.")


def convert_state_dict(model, state_dict: Mapping[str, np.ndarray], mapping: TorchMapping, *,
                       where: str = "state dict") -> list[tuple[object, list[np.ndarray]]]:
    """`[(layer, arrays)]` for every layer of `model` with weights, checked against the model;
    raises `WeightsMismatchError` naming the first tensor or layer that does not fit."""
    by_name = {layer.name: layer for layer in model.layers}
    head_missing = {name for name in mapping.head if name not in by_name}
    grouped: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    sources: dict[str, list[str]] = {}
    for key in state_dict:
        module, attr = split_key(key)
        if attr in SKIPPED_SUFFIXES:
            continue
        target = mapping.rename(module)
        if target is None:
            continue
        name, _, slot = target.partition("/")
        if name not in by_name:
            if name in head_missing:
                continue
            raise WeightsMismatchError(f"{where}: torch tensor {key!r} maps to layer {name!r}, "
                                       f"which the model {model.name!r} does not have.")
        slot_tensors = grouped.setdefault(name, {}).setdefault(slot, {})
        if attr in slot_tensors:
            raise WeightsMismatchError(f"{where}: layer {name!r} receives '{attr}' twice "
                                       f"(torch tensor {key!r} and another module).")
        slot_tensors[attr] = np.asarray(state_dict[key])
        sources.setdefault(name, []).append(key)

    plan = []
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in grouped:
            raise WeightsMismatchError(f"{where}: no torch tensor maps to layer {layer.name!r} "
                                       f"({type(layer).__name__}) of model {model.name!r}.")
        tensors = grouped.pop(layer.name)
        used: set = set()
        arrays = _layer_arrays(layer, tensors, used, where)
        extra = [f"{slot + '.' if slot else ''}{attr}" for slot, t in tensors.items()
                 for attr in t if (slot, attr) not in used]
        if extra:
            raise WeightsMismatchError(f"{where}: torch tensors {extra} from "
                                       f"{sources[layer.name]} have no place in layer "
                                       f"{layer.name!r} ({type(layer).__name__}).")
        for weight, array in zip(layer.weights, arrays):
            if tuple(weight.shape) != tuple(array.shape):
                raise WeightsMismatchError(
                    f"{where}: layer {layer.name!r} weight {weight.path!r} has shape "
                    f"{tuple(weight.shape)}, the torch tensor(s) {sources[layer.name]} give "
                    f"{tuple(array.shape)}.")
        plan.append((layer, [a.astype(np.float32, copy=False) for a in arrays]))
    if grouped:
        name = next(iter(grouped))
        raise WeightsMismatchError(f"{where}: torch tensors {sources[name]} map to layer "
                                   f"{name!r}, which has no weights in model {model.name!r}.")
    return plan


SOURCES = ("torchvision", "timm", "package")
_MAPPING_CACHE: dict[str, TorchMapping] = {}


def torch_mapping(variant: str, source: str | None = None) -> TorchMapping:
    """The family mapping of `variant`'s torch checkpoints; raises naming the variants that have
    one."""
    name = registry.get_entry(variant).name
    if source is not None and source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    factory = records.torch_mapping_factory(name)
    if factory is None:
        have = ", ".join(sorted(v for v in records.declared() if records.torch_mapping_factory(v)))
        raise WeightsMismatchError(f"{name} has no torch mapping (variants with one: {have}).")
    if name not in _MAPPING_CACHE:
        _MAPPING_CACHE[name] = factory()
    return _MAPPING_CACHE[name]


def load_torch_state_dict(model, state_dict: Mapping[str, np.ndarray], source: str = "torchvision",
                          *, variant: str | None = None, mapping: TorchMapping | None = None,
                          where: str | None = None):
    """Assign a torch state dict (numpy arrays) to `model`, a kerasnets registry model.

    `variant` (default: the model's registry variant, or its name) selects the family mapping
    registered for `source` ("torchvision", "timm" or "package"); `mapping` overrides it.
    Checks everything first, then assigns; returns the model. A trainer's checkpoint dict
    (`{"epoch": ..., "state_dict": {"module.conv1.weight": ...}}`) is unwrapped first
    (`unwrap_state_dict`).
    """
    state_dict = unwrap_state_dict(state_dict)
    if mapping is None:
        variant = variant or getattr(model, "kerasnets_variant", None) or model.name
        mapping = torch_mapping(variant, source)
    plan = convert_state_dict(model, state_dict, mapping, where=where or f"{source} state dict")
    for layer, arrays in plan:
        layer.set_weights(arrays)
    return model
