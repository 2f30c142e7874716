"""The distillation experiment of `tools.distill`, as library functions with plain arguments.

For each seed (`run_seed`): the teachers are trained here, loaded from files, or built from a
frozen ImageNet backbone with a new head trained here (several make an ensemble); then the student
is trained alone and distilled, from the same initial weights, with the same optimiser and budget,
on the same transfer set (optionally FitNets hints first, and Hinton et al.'s "never saw a 3":
distilled without one class, then that class's bias raised). `comparison_rows` makes the table
over seeds (test errors, mean ± standard deviation).

The datasets come from the caller as an `ExperimentData` (`pipelines.distillation.prepare` makes
one from a dataset name; kerasnets never imports pipelines); optimisers from a settings dict of
`kerasnets.training.resolve_settings` (`training.optimizer_from_settings`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasnets.distillation.losses import distiller
from kerasnets.distillation.teachers import (ensemble_teacher, file_teacher, hint_distiller,
                                             pretrained_teacher)
from kerasnets.distillation.transfer_data import (best_bias_shift, compute_teacher_logits,
                                                  shift_class_bias, transfer_set)

IMAGENET = "imagenet"
# Hinton et al.'s MLPs flatten the image as the dataset has it (the registry's 28 px is MNIST's).
NATIVE_SIZE_FAMILIES = frozenset({"mlp"})


# ----------------------------------------------------------------------------- models and checks

def default_input_size(student: str, image_size: int | None = None) -> int | None:
    """`image_size`, else the student's registry size; None for a model that reads the image at
    the dataset's own size (`NATIVE_SIZE_FAMILIES`)."""
    from kerasnets.registry import get_entry

    entry = get_entry(student)
    if image_size or entry.family in NATIVE_SIZE_FAMILIES:
        return image_size
    return entry.input_shape[0]


def student_input_shape(student: str, *, image_size: int | None = None,
                        native_shape=None) -> tuple[int, int, int]:
    """The student's (and the pipeline's) input shape: `image_size` (else the registry's) with
    the student's channels; for `NATIVE_SIZE_FAMILIES`, the dataset's `native_shape`."""
    from kerasnets.registry import get_entry

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
    from kerasnets.registry import create_model

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
    from kerasnets.registry import get_entry
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


# ----------------------------------------------------------------------------- evaluation

