"""What every family builder shares: the builder protocol (a family supplies a body and a head,
the factory owns the input, the top, pooling and the weights), the heads, and the factory that
turns a row of a family's `VARIANTS` table into a registered public builder with the
keras.applications signature.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, ClassVar, Sequence

import keras
from keras import layers

from kerasnets.zoo import registry
from kerasnets.applications._weights_arg import resolve_weights, weights_doc
from kerasnets.utils import deep_graphs
from kerasnets.weights import load_weights, records

BASE_ARGS = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
             "classifier_activation", "name")


def model_input(input_tensor=None, input_shape=None, *, default_shape, min_size, model_name,
                require_static=False):
    """Validate the input and return `(inputs, x)`.

    `input_shape` defaults to the registry's default shape; spatial sizes below `min_size`
    raise a ValueError that names the minimum. `require_static` (flatten + dense heads) refuses
    unknown spatial sizes.
    """
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        input_shape = tuple(default_shape)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"{model_name}: input_shape must be (height, width, channels), "
                         f"got {input_shape}.")
    height, width, channels = input_shape
    if channels is None or channels < 1:
        raise ValueError(f"{model_name}: the number of input channels must be known, "
                         f"got input_shape={input_shape}.")
    if require_static:
        check_static(input_shape, model_name)
    for side in (height, width):
        if side is not None and side < min_size:
            raise ValueError(f"{model_name}: input size {height}x{width} is too small; the "
                             f"minimum is {min_size}x{min_size} (got input_shape={input_shape}).")
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape, name="input")
        return inputs, inputs
    if not keras.backend.is_keras_tensor(input_tensor):
        tensor = keras.Input(tensor=input_tensor, shape=input_shape)
        return tensor, tensor
    return keras.utils.get_source_inputs(input_tensor), input_tensor


def check_static(input_shape, model_name):
    """Refuse unknown spatial sizes: for a flatten + dense head (the factory calls this for a
    `static` head with the top) or a body that flattens (it calls this on `x.shape[1:]`)."""
    if None in tuple(input_shape)[:2]:
        raise ValueError(f"{model_name}: this model ends in a flatten + dense head and needs a "
                         f"fixed input size (got {tuple(input_shape)}); pass include_top=False "
                         f"for variable sizes.")


def correct_pad(x, kernel_size):
    """keras.applications' padding before a strided "valid" convolution or pooling: TF "same"
    padding for static sizes, `k // 2` on the bottom/right and one less on the top/left of even
    (or unknown) sides. Shared by the MobileNet, EfficientNet and NASNet families."""
    half = kernel_size // 2
    return tuple((half - (1 if side is None else 1 - side % 2), half) for side in x.shape[1:3])


def pool_features(x, pooling, name="pool"):
    """Pooling for `include_top=False`: None (4D features), "avg" or "max"."""
    if pooling in (None, ""):
        return x
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=f"avg_{name}")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=f"max_{name}")(x)
    raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")


def head_dtype():
    """The dtype of a classifier's last layer: float32 under a mixed global policy (Keras'
    mixed-precision guidance: the softmax and the outputs the loss sees stay float32), else None
    (the global policy)."""
    policy = keras.config.dtype_policy()
    return "float32" if policy.compute_dtype != policy.variable_dtype else None


def predictions(x, classes, classifier_activation, name="predictions"):
    """The last Dense layer; `classifier_activation=None` gives logits."""
    check_classes(classes)
    return layers.Dense(classes, activation=classifier_activation, name=name,
                        dtype=head_dtype())(x)


def check_classes(classes, model_name=None):
    """Refuse a top without a positive number of classes (the factory calls it before `head`)."""
    if classes is None or classes < 1:
        raise ValueError(f"{model_name + ': ' if model_name else ''}classes must be a positive "
                         f"integer, got {classes!r}.")


class Head:
    """What a head is (`register_family(..., head=...)`), and the base of the heads here.

    A head is a callable `head(x, spec, *, classes, classifier_activation, **options) -> output`
    that the factory calls on the body's output when `include_top=True` (it has checked that
    `classes` is a positive integer). It ends in a layer named "predictions" (float32 under a
    mixed policy: `predictions` / `head_dtype`). Keyword `options` it names are family options
    (see `register_family`). It may carry two attributes, read with these defaults:

    - `static = False`: True when the top needs a fixed input size (a flatten); the factory then
      refuses unknown spatial sizes when `include_top=True`.
    - `features(x, pooling)`: the model's output when `include_top=False`; by default the body's
      output pooled as `pooling` asks (`pool_features`: None, "avg" or "max").

    A family with its own top (a class-map convolution, keras' conv "head") writes a function
    with this signature, or a subclass of `Head`.
    """

    static: ClassVar[bool] = False

    def __call__(self, x, spec, *, classes, classifier_activation):
        raise NotImplementedError

    @staticmethod
    def features(x, pooling):
        return pool_features(x, pooling)


@dataclasses.dataclass(frozen=True)
class GapHead(Head):
    """The usual head: global average pooling `avg_pool`, [dropout `head_dropout` when `dropout`
    > 0], Dense `predictions`."""

    dropout: float = 0.0

    def __call__(self, x, spec=None, *, classes, classifier_activation):
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if self.dropout:
            x = layers.Dropout(self.dropout, name="head_dropout")(x)
        return predictions(x, classes, classifier_activation)


@dataclasses.dataclass(frozen=True)
class FlattenHead(Head):
    """The 2012-2014 head: `flatten`, ReLU Dense layers `fc1, fc2, ...` of `units` (each followed
    by dropout `fc{i}_dropout` when `dropout` > 0), then `predictions`. With the top it needs a
    fixed input size (`static`)."""

    units: tuple[int, ...] = (4096, 4096)
    dropout: float = 0.5
    static: ClassVar[bool] = True

    def __call__(self, x, spec=None, *, classes, classifier_activation):
        x = layers.Flatten(name="flatten")(x)
        for i, width in enumerate(self.units, start=1):
            x = layers.Dense(width, activation="relu", name=f"fc{i}")(x)
            if self.dropout:
                x = layers.Dropout(self.dropout, name=f"fc{i}_dropout")(x)
        return predictions(x, classes, classifier_activation)


def finish(inputs, outputs, *, name, weights=None):
    """Create the functional model and load `weights` (None or a local file path; the public
    builders have already turned "imagenet" into the path of Keras' published file). Runs under
    `deep_graphs()` too, so a deep graph is built whoever calls it."""
    with deep_graphs():
        model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_weights(model, weights)
    return model


def check_overrides(spec, fixed: dict[str, Any], options: dict[str, Any], model_name: str):
    """Return the family options for one build: the variant's `fixed` options plus the caller's.

    A keyword that names a field of the variant's frozen spec, or an option the variant fixes
    (e.g. AlexNet2Tower's `groups=2`), may repeat the variant's value but not change it
    (`groups=8` for a variant fixed at 32 raises).
    """
    pinned = dict(fixed)
    if dataclasses.is_dataclass(spec):
        pinned.update({f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)})
    rest = dict(fixed)
    for key, value in options.items():
        if key in pinned:
            if value != pinned[key]:
                raise ValueError(f"{model_name} fixes {key}={pinned[key]!r}; got {key}={value!r}. "
                                 f"Pick another variant or build a custom spec with "
                                 f"kerasnets.applications.custom_model(spec, like=...).")
            continue
        rest[key] = value
    return rest


# what the factory itself passes to a body / a head: never a family option
_RESERVED = {"body": {"x", "spec", "name", "include_top", "classes", "classifier_activation"},
             "head": {"x", "spec", "classes", "classifier_activation"}}


def _keywords(fn) -> set[str] | None:
    """The keyword arguments `fn` names; None when it takes any (`**kwargs`)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _dispatch(options: dict[str, Any], takers: dict[str, Callable[..., Any]], model_name: str):
    """Hand each family option to every taker (body, head) whose signature names it (or that
    takes `**kwargs`); an option that none names is a TypeError, as for any unknown keyword."""
    named = {part: _keywords(fn) for part, fn in takers.items()}
    out: dict[str, dict[str, Any]] = {part: {} for part in takers}
    for key, value in options.items():
        parts = [part for part, names in named.items()
                 if key not in _RESERVED[part] and (names is None or key in names)]
        if not parts:
            raise TypeError(f"{model_name}() got an unexpected keyword argument {key!r}")
        for part in parts:
            out[part][key] = value
    return out


def build_model(spec, body: Callable[..., Any], head: Callable[..., Any], /, *, include_top=True,
                weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="model", default_shape=(224, 224, 3),
                min_size=32, **options):
    """The factory: the model of `spec` from a family's `body` and `head` (see `register_family`).

    It validates the input (`model_input`: `default_shape`, `min_size`, a fixed size where the
    head is `static`), calls `body(x, spec, name=name, **body_options)`, then the `head` with
    the top or its `features(x, pooling)` (default `pool_features`) without it, and `finish`es
    the model with `weights` (None or a local Keras weights file). `options` go to the body
    and/or the head by the keywords their signatures name. A body that names `include_top`,
    `classes` or `classifier_activation` receives them too (auxiliary classifiers) and may
    return `(features, aux_outputs)`: the model's outputs are then `[head output, *aux_outputs]`.
    """
    split = _dispatch(options, {"body": body, "head": head}, name)
    if include_top:
        check_classes(classes, name)
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name,
                            require_static=include_top and getattr(head, "static", False))
    asks = _keywords(body) or ()
    top = {key: value for key, value in (("include_top", include_top), ("classes", classes),
                                         ("classifier_activation", classifier_activation))
           if key in asks}
    with deep_graphs():
        x = body(x, spec, name=name, **top, **split["body"])
        x, aux = x if isinstance(x, tuple) else (x, ())
        if include_top:
            x = head(x, spec, classes=classes, classifier_activation=classifier_activation,
                     **split["head"])
        else:
            x = getattr(head, "features", pool_features)(x, pooling)
    return finish(inputs, [x, *aux] if aux else x, name=name, weights=weights)


@dataclasses.dataclass(frozen=True)
class _Parts:
    """How a registered variant is built: its family's body and head, and its fixed options."""

    body: Callable[..., Any]
    head: Callable[..., Any]
    options: dict[str, Any]


_PARTS: dict[str, _Parts] = {}


def _build(parts: _Parts, spec, /, *, default_shape, min_size, **kwargs):
    return build_model(spec, parts.body, parts.head, default_shape=default_shape,
                       min_size=min_size, **kwargs)


def custom_model(spec, *, like: str, include_top=True, weights=None, input_tensor=None,
                 input_shape=None, pooling=None, classes=None, classifier_activation="softmax",
                 name=None, **options):
    """A model of your own `spec` built as the registered variant `like` is built: its family's
    body and head, its default input shape and minimum size, its options (which `options` may
    change, since the spec is yours); `classes` defaults to the variant's. `weights` is None
    or a local Keras weights file (published checkpoints belong to the variants).

        from kerasnets.applications import custom_model
        from kerasnets.applications._resnet_blocks import ResNetSpec
        model = custom_model(ResNetSpec("basic", (1, 1, 1, 1)), like="resnet18", classes=10,
                             input_shape=(64, 64, 3))
    """
    entry = registry.get_entry(like)
    parts = _PARTS[entry.name]
    return _build(parts, spec, default_shape=entry.input_shape, min_size=entry.min_size,
                  include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling,
                  classes=entry.classes if classes is None else classes,
                  classifier_activation=classifier_activation,
                  name=name or f"{entry.name}_custom", **{**parts.options, **options})


def register_family(namespace: dict[str, Any], body: Callable[..., Any],
                    variants: Sequence[registry.Variant], *, family: str, paper: registry.Paper,
                    head: Callable[..., Any], preprocessing: str = "torch",
                    input_shape=(224, 224, 3), min_size: int = 32,
                    classes: int = 1000, test_size: int | None = None,
                    doc: Callable[[registry.Variant], str] | None = None,
                    weights: dict[str, Sequence[records.Checkpoint]] | None = None,
                    torch_mapping: Callable[[registry.Variant], Any] | None = None
                    ) -> dict[str, registry.Variant]:
    """Register a family's variant table: the one call at the end of a family file.

    For each `Variant` it generates the public builder `variant.builder` with the
    keras.applications signature, puts it into the family module's `namespace` (its
    `globals()`) and `__all__`, and registers the variant. Fields a variant leaves as None take
    the family defaults given here (`preprocessing`, `input_shape`, `min_size`, `classes`,
    `test_size`); `input_shape` may be a function of the variant (EfficientNets: the spec's
    resolution), and `doc(variant)` makes the first docstring line where a variant has none.
    Returns the table as `{name: Variant}`: the family's `VARIANTS`.

    A family supplies only its body and its head; the factory (`build_model`) owns the input,
    `include_top`, `pooling`, `classes`, `classifier_activation` and `weights`:

    - `body(x, spec, *, name, **options) -> features`: the network from the validated input
      tensor `x` (the factory made it with `model_input`) to the tensor the head reads, with
      every stage closed by a layer `stage{s}_out`. `name` is the model's name, for error
      messages. Its keyword-only `options` (with defaults) are the family options, e.g.
      `version="1"`; a caller's option goes to the body and/or the head by the names their
      signatures give (a name neither gives is a TypeError). A body that names `include_top`,
      `classes` or `classifier_activation` receives them (auxiliary classifiers) and may return
      `(features, aux_outputs)`.
    - `head`: a `Head` (see its docstring): `GapHead()` (global average pooling + Dense),
      `FlattenHead(units, dropout)`, or the family's own callable
      `head(x, spec, *, classes, classifier_activation, **options)`. Without the top, the output
      is `head.features(x, pooling)`, by default the body's output pooled as `pooling` asks.

    So a family writes, beside its blocks and table:

        def imagenet_resnet(x, spec, *, name, version="1"):     # the body
            if version not in VERSIONS:
                raise ValueError(f"{name}: version must be one of {VERSIONS}, got {version!r}.")
            x = imagenet_stem(x, ...)
            return residual_stages(x, spec, block)    # ends in stage4_out

        VARIANTS = register_family(globals(), imagenet_resnet, _TABLE, family="resnet",
                                   paper=PAPER, head=GapHead(), min_size=32, test_size=32)

    A variant's fixed options (`Variant.options`) reach the body and head as a caller's do. A
    body that flattens whatever the top calls `check_static(x.shape[1:], name)`. A custom spec
    is built the same way by `custom_model(spec, like=variant)`.

    `weights` maps variant names to their `Checkpoint` records (the default first; names of
    other tables are left to their own call); `torch_mapping(variant)` makes the
    `TorchMapping` their torch files load through.
    """
    if preprocessing not in registry.PREPROCESSING:
        raise ValueError(f"{family}: unknown preprocessing {preprocessing!r}.")
    weights = dict(weights or {})  # a file with two tables passes one dict to both
    table: dict[str, registry.Variant] = {}
    exported = namespace.setdefault("__all__", [])
    for variant in variants:
        if variant.name in table or variant.builder in namespace:
            raise ValueError(f"{family}: {variant.name} / {variant.builder} is defined twice.")
        build = variant_builder(
            variant.builder, variant.name, body, variant.spec, head=head, family=family,
            paper=paper, params=variant.params, source=variant.source,
            input_shape=variant.input_shape or (input_shape(variant) if callable(input_shape)
                                                 else input_shape),
            min_size=variant.min_size or min_size, classes=variant.classes or classes,
            keras_equivalent=variant.keras_equivalent,
            test_size=test_size if variant.test_size is None else variant.test_size,
            doc=variant.doc or (doc(variant) if doc else ""), defaults=dict(variant.options),
            preprocessing=variant.preprocessing or preprocessing, aliases=variant.aliases,
            retired=variant.retired)
        build.__module__ = namespace.get("__name__", build.__module__)
        if variant.name in weights:
            records.declare(variant.name, weights[variant.name],
                            mapping=None if torch_mapping is None
                            else _bind(torch_mapping, variant))
        build.__doc__ = build.__doc__.replace("{weights}", weights_doc(variant.name))
        namespace[variant.builder] = build
        exported.append(variant.builder)
        table[variant.name] = variant
    return table


def _bind(torch_mapping, variant):
    return lambda: torch_mapping(variant)


def resolution_shape(variant: registry.Variant) -> tuple[int, int, int]:
    """A `register_family` input_shape default: the variant's spec resolution, RGB."""
    return (variant.spec.resolution, variant.spec.resolution, 3)


def variant_builder(builder_name: str, variant: str, body: Callable[..., Any], spec, *,
                    head: Callable[..., Any], family: str,
                    paper: registry.Paper, params: int, source: str,
                    input_shape=(224, 224, 3), min_size: int = 32, classes: int = 1000,
                    keras_equivalent: str | None = None, test_size: int | None = None,
                    doc: str = "", defaults: dict[str, Any] | None = None,
                    preprocessing: str = "torch", aliases: Sequence[str] = (),
                    retired: Sequence[str] = ()):
    """Make the public builder `builder_name` for one variant and register it as `variant`
    (`register_family` calls this for each row of a family's table).

    `body` and `head` follow `register_family`'s protocol. `defaults` are family options this
    variant fixes (a different value from the caller raises).
    The builder's lower-cased name becomes an alias where the registry's forgiving lookup (case,
    underscores and hyphens ignored) would not find the variant by it ("resnext50" ->
    resnext50_32x4d).
    """
    builder_alias = (() if registry._squash(builder_name) == registry._squash(variant)
                     else (builder_name.lower(),))
    if preprocessing not in registry.PREPROCESSING:
        raise ValueError(f"{variant}: unknown preprocessing {preprocessing!r}.")
    fixed_options = dict(defaults or {})
    parts = _PARTS[variant] = _Parts(body, head, fixed_options)
    default_classes = classes
    default_input_shape = tuple(input_shape)

    def build(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
              classes=default_classes, classifier_activation="softmax", name=variant,
              **options):
        family_options = check_overrides(spec, fixed_options, options, builder_name)
        weights, classes, load = resolve_weights(
            variant, weights, include_top=include_top, classes=classes,
            default_classes=default_classes,
            shape=input_shape or (input_tensor.shape[1:] if input_tensor is not None
                                  else default_input_shape))
        with deep_graphs():
            model = _build(parts, spec, default_shape=default_input_shape, min_size=min_size,
                           include_top=include_top, weights=weights, input_tensor=input_tensor,
                           input_shape=input_shape, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, name=name,
                           **family_options)
        model.kerasnets_variant = variant
        load(model)
        return model

    build.__name__ = build.__qualname__ = builder_name
    build.__doc__ = (
        f"{doc or variant} ({paper}).\n\n"
        f"Registry name: {variant!r}. Paper: {paper.title}"
        f"{f' (arXiv:{paper.arxiv})' if paper.arxiv else ''}, {paper.year}.\n"
        f"Parameters: {params:,} trainable at {default_classes} classes ({source}).\n"
        f"Input size: {tuple(input_shape)} by default.\n"
        f"Weights: {{weights}}.\n\n"
        f"Arguments follow keras.applications: include_top, weights (None; 'imagenet', the "
        f"default checkpoint; a source or tag of another listed checkpoint; or a local "
        f".weights.h5 / .keras / .h5 / .pth / .safetensors path), input_tensor, input_shape, "
        f"pooling, classes, classifier_activation, name; then keyword-only options of the "
        f"family.")
    registry.register(registry.ModelEntry(
        name=variant, family=family, builder=build, params=params, params_source=source,
        paper=paper, input_shape=tuple(input_shape), min_size=min_size, classes=default_classes,
        keras_equivalent=keras_equivalent, test_size=test_size, preprocessing=preprocessing,
        aliases=tuple(dict.fromkeys(aliases)) + builder_alias, spec=spec,
        retired=tuple(retired)))
    return build
