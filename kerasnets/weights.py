"""Loading weights into kerasnets models from local files, with clear errors.

Supported files:
- `.weights.h5` (Keras 3 `save_weights`),
- `.keras` (a whole saved model; its weights are copied layer by layer in order),
- `.h5` (the legacy format of keras.applications' published files: weights stored per layer in
  topological order). kerasnets models that have a keras.applications equivalent hold the same
  weights in the same order, so those files load directly.

Every path checks that each layer's weights have the expected shapes first and names the first
mismatching layer and the file; nothing is assigned unless the whole file matches.
"""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np


class WeightsMismatchError(ValueError):
    """The file's weights do not fit the model."""


def sha256sum(path, chunk=1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def _mismatch(path, layer_name, detail):
    return WeightsMismatchError(f"Weights file {os.fspath(path)!r} does not match the model: "
                                f"first mismatch at layer {layer_name!r}: {detail}.")


def _check_and_assign(model, path, source: list[tuple[str, list[np.ndarray]]]):
    """Pairwise (in topological order) check of `source` against the model, then assign."""
    targets = _weighted_layers(model)
    for i, layer in enumerate(targets):
        if i >= len(source):
            raise _mismatch(path, layer.name, f"the file holds only {len(source)} layers with "
                                              f"weights, the model {len(targets)}")
        src_name, arrays = source[i]
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if want != got:
            raise _mismatch(path, layer.name, f"expected shapes {want}, the file's layer "
                                              f"{src_name!r} has {got}")
    if len(source) != len(targets):
        raise _mismatch(path, source[len(targets)][0],
                        f"the file holds {len(source)} layers with weights, the model "
                        f"{len(targets)}")
    for layer, (_, arrays) in zip(targets, source):
        layer.set_weights(arrays)


def _read_legacy_h5(path):
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise WeightsMismatchError(f"{os.fspath(path)!r} is not a Keras .h5 weights file "
                                       f"(no 'layer_names' attribute).")
        out = []
        for raw in group.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            g = group[name]
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in g.attrs.get("weight_names", [])]
            if names:
                out.append((name, [np.asarray(g[n]) for n in names]))
        return out


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _check_keras3_weights(model, path):
    """Check a Keras 3 `.weights.h5` file layer by layer before Keras loads it."""
    import h5py

    with h5py.File(path, "r") as f:
        if "layers" not in f:
            raise WeightsMismatchError(f"{os.fspath(path)!r} is not a Keras 3 .weights.h5 file "
                                       f"(no 'layers' group).")
        counters: dict[str, int] = {}
        for layer in model.layers:
            base = _snake(type(layer).__name__)
            n = counters.get(base, 0)
            counters[base] = n + 1
            key = base if n == 0 else f"{base}_{n}"
            if not layer.weights:
                continue
            if key not in f["layers"]:
                raise _mismatch(path, layer.name, f"the file has no entry {key!r}")
            shapes = []
            f["layers"][key].visititems(
                lambda _, obj: shapes.append(tuple(obj.shape)) if isinstance(obj, h5py.Dataset)
                else None)
            want = sorted(tuple(w.shape) for w in layer.weights)
            if sorted(shapes) != want:
                raise _mismatch(path, layer.name,
                                f"expected shapes {want}, the file has {sorted(shapes)}")


def load_weights(model, path, *, sha256: str | None = None):
    """Load weights from a local file into `model` (see the module docstring for formats).

    `sha256` (optional) is checked before anything is read. Raises FileNotFoundError for a
    missing file, ValueError for a bad hash or unknown format, WeightsMismatchError (a
    ValueError) naming the first mismatching layer.
    """
    path = os.fspath(path)
    if path in ("imagenet",):
        raise ValueError(f"weights={path!r}: published checkpoints cannot be fetched by this "
                         f"version of kerasnets; download the file and pass its local path "
                         f"(weights='/path/to/file.h5').")
    if not os.path.exists(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}.")
    if sha256 is not None:
        actual = sha256sum(path)
        if not actual.startswith(sha256.lower()):
            raise ValueError(f"Weights file {path!r} has sha256 {actual}, expected {sha256}.")
    if path.endswith(".weights.h5"):
        _check_keras3_weights(model, path)
        model.load_weights(path)
    elif path.endswith(".keras"):
        import keras

        import kerasnets.layers  # noqa: F401  (registers the custom layers)

        source = keras.saving.load_model(path, compile=False)
        _check_and_assign(model, path, [(layer.name, layer.get_weights())
                                        for layer in _weighted_layers(source)])
    elif path.endswith((".h5", ".hdf5")):
        _check_and_assign(model, path, _read_legacy_h5(path))
    else:
        raise ValueError(f"Unknown weights format for {path!r}: expected a .weights.h5, .keras "
                         f"or .h5 file.")
    return model
