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

This module runs one seed (`run_seed`); what it is set up with is `experiment_setup`, the
table over seeds `experiment_results`, and both are re-exported here.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasnets.experiments.distillation.results import (comparison_rows, distilled_curves,
                                                       mean_std, params_without_bn_statistics,
                                                       teacher_how, teacher_label, with_softmax)
from kerasnets.experiments.distillation.setup import (IMAGENET, NATIVE_SIZE_FAMILIES,
                                                     ExperimentData, Setup, build,
                                                     check_setup, default_input_size,
                                                     parse_hints, student_input_shape,
                                                     teacher_name, teacher_sources)
from kerasnets.distillation.losses import distiller
from kerasnets.distillation.teachers import (ensemble_teacher, file_teacher, hint_distiller,
                                             pretrained_teacher)
from kerasnets.distillation.transfer_data import (best_bias_shift, compute_teacher_logits,
                                                  shift_class_bias, transfer_set)

__all__ = [
    "IMAGENET", "NATIVE_SIZE_FAMILIES", "ExperimentData", "Run", "SeedResult", "Setup",
    "Teachers", "build", "check_setup", "comparison_rows", "default_input_size",
    "distilled_curves", "errors", "logits_cache_key", "mean_std", "omit_class_run",
    "params_without_bn_statistics", "parse_hints", "predict", "run_seed", "student_input_shape",
    "student_runs", "teacher_how", "teacher_label", "teacher_name", "teacher_sources",
    "teachers_for", "train_teacher_head", "with_softmax",
]


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
