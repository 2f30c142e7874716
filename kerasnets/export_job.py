"""The job of `tools.export`: the model to export (a registry model with its weights, or a
saved `.keras` file with its model card), what its inputs need (normalisation, crop, class
names: the user's, else the card's, else the registry entry's), int8 calibration images from
the caller, then `kerasnets.deployment.export.export`.
"""

from __future__ import annotations

import sys
from typing import Callable

import keras

from kerasnets.deployment import model_card
from kerasnets.zoo import registry
from kerasnets.deployment.export import ExportResult, export


def _entry_or_none(name):
    try:
        return registry.get_entry(name)
    except ValueError:
        return None


def load_model(model: str | None = None, *, weights: str | None = None,
               keras_file: str | None = None, classes: int | None = None,
               input_size: int | None = None):
    """(model, registry entry or None, model card or None): the registry model `model` at
    `input_size` with `classes` and `weights`, or the `.keras` file `keras_file` (then `model`
    names the entry whose preprocessing image inputs use; default the saved model's name).
    Conflicting or missing arguments raise ValueError."""
    if not (model or keras_file):
        raise ValueError("Pass --model NAME [--weights PATH] or --keras_file PATH.")
    if keras_file:
        if weights or classes:
            raise ValueError("--weights and --classes go with --model alone; --keras_file holds "
                             "its weights and classes.")
        loaded, card = model_card.load(keras_file)
        entry = registry.get_entry(model) if model else _entry_or_none(loaded.name)
        height, width, channels = loaded.input_shape[1:]
        size = input_size
        if height is None or width is None:
            size = size or (entry.input_shape[0] if entry else None)
            if size is None:
                raise ValueError(f"{keras_file} takes any input size: pass --input_size.")
            inputs = keras.Input((size, size, channels), name="input")
            loaded = keras.Model(inputs, loaded(inputs), name=loaded.name)
        elif size and (size, size) != (height, width):
            raise ValueError(f"--input_size={size}, but {keras_file} takes {height}x{width} "
                             f"images.")
        return loaded, entry, card
    entry = registry.get_entry(model)
    size = input_size or entry.input_shape[0]
    if size < entry.min_size:
        raise ValueError(f"--input_size={size} is below {entry.name}'s minimum {entry.min_size}.")
    if not weights:
        print(f"Warning: no --weights; exporting {entry.name} with freshly initialised weights.",
              file=sys.stderr)
    built = registry.create_model(entry.name, input_shape=(size, size, entry.input_shape[2]),
                                  classes=classes or entry.classes, weights=weights)
    return built, entry, None


def read_class_names(path) -> list[str]:
    """One class name per non-empty line of `path`; an empty file raises ValueError."""
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError(f"{path} holds no class names (one per line).")
    return names


def export_model(output: str, *, model: str | None = None, weights: str | None = None,
                 keras_file: str | None = None, classes: int | None = None,
                 input_size: int | None = None, preprocessing: str | None = None,
                 crop_fraction: float | None = None, class_names_file: str | None = None,
                 input_dtype: str = "float32", calibrate: Callable | None = None,
                 log: Callable[[str], None] | None = print,
                 **options) -> tuple[str, ExportResult]:
    """(the model's name, `export`'s result) for the model `load_model` gives. Normalisation,
    crop and class names default to the model card's, then the registry entry's (crop 0.875).
    With `quantization="int8"`, `calibrate(classes, size=, channels=, preprocessing=,
    input_dtype=, model=)` gives the calibration and check images
    (`pipelines.calibration.int8_data`). `options` go to `kerasnets.deployment.export.export`."""
    built, entry, card = load_model(model, weights=weights, keras_file=keras_file,
                                    classes=classes, input_size=input_size)
    preprocessing = preprocessing or (card.preprocessing if card else None) or \
        (entry.preprocessing if entry else None)
    if crop_fraction is None:
        crop_fraction = card.crop_fraction if card else 0.875
    class_names = read_class_names(class_names_file) if class_names_file else \
        (list(card.class_names) if card else None)
    if options.get("quantization") == "int8":
        size, _, channels = built.input_shape[1:]
        found = calibrate(built.output_shape[-1], size=size, channels=channels,
                          preprocessing=preprocessing, input_dtype=input_dtype, model=built.name)
        if log:
            log(f"int8: {found.describe()}")
        options.update(calibration_data=found.calibration_data, check_data=found.check_data)
    # bad input / a failed check raises, and tools.flags.run says why
    return built.name, export(built, output, input_dtype=input_dtype,
                              preprocessing=preprocessing, crop_fraction=crop_fraction,
                              class_names=class_names, **options)
