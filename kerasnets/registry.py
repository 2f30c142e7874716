"""The model registry: one `ModelEntry` per variant, filled by the family files on import.

Every family file in `kerasnets.applications` declares its variants as data and registers them
through `kerasnets.applications._common.variant_builder`; nothing else needs editing for a new
architecture to be listed, created and covered by the registry-wide tests.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class Paper:
    """Where an architecture comes from."""

    title: str
    arxiv: str | None = None  # arXiv id, e.g. "1512.03385"; None for papers not on arXiv
    year: int | None = None

    def __str__(self) -> str:
        tail = f", arXiv:{self.arxiv}" if self.arxiv else ""
        year = f" ({self.year})" if self.year else ""
        return f"{self.title}{year}{tail}"


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered variant.

    `params` is the reference number of *trainable* parameters with the default `classes`, and
    `params_source` says where it comes from (keras.applications, torchvision, the paper's table).
    The registry-wide tests build every entry and assert the count.
    """

    name: str
    family: str
    builder: Callable[..., Any]
    params: int
    params_source: str
    paper: Paper
    input_shape: tuple[int, int, int] = (224, 224, 3)
    min_size: int = 32
    classes: int = 1000
    keras_equivalent: str | None = None  # name in keras.applications with the same weights
    test_size: int | None = None  # smallest convenient size for forward/backward tests

    @property
    def builder_name(self) -> str:
        return self.builder.__name__

    @property
    def preprocessing(self) -> str:
        """How input pixels are normalised before the model: a key of `PREPROCESSING`.

        keras.applications equivalents use keras' own `preprocess_input` mode, so its published
        weights see what they were trained on; models that rescale inside (EfficientNet v1/v2,
        MobileNetV3) take raw [0, 255] floats; a torch port without a keras.applications twin
        takes what its preferred checkpoint expects; every other model takes torchvision's
        ImageNet mean/std normalisation; families trained with their own statistics say so in
        `_FAMILY_PREPROCESSING` (EfficientNet-Lite: `lite`)."""
        if self.family in _FAMILY_PREPROCESSING:
            return _FAMILY_PREPROCESSING[self.family]
        if not self.keras_equivalent:  # a torch port (mobilenet_v3_large_tv): as its checkpoint
            from kerasnets.weights.pretrained import torch_weights

            checkpoints = torch_weights(self.name)
            if checkpoints:
                return checkpoints[0].preprocessing
        if self.family in _RAW_FAMILIES:
            return "raw"
        if self.keras_equivalent:
            if self.keras_equivalent in _CAFFE_KERAS:
                return "caffe"
            return "torch" if self.keras_equivalent.startswith("DenseNet") else "tf"
        return "torch"


# Input normalisation modes, as keras.applications' `preprocess_input` names them.
PREPROCESSING = {
    "caffe": "RGB -> BGR, minus the ImageNet mean pixel (103.939, 116.779, 123.68), range 0..255",
    "tf": "scaled to [-1, 1]",
    "torch": "scaled to [0, 1], minus ImageNet mean (0.485, 0.456, 0.406), over std "
             "(0.229, 0.224, 0.225)",
    "raw": "float pixels in [0, 255]; the model rescales inside",
    "lite": "(x - 127) / 128, EfficientNet-Lite's inception-style statistics (tensorflow/tpu "
            "efficientnet_lite_builder MEAN_RGB / STDDEV_RGB)",
}
_RAW_FAMILIES = frozenset({"efficientnet", "efficientnet_v2", "mobilenet_v3"})
_FAMILY_PREPROCESSING = {"efficientnet_lite": "lite"}
_CAFFE_KERAS = frozenset({"VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152"})


_REGISTRY: dict[str, ModelEntry] = {}
_FLOPS_CACHE: dict[str, int] = {}


def register(entry: ModelEntry) -> ModelEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"Model {entry.name!r} is already registered "
                         f"(by {_REGISTRY[entry.name].builder_name}).")
    if entry.name != entry.name.lower() or " " in entry.name:
        raise ValueError(f"Registry names are snake_case, got {entry.name!r}.")
    _REGISTRY[entry.name] = entry
    return entry


def _ensure_loaded() -> None:
    # Importing the applications package registers every family.
    from kerasnets import applications  # noqa: F401


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    key = name.strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    names = sorted(_REGISTRY)
    close = difflib.get_close_matches(key, names, n=5, cutoff=0.6)
    close += [n for n in names if key and key in n and n not in close][: 5 - len(close)]
    hint = (f" Did you mean: {', '.join(close)}?" if close
            else f" {len(names)} models are registered; see kerasnets.list_models().")
    raise ValueError(f"Unknown model name {name!r}.{hint}")


def list_models(pattern: str = "*", family: str | None = None,
                pretrained: bool | None = None) -> list[str]:
    """Registered model names matching an fnmatch `pattern` (case-insensitive), sorted.

    `pretrained=True` keeps the variants with published ImageNet weights (keras.applications'
    files, torchvision / timm checkpoints, or a package's file: `model_info(name)["pretrained"]`
    lists them), `False` those without."""
    _ensure_loaded()
    pattern = pattern.lower()
    names = sorted(n for n, e in _REGISTRY.items()
                   if fnmatch.fnmatchcase(n, pattern) and (family is None or e.family == family))
    if pretrained is not None:
        from kerasnets.weights.pretrained import has_pretrained

        names = [n for n in names if has_pretrained(n) == pretrained]
    return names


def create_model(name: str, /, **kwargs):
    """Build a registered model: `create_model("resnet18", classes=10)`.

    `name` is positional-only, so the model's own name can be passed through:
    `create_model("resnet18", name="student")`.

    Keyword arguments go to the public builder (keras.applications signature plus the family's
    options); a keyword that the variant fixes raises if given a different value.
    """
    return get_entry(name).builder(**kwargs)


def _pretrained(name: str) -> list[str]:
    from kerasnets.weights.pretrained import pretrained_sources

    return pretrained_sources(name)


def model_info(name: str, *, flops: bool = True) -> dict[str, Any]:
    """Family, paper, default input, reference parameter count and FLOPs of a registered model.

    FLOPs are multiply-adds of one forward pass at the default input size, counted analytically
    (`kerasnets.flops`); computing them builds the model once (cached).
    """
    entry = get_entry(name)
    info = {
        "name": entry.name,
        "builder": f"kerasnets.applications.{entry.builder_name}",
        "family": entry.family,
        "paper": entry.paper.title,
        "arxiv": entry.paper.arxiv,
        "year": entry.paper.year,
        "input_shape": entry.input_shape,
        "min_size": entry.min_size,
        "classes": entry.classes,
        "params": entry.params,
        "params_source": entry.params_source,
        "keras_equivalent": entry.keras_equivalent,
        "preprocessing": entry.preprocessing,
        "pretrained": _pretrained(entry.name),
    }
    if flops:
        if entry.name not in _FLOPS_CACHE:
            from kerasnets.flops import count_flops
            import keras

            model = entry.builder()
            _FLOPS_CACHE[entry.name] = count_flops(model)
            del model
            keras.backend.clear_session(free_memory=True)
        info["flops"] = _FLOPS_CACHE[entry.name]
    return info
