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


def has_pretrained(variant: str) -> bool:
    return bool(pretrained_sources(variant))
