"""The model registry: one `ModelEntry` per variant, filled by the family files on import.

Every family file in `kerasnets.applications` declares its variants as data and registers them
through `kerasnets.applications._common.variant_builder`; nothing else needs editing for a new
architecture to be listed, created and covered by the registry-wide tests.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
import sys
import warnings
from typing import Any, Callable, Mapping


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
class Variant:
    """One row of a family's variant table: everything the registry knows about a variant.

    A family file lists its variants as `Variant` records and hands them, with its generic
    builder, to `kerasnets.applications._common.register_family`, which generates the public
    builders (`builder`, e.g. "ResNet50"), the module's `__all__` and the registry entries.

    - `name`: the canonical registry name (the naming rule: `docs/design.md`, "Names");
    - `spec`: the family's frozen spec (or None for families without one);
    - `params` / `source`: the reference number of trainable parameters at the default
      `classes`, and where that number comes from; the registry-wide tests assert it;
    - `options`: family options the variant fixes (a caller's different value raises);
    - `keras_equivalent`: the keras.applications builder with the same weights, if any;
    - `preprocessing`: how input pixels are normalised (a key of `PREPROCESSING`); None takes
      the family's default. Tests verify it against keras.applications' `preprocess_input` and
      against the checkpoints' own normalisation;
    - `aliases`: other names that resolve to this variant: another zoo's name for the same
      network as `"<source>/<name>"` (`"timm/mobilenetv2_100"`; the bare name resolves too
      where nothing else claims it);
    - `retired`: names this variant had before (they resolve with a DeprecationWarning naming
      the current one);
    - `input_shape`, `min_size`, `classes`, `test_size`: None takes the family's default;
    - `doc`: the first line of the builder's docstring (default: the name).
    """

    name: str
    builder: str
    spec: Any
    params: int
    source: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    keras_equivalent: str | None = None
    preprocessing: str | None = None
    aliases: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    input_shape: tuple[int, int, int] | None = None
    min_size: int | None = None
    classes: int | None = None
    test_size: int | None = None
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered variant, as the registry serves it (a `Variant` with its family's
    defaults filled in, its family, paper and generated builder).

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
    preprocessing: str = "torch"  # how input pixels are normalised: a key of PREPROCESSING
    aliases: tuple[str, ...] = ()
    spec: Any = None
    retired: tuple[str, ...] = ()

    @property
    def builder_name(self) -> str:
        return self.builder.__name__


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


_REGISTRY: dict[str, ModelEntry] = {}
_ALIASES: dict[str, str] = {}  # alias -> canonical name: old names, builder names, "timm/<name>"
_ZOO_NAMES: dict[str, set[str]] = {}  # another zoo's bare name -> the variants holding its weights
_RETIRED: dict[str, str] = {}  # a retired name -> the canonical name it became
# canonical names whose meaning changed -> what to say
_CHANGED: dict[str, str] = {}
_RETIRED_BUILDERS: dict[str, str] = {}  # an old builder name -> the current one


def _key(name: str) -> str:
    return name.strip().lower()


def _squash(name: str) -> str:
    """The name without case, underscores, hyphens, dots and spaces: "MobileNetV2",
    "mobilenetv2" and "mobilenet_v2" all squash to "mobilenetv2"."""
    return "".join(ch for ch in name.lower() if ch not in "_-. ")


def register(entry: ModelEntry) -> ModelEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"Model {entry.name!r} is already registered "
                         f"(by {_REGISTRY[entry.name].builder_name}).")
    if entry.name != entry.name.lower() or " " in entry.name:
        raise ValueError(f"Registry names are snake_case, got {entry.name!r}.")
    if entry.name in _ALIASES:
        raise ValueError(f"Model name {entry.name!r} is already an alias of "
                         f"{_ALIASES[entry.name]!r}.")
    _REGISTRY[entry.name] = entry
    for alias in entry.aliases:
        source, slash, model = alias.partition("/")
        if slash:
            register_zoo_name(source, model, entry.name)
        else:
            register_alias(alias, entry.name)
    for old in entry.retired:
        if _key(old) in _REGISTRY or _RETIRED.get(_key(old), entry.name) != entry.name:
            raise ValueError(f"Retired name {old!r} of {entry.name!r} is taken.")
        _RETIRED[_key(old)] = entry.name
        if old != old.lower():  # a CamelCase name is a retired builder
            _RETIRED_BUILDERS[old] = entry.builder_name
    return entry


def retired_builder(name: str):
    """The builder that the retired builder name `name` became, with a DeprecationWarning;
    AttributeError for any other name (`kerasnets.applications.__getattr__`)."""
    if name not in _RETIRED_BUILDERS:
        raise AttributeError(f"module 'kerasnets.applications' has no attribute {name!r}")
    new = _RETIRED_BUILDERS[name]
    _warn(f"kerasnets.applications.{name} is retired; use {new} (the same network; "
          f"docs/design.md, 'Names').")
    return next(e.builder for e in _REGISTRY.values() if e.builder_name == new)


def register_changed_meaning(name: str, message: str) -> None:
    """`name` (a canonical name) now means another network than it did: resolving it warns
    `message` (a DeprecationWarning, which must name the replacement)."""
    _CHANGED[_key(name)] = message


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _warn(message: str) -> None:
    """A DeprecationWarning attributed to the first caller outside kerasnets, so that Python's
    default filter shows it once per place in the user's code, however many lookups the library
    makes for that one call."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def _retired(name: str, new: str) -> None:
    _warn(f"Model name {name!r} is retired; use {new!r} (the same network; docs/design.md, "
          f"'Names').")


def register_alias(alias: str, name: str) -> None:
    """Make `alias` (case-insensitive) resolve to the registered variant `name`. An alias may not
    be another variant's canonical name, nor point at two variants."""
    key = _key(alias)
    if key == name:
        return
    if key in _REGISTRY:
        raise ValueError(f"Alias {alias!r} of {name!r} is the canonical name of another model.")
    if _ALIASES.get(key, name) != name:
        raise ValueError(f"Alias {alias!r} already resolves to {_ALIASES[key]!r}, not {name!r}.")
    _ALIASES[key] = name


def register_zoo_name(source: str, model: str, name: str) -> None:
    """Another zoo's name for the model whose weights variant `name` loads: `"<source>/<model>"`
    always resolves to it ("torchvision/resnet50" -> resnet50_v1_5); the bare `model` resolves
    too where it is neither a canonical name nor an alias and no other variant claims it."""
    register_alias(f"{source}/{model}", name)
    _ZOO_NAMES.setdefault(_key(model), set()).add(name)


_LOADER: list[Callable[[], Any]] = []  # the one function that registers every family


def set_loader(load: Callable[[], Any]) -> None:
    """`load()` registers every family; the registry calls it before each look-up (the package
    `kerasnets` passes the import of `kerasnets.applications`, so the registry itself imports no
    kerasnets module)."""
    _LOADER[:] = [load]


def _ensure_loaded() -> None:
    if _LOADER:
        _LOADER[0]()


def resolve(name: str) -> str | None:
    """The canonical name that `name` stands for, or None. In order: a canonical name (a
    DeprecationWarning if its meaning changed); an alias; another zoo's bare name that only one
    variant holds; a retired name (with a DeprecationWarning naming its replacement); a unique
    match once case, underscores and hyphens are ignored ("mobilenetv2", "ResNet50V2")."""
    _ensure_loaded()
    key = _key(name)
    if key in _REGISTRY:
        if key in _CHANGED:
            _warn(_CHANGED[key])
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    if len(_ZOO_NAMES.get(key, ())) == 1:
        return next(iter(_ZOO_NAMES[key]))
    if key in _RETIRED:
        _retired(name, _RETIRED[key])
        return _RETIRED[key]
    squashed = _squash(key)
    hits = {n for n in _REGISTRY if _squash(n) == squashed}
    hits |= {target for alias, target in _ALIASES.items() if _squash(alias) == squashed}
    if not hits:  # a retired name, typed another way
        hits = {target for old, target in _RETIRED.items() if _squash(old) == squashed}
        if len(hits) == 1:
            _retired(name, next(iter(hits)))
    return hits.pop() if len(hits) == 1 else None


def aliases_of(name: str) -> list[str]:
    """Every other name that resolves to the registered variant `name`."""
    canonical = get_entry(name).name
    found = {alias for alias, target in _ALIASES.items() if target == canonical}
    found |= {old for old, target in _RETIRED.items() if target == canonical}
    found |= {zoo for zoo, targets in _ZOO_NAMES.items()
              if targets == {canonical} and zoo not in _REGISTRY and zoo not in _ALIASES}
    return sorted(found)


def get_entry(name: str) -> ModelEntry:
    canonical = resolve(name)
    if canonical is not None:
        return _REGISTRY[canonical]
    key = _key(name)
    names = sorted(_REGISTRY)
    close = difflib.get_close_matches(key, names, n=5, cutoff=0.6)
    close += [n for n in names if key and key in n and n not in close][: 5 - len(close)]
    claimed = sorted(_ZOO_NAMES.get(key, ()))
    if len(claimed) > 1:
        hint = f" It is another zoo's name for several models: {', '.join(claimed)}."
    elif close:
        hint = f" Did you mean: {', '.join(close)}?"
    else:
        hint = f" {len(names)} models are registered; see kerasnets.list_models()."
    raise ValueError(f"Unknown model name {name!r}.{hint}")


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered model names matching an fnmatch `pattern` (case-insensitive), sorted
    (`kerasnets.list_models` adds the `pretrained` filter)."""
    _ensure_loaded()
    pattern = pattern.lower()
    return sorted(n for n, e in _REGISTRY.items()
                  if fnmatch.fnmatchcase(n, pattern) and (family is None or e.family == family))


def create_model(name: str, /, **kwargs):
    """Build a registered model: `create_model("resnet18", classes=10)`.

    `name` is positional-only, so the model's own name can be passed through:
    `create_model("resnet18", name="student")`.

    Keyword arguments go to the public builder (keras.applications signature plus the family's
    options); a keyword that the variant fixes raises if given a different value.
    """
    return get_entry(name).builder(**kwargs)
