"""A new head on a registry backbone, and the graph's stages: `build_classifier`, the
`stage{s}_out` taps, freezing by stage, discriminative learning rates per stage, the part after a
tap, and Yosinski et al.'s networks whose first n stages are copied from another (`copy_weights`,
`transferred`)."""

from __future__ import annotations

import difflib
import re
from typing import Callable

import keras
import numpy as np


BACKBONE_OUT = "backbone_out"
_STAGE_OUT = re.compile(r"stage(\d+)_out")


def build_classifier(backbone, classes: int, *, input_shape=None, weights=None,
                     pooling: str = "avg", dropout: float = 0.0,
                     classifier_activation: str | None = "softmax", name: str | None = None,
                     **options) -> keras.Model:
    """A classifier with a new head on `backbone` (a registry name, or a Keras model that
    outputs features, e.g. a builder's `include_top=False` model).

    `weights` (registry names only) goes to the builder without its top: None, a local file or
    "imagenet". `pooling` is "avg", "max" or "flatten"; `dropout` comes before the new
    `predictions` layer. Family `options` go to the builder.
    """
    if not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}.")
    if pooling not in ("avg", "max", "flatten"):
        raise ValueError(f"pooling must be 'avg', 'max' or 'flatten', got {pooling!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
    if isinstance(backbone, str):
        from kerasnets.zoo.registry import create_model

        base = create_model(backbone, include_top=False, weights=weights,
                            input_shape=input_shape, **options)
    elif isinstance(backbone, keras.Model):
        if weights is not None or options or input_shape is not None:
            raise ValueError("weights, input_shape and family options apply to a registry name; "
                             "pass them to the builder of a backbone model yourself.")
        base = backbone
    else:
        raise TypeError(f"backbone must be a registry name or a keras.Model, got "
                        f"{type(backbone).__name__}.")
    x = keras.layers.Identity(name=BACKBONE_OUT)(base.output)
    if len(x.shape) == 4:
        head = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D,
                "flatten": keras.layers.Flatten}[pooling]
        x = head(name="head_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    from kerasnets.applications._common import head_dtype

    outputs = keras.layers.Dense(int(classes), activation=classifier_activation,
                                 name="predictions", dtype=head_dtype())(x)
    return keras.Model(base.input, outputs, name=name or f"{base.name}_transfer")


def stage_taps(model) -> list[str]:
    """The model's `stage{s}_out` layer names, by stage."""
    taps = [(int(m.group(1)), layer.name) for layer in model.layers
            if (m := _STAGE_OUT.fullmatch(layer.name))]
    return [name for _, name in sorted(taps)]


def resolve_tap(model, upto) -> str | None:
    """The layer name that `upto` means: None or 0 -> None (nothing), an int n -> `stage{n}_out`,
    "backbone" -> `backbone_out`, else a layer name of the model (checked)."""
    if upto is None or (isinstance(upto, (int, np.integer)) and not isinstance(upto, bool)
                        and upto == 0):
        return None
    names = [layer.name for layer in model.layers]
    if isinstance(upto, (int, np.integer)) and not isinstance(upto, bool):
        taps = stage_taps(model)
        if not 0 <= upto <= len(taps):
            listed = ", ".join(taps) or "no stage{s}_out layers"
            raise ValueError(f"{model.name} has {len(taps)} stages ({listed}); cannot use the "
                             f"first {upto}.")
        return taps[upto - 1]
    if isinstance(upto, str) and upto.isdigit():
        return resolve_tap(model, int(upto))
    if upto == "backbone":
        upto = BACKBONE_OUT
    if upto not in names:
        close = difflib.get_close_matches(str(upto), names, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"{model.name} has no layer {upto!r}.{hint}")
    return upto


def layers_upto(model, upto) -> list[str]:
    """Names of the layers that feed `upto` (see `resolve_tap`), itself included, in order."""
    tap = resolve_tap(model, upto)
    if tap is None:
        return []
    sub = keras.Model(model.inputs, model.get_layer(tap).output)
    inside = {id(layer) for layer in sub.layers}
    return [layer.name for layer in model.layers if id(layer) in inside]


def freeze(model, upto=BACKBONE_OUT) -> list[str]:
    """Freeze the layers that feed `upto` (inclusive) and make every other layer trainable;
    returns the frozen names. Recompile the model afterwards (Keras collects the trainable
    variables when it compiles)."""
    frozen = set(layers_upto(model, upto))
    for layer in model.layers:
        layer.trainable = layer.name not in frozen
    return [layer.name for layer in model.layers if layer.name in frozen]


def unfreeze(model, from_stage: int = 1) -> list[str]:
    """Make stage `from_stage` and everything after it trainable, keeping the stem and earlier
    stages frozen (`from_stage=1`: the whole model); returns the still-frozen names."""
    if from_stage < 1:
        raise ValueError(f"from_stage counts from 1, got {from_stage}.")
    return freeze(model, from_stage - 1)


def stage_groups(model) -> list[tuple[str, list[str]]]:
    """`[("stage1", names), ..., ("top", names)]`: each stage's layers (the stem goes with stage
    1) and the layers after the last stage (the head)."""
    groups, seen = [], set()
    for tap in stage_taps(model):
        names = [n for n in layers_upto(model, tap) if n not in seen]
        seen.update(names)
        groups.append((tap[: -len("_out")], names))
    groups.append(("top", [layer.name for layer in model.layers if layer.name not in seen]))
    return groups


def discriminative_optimizer(model, make: Callable[[float], keras.optimizers.Optimizer],
                             factor: float) -> keras.optimizers.Optimizer:
    """Keras' `MultiOptimizer` with one optimizer per stage: the layers after the last stage
    get `make(1.0)`, stage `S` (the last) `make(factor)`, stage `S-1` `make(factor**2)`, ...
    (`make(scale)` returns an optimizer whose learning rate is the base rate times `scale`).
    `factor=1` returns `make(1.0)` alone."""
    if not 0 < factor <= 1:
        raise ValueError(f"the discriminative factor must be in (0, 1], got {factor}.")
    if factor == 1:
        return make(1.0)
    groups = stage_groups(model)
    if len(groups) == 1:
        raise ValueError(f"{model.name} has no stage{{s}}_out layers to give learning rates to.")
    mapping = {}
    for depth, (_, names) in enumerate(reversed(groups[:-1]), start=1):
        weighted = [n for n in names if model.get_layer(n).weights]
        if weighted:
            pattern = "(?:" + "|".join(re.escape(n) for n in weighted) + ")/.*"
            mapping[pattern] = make(factor ** depth)
    return keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(make(1.0), mapping))


