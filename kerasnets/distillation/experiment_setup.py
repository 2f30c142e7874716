"""What the distillation experiment is set up with, checked before anything trains: the student's
input shape, the models (`build`), hint pairs, the teachers' sources (`check_setup`,
`teacher_sources`), the seed's datasets (`ExperimentData`) and what every seed trains
(`Setup`)."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Sequence

import keras
import tensorflow as tf


IMAGENET = "imagenet"
# Hinton et al.'s MLPs flatten the image as the dataset has it (the registry's 28 px is MNIST's).
NATIVE_SIZE_FAMILIES = frozenset({"mlp"})


def default_input_size(student: str, image_size: int | None = None) -> int | None:
    """`image_size`, else the student's registry size; None for a model that reads the image at
    the dataset's own size (`NATIVE_SIZE_FAMILIES`)."""
    from kerasnets.zoo.registry import get_entry

    entry = get_entry(student)
    if image_size or entry.family in NATIVE_SIZE_FAMILIES:
        return image_size
    return entry.input_shape[0]


def student_input_shape(student: str, *, image_size: int | None = None,
                        native_shape=None) -> tuple[int, int, int]:
    """The student's (and the pipeline's) input shape: `image_size` (else the registry's) with
    the student's channels; for `NATIVE_SIZE_FAMILIES`, the dataset's `native_shape`."""
    from kerasnets.zoo.registry import get_entry

    entry = get_entry(student)
    if entry.family not in NATIVE_SIZE_FAMILIES:
        size = default_input_size(student, image_size)
        return (size, size, entry.input_shape[2])
    native = tuple(native_shape or (None, None, None))
    size = image_size or native[0]
    if not size:
        raise ValueError(f"The dataset's images vary in size: give image_size for the "
                         f"{student} student.")
    return (size, size, native[-1] or 3)


def build(name: str, *, input_shape, classes: int, model_name: str | None = None,
          weights: str | None = None, activation=None) -> keras.Model:
    """`kerasnets.create_model(name)` at `input_shape` and `classes`, in logits (or
    `activation`), named `model_name` (default: the registry name)."""
    from kerasnets.zoo.registry import create_model

    options = dict(classes=classes, input_shape=tuple(input_shape), weights=weights,
                   classifier_activation=activation)
    if model_name:
        options["name"] = model_name
    return create_model(name, **options)


def teacher_name(names: Sequence[str], k: int) -> str:
    """The name of teacher `k`: one name for every teacher, or one name per teacher."""
    return names[k] if len(names) > 1 else names[0]


def parse_hints(specs: Sequence[str]) -> list[tuple[str, str]]:
    """`["teacher_layer:student_layer", ...]` -> pairs."""
    hints = []
    for spec in specs:
        teacher_layer, sep, student_layer = spec.partition(":")
        if not sep or not teacher_layer or not student_layer:
            raise ValueError(f"hint layers want teacher_layer:student_layer, got {spec!r}.")
        hints.append((teacher_layer, student_layer))
    return hints


def check_setup(teachers: Sequence[str], student: str, *, teacher_weights: Sequence[str] = (),
                num_teachers: int = 1, train_teacher_epochs: int = 0,
                hints: Sequence = (), temperature: float = 4.0, alpha: float = 0.1) -> None:
    """Refuse, before anything is built, an experiment that cannot run: unknown models, neither
    weights nor teacher training, weights files missing or normalised for another model than the
    student, ImageNet weights for a model without them, hints from an ensemble. A teacher file
    normalised for another model than the student is adapted (`teachers.file_teacher`)."""
    from kerasnets.zoo.registry import get_entry
    from kerasnets.weights import pretrained

    entries = [get_entry(n) for n in teachers]
    get_entry(student)
    count = len(teacher_weights) or num_teachers
    if len(teachers) > 1 and len(teachers) != count:
        raise ValueError(f"{len(teachers)} teacher names for {count} teachers "
                         f"({len(teacher_weights)} weights files).")
    if not teacher_weights and train_teacher_epochs <= 0:
        raise ValueError("No teacher weights: give train_teacher_epochs to train the teacher "
                         "first.")
    for k, path in enumerate(teacher_weights):
        entry = entries[k] if len(entries) > 1 else entries[0]
        if path == IMAGENET:
            if not pretrained.has_pretrained(entry.name):
                raise ValueError(f"teacher weights imagenet: {entry.name} has no ImageNet "
                                 "weights; give a registry teacher that has "
                                 "(kerasnets.list_models(pretrained=True)).")
            if train_teacher_epochs <= 0:
                raise ValueError("teacher weights imagenet train a new head on the frozen "
                                 "ImageNet backbone: give train_teacher_epochs N (N >= 1).")
            continue   # its own normalisation: a Renormalize layer in front
        if not os.path.exists(path):
            raise FileNotFoundError(f"teacher weights {path!r} do not exist.")
        # another normalisation than the student's: `file_teacher` puts a Renormalize in front
    if hints and count > 1:
        raise ValueError("Hint layers need one teacher (FitNets' hints come from one network's "
                         "inner layer), not an ensemble.")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")


def teacher_sources(names: Sequence[str], teacher_weights: Sequence[str] = (), *,
                    num_teachers: int = 1,
                    input_size: int | None = None) -> list[tuple[str, str | None]]:
    """Per teacher `(kind, weights)`: ("train", None) to train it here, ("file", path), or
    ("imagenet", the builder's weights argument). ImageNet files are checked (or fetched) now,
    so a teacher whose weights are not here fails before anything trains."""
    from kerasnets import transfer

    if not teacher_weights:
        return [("train", None)] * num_teachers
    return [transfer.choose_weights(teacher_name(names, k), IMAGENET, input_size=input_size)
            if path == IMAGENET else ("file", path) for k, path in enumerate(teacher_weights)]


@dataclasses.dataclass
class ExperimentData:
    """One seed's datasets, made by the caller at the student's input (`pipelines.distillation
    .prepare`).

    `examples` is the non-augmented transfer set, unbatched, in a fixed order (the teacher's
    cached logits are aligned to it); `teacher_train` the batched training set of the teachers
    (the data recipe; one-hot labels when `mixing`); `augmented_transfer(excluded_labels)` the
    student's augmented training batches (None: the transfer set is `examples`, not augmented).
    `source` and `recipe` identify `examples` in the logits cache's key."""

    name: str
    class_names: Sequence[str]
    num_classes: int
    num_train: int
    input_shape: tuple[int, int, int]
    preprocessing: str
    eval: tf.data.Dataset
    examples: tf.data.Dataset
    teacher_train: tf.data.Dataset
    mixing: bool = False
    teacher_augmented: bool = False
    augmented_transfer: Callable[[Sequence[int]], tf.data.Dataset] | None = None
    source: tuple[str, ...] = ()
    recipe: str = "none"


@dataclasses.dataclass(frozen=True)
class Setup:
    """What the experiment trains (the same for every seed): `sources` from `teacher_sources`,
    `hints` from `parse_hints`."""

    teachers: Sequence[str]
    student: str
    sources: Sequence[tuple[str, str | None]]
    epochs: int
    temperature: float = 4.0
    alpha: float = 0.1
    train_teacher_epochs: int = 0
    ensemble: str = "logits"
    hints: Sequence[tuple[str, str]] = ()
    hint_epochs: int = 0
    compare: bool = True
    cache_teacher: bool = True
    omit_class: int | None = None