def predict(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """(logits, labels) of `model` over a batched `(x, y)` dataset, in inference mode."""
    step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    logits, labels = [], []
    for x, y in dataset:
        logits.append(np.asarray(step(x), "float32"))
        labels.append(np.asarray(y))
    return np.concatenate(logits), np.concatenate(labels)


def errors(model, dataset) -> int:
    """Misclassified examples of a batched `(x, y)` dataset."""
    logits, labels = predict(model, dataset)
    return int((logits.argmax(-1) != labels).sum())


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = np.asarray(values, "float64")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def params_without_bn_statistics(model) -> int:
    """Every weight but BatchNorm's moving statistics (a frozen teacher has no trainable ones)."""
    return int(sum(np.prod(w.shape) for w in model.weights
                   if not w.path.endswith(("moving_mean", "moving_variance"))))


# ----------------------------------------------------------------------------- one seed

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


class Run:
    """What one seed's fits share: the data, the strategy, the seed, the batch size and the
    optimiser settings (`training.resolve_settings`' dict)."""

    def __init__(self, data: ExperimentData, settings: dict[str, Any], *, batch_size: int,
                 seed: int = 0, strategy=None, verbose: int = 0):
        self.data, self.settings, self.batch_size = data, dict(settings), batch_size
        self.seed, self.verbose = seed, verbose
        self.strategy = strategy or tf.distribute.get_strategy()
        self.schedule_callbacks = []   # of the last optimiser made, for the next fit

    @property
    def augmented(self) -> bool:
        return self.data.augmented_transfer is not None

    def optimizer(self, epochs: int, augmented: bool = False):
        """The optimiser of the next `fit` (which also gets the callbacks of its schedule)."""
        from kerasnets import training

        steps = training.steps_for(self.data.num_train, self.batch_size,
                                   drop_remainder=augmented)
        optimizer, self.schedule_callbacks = training.optimizer_from_settings(
            dict(self.settings, steps_per_epoch=steps), epochs)
        return optimizer

    def transfer(self, logits=None, exclude: Sequence[int] = ()):
        """The student's training batches (the same for alone and distilled)."""
        if not self.augmented:
            return transfer_set(self.data.examples, logits, batch_size=self.batch_size,
                                seed=self.seed, exclude_labels=exclude)
        return self.data.augmented_transfer(tuple(exclude))

    def fit(self, model, data, epochs: int, validate: bool = True) -> dict[str, list[float]]:
        from kerasnets import training

        callbacks, self.schedule_callbacks = self.schedule_callbacks, []
        history = training.fit(model, data, epochs=epochs,
                               validation_data=self.data.eval if validate else None,
                               strategy=self.strategy, callbacks=callbacks, verbose=self.verbose)
        return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def _teacher_loss(mixing: bool):
    loss = keras.losses.CategoricalCrossentropy if mixing else \
        keras.losses.SparseCategoricalCrossentropy
    return loss(from_logits=True)


def train_teacher_head(run: Run, teacher, epochs: int) -> dict:
    """Train the new head of a `pretrained_teacher` on the teacher's training set, backbone
    frozen (transfer schedule 2.A; its features computed once when nothing is augmented)."""
    from kerasnets import transfer

    mixing = run.data.mixing
    result = transfer.fine_tune(
        teacher, run.data.teacher_train, None if mixing else run.data.eval, epochs=epochs,
        lr=run.settings["lr"], make_optimizer=lambda lr, n: run.optimizer(n, True),
        loss=_teacher_loss(mixing), metrics=[] if mixing else ["accuracy"],
        freeze_upto=transfer.BACKBONE_OUT, cache_features=not run.data.teacher_augmented,
        strategy=run.strategy, callbacks=lambda phase: run.schedule_callbacks,
        verbose=run.verbose, seed=run.seed,
        # cached features of every training image once (teacher_train drops a remainder)
        feature_data=None if run.data.teacher_augmented else
        run.data.examples.batch(run.batch_size))
    run.schedule_callbacks = []
    return result.history


@dataclasses.dataclass
class Teachers:
    model: keras.Model            # in logits; an ensemble of several
    errors: list[int]             # each teacher's test errors
    histories: list[dict]         # of the teachers trained here
    files: list[str | None]       # each teacher's weights file (saved here or given)


def teachers_for(run: Run, setup: Setup, *, save_dir: str | None = None) -> Teachers:
    """Load or train the teachers of `setup.sources`; those trained here are saved to
    `save_dir/seed{seed}/teacher{k}.weights.h5` (None: not saved)."""
    from kerasnets.utils import save_model

    data = run.data
    models, errs, histories, files = [], [], [], []
    for k, (kind, path) in enumerate(setup.sources):
        name = teacher_name(setup.teachers, k)
        keras.utils.set_random_seed(1000 * run.seed + k)
        with run.strategy.scope():
            if kind == IMAGENET:
                teacher = pretrained_teacher(name, data.num_classes, input_shape=data.input_shape,
                                             input_preprocessing=data.preprocessing,
                                             weights=path, model_name=f"teacher{k}")
            elif kind == "file":
                teacher = file_teacher(name, path, data.num_classes, input_shape=data.input_shape,
                                       input_preprocessing=data.preprocessing,
                                       class_names=data.class_names, model_name=f"teacher{k}")
            else:
                teacher = build(name, input_shape=data.input_shape, classes=data.num_classes,
                                model_name=f"teacher{k}", weights=path)
            if kind == "train":
                teacher.compile(optimizer=run.optimizer(setup.train_teacher_epochs, True),
                                loss=_teacher_loss(data.mixing),
                                metrics=[] if data.mixing else ["accuracy"])
        if kind in ("train", IMAGENET):
            histories.append(train_teacher_head(run, teacher, setup.train_teacher_epochs)
                             if kind == IMAGENET else
                             run.fit(teacher, data.teacher_train, setup.train_teacher_epochs,
                                     validate=not data.mixing))
            path = None
            if save_dir is not None:
                path = os.path.join(save_dir, f"seed{run.seed}", f"teacher{k}.weights.h5")
                save_model(teacher, path)
        files.append(path)
        errs.append(errors(teacher, data.eval))
        models.append(teacher)
    with run.strategy.scope():
        teacher = ensemble_teacher(models, mode=setup.ensemble, temperature=setup.temperature)
    return Teachers(teacher, errs, histories, files)


def logits_cache_key(data: ExperimentData, setup: Setup, files: Sequence[str | None]) -> str:
    """What the cached logits depend on: the transfer set, the ensemble and the teachers' files
    (by hash; a teacher that was not saved makes a key no later run matches)."""
    from kerasnets.weights import sha256sum

    parts = [*data.source, str(data.input_shape), data.preprocessing, data.recipe,
             setup.ensemble, str(setup.temperature)]
    parts += [sha256sum(p) if p and os.path.exists(p) else f"unsaved-{time.time()}"
              for p in files]
    return "|".join(parts)


def omit_class_run(run: Run, teacher, setup: Setup, fresh: Callable[[], keras.Model],
                   logits=None) -> dict:
    """Hinton et al. sec. 3: distil on the transfer set without class `setup.omit_class`, then
    raise that class's bias by the shift that is best on the training split."""
    data, k = run.data, setup.omit_class
    if not 0 <= k < data.num_classes:
        raise ValueError(f"omit_class={k} is not a class of {data.name} "
                         f"(0..{data.num_classes - 1}).")
    blind = fresh()
    with run.strategy.scope():
        kd = distiller(teacher, blind, temperature=setup.temperature, alpha=setup.alpha)
        kd.compile(optimizer=run.optimizer(setup.epochs, run.augmented))
    run.fit(kd, run.transfer(logits, exclude=(k,)), setup.epochs)
    test_logits, test_labels = predict(blind, data.eval)
    train_logits, train_labels = predict(blind, data.examples.batch(256))
    shift = best_bias_shift(train_logits, train_labels, k)
    shift_class_bias(blind, k, shift)
    after, _ = predict(blind, data.eval)
    is_k = test_labels == k
    return {
        "class": k, "class_name": data.class_names[k], "test_examples": int(is_k.sum()),
        "class_accuracy_before": float((test_logits.argmax(-1)[is_k] == k).mean()),
        "bias_shift": shift,
        "class_accuracy_after": float((after.argmax(-1)[is_k] == k).mean()),
        "errors_before": int((test_logits.argmax(-1) != test_labels).sum()),
        "errors_after": int((after.argmax(-1) != test_labels).sum())}


def student_runs(run: Run, teacher, setup: Setup, *, logits_path: str | None = None,
                 logits_key: str = "") -> dict:
    """Student alone (`setup.compare`) and distilled (hints first when `setup.hints`), and
    without a class (`setup.omit_class`), all from the same initial weights. On a non-augmented
    transfer set with `setup.cache_teacher`, the teacher's logits are computed once (stored at
    `logits_path` under `logits_key`, and read from there when the key matches)."""
    data = run.data
    keras.utils.set_random_seed(run.seed)
    with run.strategy.scope():
        init = build(setup.student, input_shape=data.input_shape, classes=data.num_classes,
                     model_name="student").get_weights()

    def fresh():
        with run.strategy.scope():
            student = build(setup.student, input_shape=data.input_shape,
                            classes=data.num_classes, model_name="student")
        student.set_weights(init)
        return student

    result = {}
    logits = None
    if setup.cache_teacher and not run.augmented:
        logits = compute_teacher_logits(teacher, data.examples, path=logits_path, key=logits_key)

    if setup.compare:
        alone = fresh()
        with run.strategy.scope():
            alone.compile(optimizer=run.optimizer(setup.epochs, run.augmented),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
        result["alone_history"] = run.fit(alone, run.transfer(), setup.epochs)
        result["alone_errors"] = errors(alone, data.eval)

    student = fresh()
    hint_history = {}
    if setup.hints:
        with run.strategy.scope():
            stage1 = hint_distiller(teacher, student, setup.hints)
            stage1.compile(optimizer=run.optimizer(setup.hint_epochs, run.augmented))
        # Hints need the teacher's inner layers: the live teacher, on the same batches.
        hint_history = run.fit(stage1, run.transfer(), setup.hint_epochs)
    with run.strategy.scope():
        kd = distiller(teacher, student, temperature=setup.temperature, alpha=setup.alpha)
        kd.compile(optimizer=run.optimizer(setup.epochs, run.augmented), metrics=["accuracy"])
    result["distilled_history"] = run.fit(kd, run.transfer(logits), setup.epochs)
    result["hint_history"] = hint_history
    result["distilled_errors"] = errors(student, data.eval)
    result["student"] = student
    if setup.omit_class is not None:
        result["omit"] = omit_class_run(run, teacher, setup, fresh, logits)
    return result


@dataclasses.dataclass
class SeedResult:
    row: dict          # seed, test_examples, teacher_errors, teachers_errors, alone_errors,
                       # distilled_errors, omit: one line of metrics.json's "seeds"
    result: dict       # student_runs' (histories, the distilled student)
    teachers: Teachers


def run_seed(data: ExperimentData, setup: Setup, settings: dict[str, Any], *, batch_size: int,
             seed: int, model_dir: str, strategy=None, save: bool = True,
             verbose: int = 0) -> SeedResult:
    """One seed of the experiment: teachers (trained ones saved under `model_dir` when `save`),
    then `student_runs`, the teacher's logits cached in
    `model_dir/teacher_logits_seed{seed}.npz`."""
    run = Run(data, settings, batch_size=batch_size, seed=seed, strategy=strategy,
              verbose=verbose)
    teachers = teachers_for(run, setup, save_dir=model_dir if save else None)
    key = path = None
    if setup.cache_teacher and not run.augmented:
        key = logits_cache_key(data, setup, teachers.files)
        path = os.path.join(model_dir, f"teacher_logits_seed{seed}.npz")
    result = student_runs(run, teachers.model, setup, logits_path=path, logits_key=key or "")
    n_test = int(sum(int(tf.shape(y)[0]) for _, y in data.eval))
    row = {"seed": seed, "test_examples": n_test,
           "teacher_errors": errors(teachers.model, data.eval), "teachers_errors": teachers.errors,
           "alone_errors": result.get("alone_errors"),
           "distilled_errors": result["distilled_errors"], "omit": result.get("omit")}
    return SeedResult(row, result, teachers)


# ----------------------------------------------------------------------------- results

def teacher_label(setup: Setup) -> str:
    """`mlp_1200 x2 (probabilities ensemble)`, with how an ImageNet teacher came to be."""
    n = len(setup.sources)
    label = "+".join(dict.fromkeys(setup.teachers)) + (
        f" x{n} ({setup.ensemble} ensemble)" if n > 1 else "")
    if any(kind == IMAGENET for kind, _ in setup.sources):
        label += (f" (ImageNet backbone frozen, new head trained "
                  f"{setup.train_teacher_epochs} epochs)")
    return label


def teacher_how(setup: Setup, recipe: str = "none") -> str:
    """How the teachers came to be, for the table's header."""
    kinds = {kind for kind, _ in setup.sources}
    trained = f"{setup.train_teacher_epochs} epochs (recipe {recipe})"
    parts = []
    if "train" in kinds:
        parts.append(f"trained {trained}")
    if IMAGENET in kinds:
        parts.append(f"its ImageNet backbone frozen and a new head trained {trained}")
    if "file" in kinds:
        parts.append("loaded from --teacher_weights")
    return "; ".join(parts)


def comparison_rows(per_seed: Sequence[dict], *, teacher_label: str, teacher_params: int,
                    student: str, student_params: int, temperature: float, alpha: float,
                    hint_layers: Sequence[str] = ()) -> tuple[list[dict], list[str]]:
    """The comparison table (rows, columns) from the per-seed rows of `run_seed`."""
    n_test = per_seed[0]["test_examples"]
    rows = []
    for label, key, n_params in (
            (f"teacher: {teacher_label}", "teacher_errors", teacher_params),
            (f"student alone: {student}", "alone_errors", student_params),
            (f"student distilled: {student} (T={temperature:g}, alpha={alpha:g}"
             + (f", hints {','.join(hint_layers)}" if hint_layers else "") + ")",
             "distilled_errors", student_params)):
        values = [r[key] for r in per_seed if r[key] is not None]
        if not values:
            continue
        m, s = mean_std(values)
        rows.append({"model": label, "params": n_params, "test_errors": f"{m:.1f} ± {s:.1f}",
                     "test_error_pct": f"{100 * m / n_test:.2f} ± {100 * s / n_test:.2f}",
                     "per_seed": " ".join(str(v) for v in values)})
    if per_seed[0]["omit"]:
        omit = [r["omit"] for r in per_seed]
        name = omit[0]["class_name"]
        for label, when in ((f"distilled, transfer set without class {name}", "before"),
                            ("same, its bias raised (shift chosen on train: "
                             + ", ".join(f"{o['bias_shift']:g}" for o in omit) + ")", "after")):
            errs = [o[f"errors_{when}"] for o in omit]
            accuracy = [100 * o[f"class_accuracy_{when}"] for o in omit]
            m, s = mean_std(errs)
            am, sd = mean_std(accuracy)
            rows.append({"model": label, "params": student_params,
                         "test_errors": f"{m:.1f} ± {s:.1f}",
                         "test_error_pct": f"{100 * m / n_test:.2f} ± {100 * s / n_test:.2f}",
                         "per_seed": " ".join(map(str, errs)),
                         f"class_{name}_accuracy_pct": f"{am:.1f} ± {sd:.1f} ("
                         + " ".join(f"{a:.1f}" for a in accuracy) + ")"})
    columns = ["model", "params", "test_errors", "test_error_pct", "per_seed"]
    if per_seed[0]["omit"]:
        columns.append(f"class_{per_seed[0]['omit']['class_name']}_accuracy_pct")
    return rows, columns


def distilled_curves(result: dict, hint_epochs: int = 0) -> dict[str, list[float]]:
    """The distilled student's history over both stages: the hint stage's epochs, then KD's
    (its metrics padded with NaN over the hint epochs)."""
    history = {}
    for k, v in result.get("hint_history", {}).items():
        history.setdefault(k, []).extend(v)
    for k, v in result["distilled_history"].items():
        history.setdefault(k, [float("nan")] * hint_epochs)
        history[k].extend(v)
    return history


def with_softmax(student: keras.Model, name: str, *, input_shape, classes: int) -> keras.Model:
    """The trained logits `student` (registry model `name`) rebuilt with its softmax."""
    final = build(name, input_shape=input_shape, classes=classes, activation="softmax",
                  model_name=name)
    final.set_weights(student.get_weights())
    return final