def tail_model(model, upto) -> keras.Model:
    """The part of `model` after `upto`, taking `upto`'s output as its input; it shares the
    layers (and so the weights) with `model`."""
    tap = resolve_tap(model, upto)
    return keras.Model(model.get_layer(tap).output, model.output, name=f"{model.name}_after_{tap}")


def copy_weights(source, target, upto=BACKBONE_OUT) -> list[str]:
    """Copy the weights of the layers feeding `upto` in `target` from the same-named layers of
    `source`; returns the copied names. Shapes are checked before anything is assigned."""
    from kerasnets.weights import WeightsMismatchError

    pairs = []
    for name in layers_upto(target, upto):
        layer = target.get_layer(name)
        if not layer.weights:
            continue
        try:
            src = source.get_layer(name)
        except ValueError:
            raise WeightsMismatchError(f"copy_weights: {source.name} has no layer {name!r} "
                                       f"(needed for {target.name} up to {upto!r}).") from None
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(w.shape) for w in src.weights]
        if want != got:
            raise WeightsMismatchError(f"copy_weights: layer {name!r} has shapes {want} in "
                                       f"{target.name} but {got} in {source.name}.")
        pairs.append((layer, src))
    for layer, src in pairs:
        layer.set_weights(src.get_weights())
    return [layer.name for layer, _ in pairs]


def transferred(build: Callable[[], keras.Model], source, n: int, *,
                fine_tune: bool) -> keras.Model:
    """Yosinski et al.'s transfer network: a fresh `build()` whose stem and first `n` stages are
    copied from `source`; they are frozen (`XnY`) or trained with the rest (`XnY+`); the layers
    after stage `n` keep their new random initialisation."""
    model = build()
    copy_weights(source, model, n)
    freeze(model, None if fine_tune else n)
    return model
