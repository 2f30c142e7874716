"""What every family builder shares: input handling, the classifier head, weight loading, and
the factory that turns a row of a family's `VARIANTS` table into a registered public builder
with the keras.applications signature.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Sequence

import keras
from keras import layers

from kerasnets import registry
from kerasnets.utils import deep_graphs

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
    for side in (height, width):
        if side is None:
            if require_static:
                raise ValueError(f"{model_name}: this model ends in a flatten + dense head and "
                                 f"needs a fixed input size (got {input_shape}); pass "
                                 f"include_top=False for variable sizes.")
        elif side < min_size:
            raise ValueError(f"{model_name}: input size {height}x{width} is too small; the "
                             f"minimum is {min_size}x{min_size} (got input_shape={input_shape}).")
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape, name="input")
        return inputs, inputs
    if not keras.backend.is_keras_tensor(input_tensor):
        tensor = keras.Input(tensor=input_tensor, shape=input_shape)
        return tensor, tensor
    return keras.utils.get_source_inputs(input_tensor), input_tensor


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
    if classes is None or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}.")
    return layers.Dense(classes, activation=classifier_activation, name=name,
                        dtype=head_dtype())(x)


def gap_head(x, *, include_top, pooling, classes, classifier_activation, dropout=0.0):
    """Global-average-pool + (dropout) + Dense head, or the pooled/unpooled features."""
    if not include_top:
        return pool_features(x, pooling)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return predictions(x, classes, classifier_activation)


def flatten_fc_head(x, *, include_top, pooling, classes, classifier_activation, units,
                    dropout=0.5):
    """The 2012-2014 head: flatten, ReLU FC layers `fc1, fc2, ...` of `units` (each followed by
    dropout `fc{i}_dropout`), then "predictions"; without the top, the (pooled) features."""
    if not include_top:
        return pool_features(x, pooling)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(units, start=1):
        x = layers.Dense(width, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    return predictions(x, classes, classifier_activation)


def finish(inputs, outputs, *, name, weights=None):
    """Create the functional model and load `weights` (None or a local file path; the public
    builders have already turned "imagenet" into the path of Keras' published file). Runs under
    `deep_graphs()` too, so a family's generic builder called directly builds deep graphs."""
    with deep_graphs():
        model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from kerasnets.weights import load_weights

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
                                 f"Pick another variant or build a custom spec with the family's "
                                 f"generic builder.")
            continue
        rest[key] = value
    return rest


def _torch_weights(variant, weights, include_top, classes):
    """`weights` when it is to be loaded as a torch checkpoint after the build: "imagenet" for a
    variant whose ImageNet weights are published as a torch checkpoint only (a
    keras.applications twin keeps Keras' own file), or the path of a `.pth` / `.safetensors`
    file; else None."""
    from kerasnets.weights import pretrained

    if isinstance(weights, str) and weights == "imagenet":
        entry = registry.get_entry(variant)
        if entry.keras_equivalent or not pretrained.torch_weights(variant):
            return None
        if include_top and classes not in (None, entry.classes):
            raise ValueError(f"weights='imagenet' with include_top=True needs classes="
                             f"{entry.classes} (got "
                             f"classes={classes}); build with include_top=False (or "
                             f"kerasnets.transfer.build_classifier) for a new head.")
        return "imagenet"
    return weights if pretrained.is_torch_checkpoint(weights) else None


def register_family(namespace: dict[str, Any], generic: Callable[..., Any],
                    variants: Sequence[registry.Variant], *, family: str, paper: registry.Paper,
                    preprocessing: str = "torch", input_shape=(224, 224, 3), min_size: int = 32,
                    classes: int = 1000, test_size: int | None = None,
                    doc: Callable[[registry.Variant], str] | None = None
                    ) -> dict[str, registry.Variant]:
    """Register a family's variant table: the one call at the end of a family file.

    For each `Variant` it generates the public builder `variant.builder` with the
    keras.applications signature, puts it into the family module's `namespace` (its
    `globals()`) and `__all__`, and registers the variant. Fields a variant leaves as None take
    the family defaults given here (`preprocessing`, `input_shape`, `min_size`, `classes`,
    `test_size`); `input_shape` may be a function of the variant (EfficientNets: the spec's
    resolution), and `doc(variant)` makes the first docstring line where a variant has none.
    Returns the table as `{name: Variant}`: the family's `VARIANTS`.

    `generic(spec, *, include_top, weights, input_tensor, input_shape, pooling, classes,
    classifier_activation, name, default_shape, min_size, **family_options)` is the family's
    private builder (it passes `default_shape` and `min_size` on to `model_input`).
    """
    if preprocessing not in registry.PREPROCESSING:
        raise ValueError(f"{family}: unknown preprocessing {preprocessing!r}.")
    table: dict[str, registry.Variant] = {}
    exported = namespace.setdefault("__all__", [])
    for variant in variants:
        if variant.name in table or variant.builder in namespace:
            raise ValueError(f"{family}: {variant.name} / {variant.builder} is defined twice.")
        build = variant_builder(
            variant.builder, variant.name, generic, variant.spec, family=family, paper=paper,
            params=variant.params, source=variant.source,
            input_shape=variant.input_shape or (input_shape(variant) if callable(input_shape)
                                                 else input_shape),
            min_size=variant.min_size or min_size, classes=variant.classes or classes,
            keras_equivalent=variant.keras_equivalent,
            test_size=test_size if variant.test_size is None else variant.test_size,
            doc=variant.doc or (doc(variant) if doc else ""), defaults=dict(variant.options),
            preprocessing=variant.preprocessing or preprocessing, aliases=variant.aliases)
        build.__module__ = namespace.get("__name__", build.__module__)
        namespace[variant.builder] = build
        exported.append(variant.builder)
        table[variant.name] = variant
    return table


