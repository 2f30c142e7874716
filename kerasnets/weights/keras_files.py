"""Keras-format weights: local files and keras.applications' published files.

Supported files:
- `.weights.h5` (Keras 3 `save_weights`),
- `.keras` (a whole saved model; its weights are copied layer by layer in order),
- `.h5` (the legacy format of keras.applications' published files: weights stored per layer in
  topological order). kerasnets models that have a keras.applications equivalent hold the same
  weights in the same order, so those files load directly.

Every path checks that each layer's weights have the expected shapes first and names the first
mismatching layer and the file; nothing is assigned unless the whole file matches.

`weights="imagenet"` (any builder of a model whose registry entry has a `keras_equivalent`)
resolves, through `imagenet_weights`, to Keras' published `.h5` file for that model: the file
name, URL and md5 of `keras/src/applications/*.py` (Keras 3.15; `PUBLISHED`), fetched with
`keras.utils.get_file` into Keras' cache (`$KERAS_HOME/models`, default `~/.keras/models`) and
loaded through the legacy `.h5` path above. A cached file needs no network; otherwise the host is
probed first (`kerasnets.utils.network_available`, a few seconds at most), so an offline
machine fails fast with a message saying how to pass the file by hand.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping

import numpy as np

from kerasnets import utils
from kerasnets.zoo import registry
from kerasnets.utils import load_model
from kerasnets.weights import records
from kerasnets.weights.records import Published


class WeightsMismatchError(ValueError):
    """The file's weights do not fit the model."""


class WeightsUnavailableError(RuntimeError):
    """A published weights file is neither cached nor downloadable from here."""


class _PublishedView(Mapping):
    """keras.applications name -> its published files (`Published`), read from the keras records
    that the family files declare (`kerasnets.weights.records`); a test checks them against
    Keras' own constants."""

    def _table(self) -> dict[str, Published]:
        return {r.model: r.keras_files for rs in records.declared().values() for r in rs
                if r.source == "keras"}

    def __getitem__(self, key):
        return self._table()[key]

    def __iter__(self):
        return iter(self._table())

    def __len__(self):
        return len(self._table())


PUBLISHED: Mapping[str, Published] = _PublishedView()


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


def _keras_cache_dir() -> str:
    try:  # where keras.utils.get_file caches: $KERAS_HOME, else ~/.keras (Keras' own resolution)
        from keras.src.backend.config import keras_home

        return keras_home()
    except ImportError:  # pragma: no cover - a Keras without the private accessor
        return os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))


def imagenet_weights(model_name: str, *, include_top: bool = True, classes: int | None = None,
                     input_size: int | None = None) -> str:
    """Local path of Keras' published ImageNet weights for the registry model `model_name`,
    fetched with `keras.utils.get_file` (md5-checked) unless cached.

    Raises ValueError for a model without a keras.applications equivalent or a top with other
    than 1000 classes, and WeightsUnavailableError within seconds when the file is not cached
    and its host cannot be reached; both messages say how to pass a local file instead.
    """
    import keras

    entry = registry.get_entry(model_name)
    local = ("download the file on a machine with network and pass its local path "
             "(weights='/path/to/file.h5'; tools: --weights /path/to/file.h5)")
    published = PUBLISHED.get(entry.keras_equivalent or "")
    if published is None:
        have = sorted(n for n in registry.list_models() if registry.get_entry(n).keras_equivalent)
        raise ValueError(f"weights='imagenet': {entry.name} has no published keras.applications "
                         f"weights (those exist for {', '.join(have)}); {local}.")
    if include_top and classes not in (None, 1000):
        raise ValueError(f"weights='imagenet' with include_top=True needs classes=1000 (got "
                         f"classes={classes}); build with include_top=False (or "
                         f"kerasnets.transfer.build_classifier) for a new head.")
    fname, url, md5 = published.file(include_top, input_size)
    cached = os.path.join(_keras_cache_dir(), "models", fname)
    if not os.path.exists(cached):
        if not utils.network_available():
            raise WeightsUnavailableError(
                f"weights='imagenet' for {entry.name} needs keras.applications' file {fname} "
                f"({url}), which is not in Keras' cache ({cached}) and cannot be downloaded: no "
                f"network. Download it elsewhere (e.g. `curl -O {url}`) and either pass its "
                f"local path (weights='/path/to/{fname}'; tools: --weights /path/to/{fname}) or "
                f"copy it to {cached}.")
    try:
        return keras.utils.get_file(fname, url, cache_subdir="models", file_hash=md5)
    except Exception as e:  # noqa: BLE001 - urllib, hash and file errors alike
        raise WeightsUnavailableError(f"Could not fetch {url} for weights='imagenet' of "
                                      f"{entry.name} ({type(e).__name__}: {e}); {local}.") from e


def load_weights(model, path, *, sha256: str | None = None):
    """Load weights from a local file into `model` (see the module docstring for formats).

    `path="imagenet"` loads Keras' published weights when `model.name` is a registry model with
    a keras.applications equivalent (`imagenet_weights`). `sha256` (optional) is checked
    before anything is read. Raises FileNotFoundError for a missing file, ValueError for a bad
    hash or unknown format, WeightsMismatchError (a ValueError) naming the first mismatching
    layer.
    """
    path = os.fspath(path)
    if path == "imagenet":
        include_top = any(layer.name == "predictions" for layer in model.layers)
        path = imagenet_weights(model.name, include_top=include_top,
                                classes=model.output_shape[-1] if include_top else None,
                                input_size=model.input_shape[1])
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

        source = load_model(path, compile=False)
        _check_and_assign(model, path, [(layer.name, layer.get_weights())
                                        for layer in _weighted_layers(source)])
    elif path.endswith((".h5", ".hdf5")):
        _check_and_assign(model, path, _read_legacy_h5(path))
    else:
        raise ValueError(f"Unknown weights format for {path!r}: expected a .weights.h5, .keras "
                         f"or .h5 file.")
    return model