def resolution_shape(variant: registry.Variant) -> tuple[int, int, int]:
    """A `register_family` input_shape default: the variant's spec resolution, RGB."""
    return (variant.spec.resolution, variant.spec.resolution, 3)


def variant_builder(builder_name: str, variant: str, generic: Callable[..., Any], spec, *,
                    family: str, paper: registry.Paper, params: int, source: str,
                    input_shape=(224, 224, 3), min_size: int = 32, classes: int = 1000,
                    keras_equivalent: str | None = None, test_size: int | None = None,
                    doc: str = "", defaults: dict[str, Any] | None = None,
                    preprocessing: str = "torch", aliases: Sequence[str] = ()):
    """Make the public builder `builder_name` for one variant and register it as `variant`
    (`register_family` calls this for each row of a family's table).

    `defaults` are family options this variant fixes (a different value from the caller raises).
    The builder's lower-cased name becomes an alias where the registry's forgiving lookup (case,
    underscores and hyphens ignored) would not find the variant by it ("resnext50" ->
    resnext50_32x4d).
    """
    builder_alias = (() if registry._squash(builder_name) == registry._squash(variant)
                     else (builder_name.lower(),))
    if preprocessing not in registry.PREPROCESSING:
        raise ValueError(f"{variant}: unknown preprocessing {preprocessing!r}.")
    fixed_options = dict(defaults or {})
    default_classes = classes
    default_input_shape = tuple(input_shape)

    def build(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
              classes=default_classes, classifier_activation="softmax", name=variant,
              **options):
        family_options = check_overrides(spec, fixed_options, options, builder_name)
        if isinstance(weights, str) and weights == "imagenet":  # an offline bundle's file first
            from kerasnets.weights import bundle

            weights = bundle.imagenet_file(variant, include_top=include_top) or weights
        torch_weights = _torch_weights(variant, weights, include_top, classes)
        state_dict = None
        if torch_weights is not None:
            weights = None  # loaded below, once the model exists
            if torch_weights != "imagenet":  # a user's checkpoint: its head gives the classes
                from kerasnets.weights import pretrained

                state_dict, head = pretrained.read_torch_checkpoint(torch_weights, variant)
                if include_top and head and classes == default_classes:
                    classes = head
        elif isinstance(weights, str) and weights == "imagenet":  # Keras' file, fetched
            from kerasnets.weights import imagenet_weights

            shape = input_shape or (input_tensor.shape[1:] if input_tensor is not None
                                    else default_input_shape)
            weights = imagenet_weights(variant, include_top=include_top, classes=classes,
                                       input_size=shape[0])
        with deep_graphs():
            model = generic(spec, include_top=include_top, weights=weights,
                            input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                            classes=classes, classifier_activation=classifier_activation,
                            name=name, default_shape=tuple(default_input_shape),
                            min_size=min_size, **family_options)
        model.kerasnets_variant = variant
        if torch_weights is not None:
            from kerasnets.weights import pretrained

            if torch_weights == "imagenet":
                pretrained.load_imagenet(model, variant)
            else:
                from kerasnets.weights.convert import load_torch_state_dict

                load_torch_state_dict(model, state_dict, variant=variant,
                                      where=f"checkpoint {os.fspath(torch_weights)!r}")
        return model

    build.__name__ = build.__qualname__ = builder_name
    build.__doc__ = (
        f"{doc or variant} ({paper}).\n\n"
        f"Reference: {params:,} trainable parameters at {default_classes} classes ({source}); "
        f"default input {tuple(input_shape)}.\n\n"
        f"Arguments follow keras.applications: include_top, weights (None, a local .weights.h5 "
        f"/ .keras / .h5 path, or 'imagenet' where keras.applications publishes the weights), "
        f"input_tensor, input_shape, pooling, classes, "
        f"classifier_activation, name; then keyword-only options of the family.")
    registry.register(registry.ModelEntry(
        name=variant, family=family, builder=build, params=params, params_source=source,
        paper=paper, input_shape=tuple(input_shape), min_size=min_size, classes=default_classes,
        keras_equivalent=keras_equivalent, test_size=test_size, preprocessing=preprocessing,
        aliases=tuple(dict.fromkeys(aliases)) + builder_alias, spec=spec))
    return build
