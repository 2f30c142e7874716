"""One training loop for every `tf.distribute` strategy, and the papers' training presets.

`fit` drives `model.train_step` inside `strategy.run` over a distributed dataset, with Keras'
callbacks, metrics and progress bar; `evaluate` does the same with `model.test_step`. Keras'
own `Model.fit` fails under `MultiWorkerMirroredStrategy` in Keras 3.15 (keras-team/keras#20585,
"Attempt to convert a value (PerReplica:...)"): the failure is in how `fit` distributes its
data, not in the step, so this loop distributes the data itself and reuses the step. Because it
calls `train_step`, any `Model` subclass that overrides `compute_loss` (e.g.
`keras.distillation.Distiller`) trains through it unchanged, and `keras.callbacks.BackupAndRestore`
resumes a killed run where it stopped.

Presets (`PRESETS`) collect each paper's optimiser, learning-rate schedule, weight decay, label
smoothing and augmentation recipe; `resolve_settings` merges one with the settings a user gave
explicitly (they win), and `optimizer_from_settings` / `PhaseOptimizers` turn the result into
each run's (or phase's) optimiser and the callbacks its schedule needs.

    strategy = pipelines.strategy.make_strategy("mirrored")
    with strategy.scope():
        model = kerasnets.create_model("resnet20_cifar", classes=10)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    history = kerasnets.training.fit(model, train_ds, epochs=3, validation_data=val_ds,
                                     strategy=strategy)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import keras
import tensorflow as tf

from kerasnets.steps import distribute, step_function, symbolic_build


# ----------------------------------------------------------------------------- the loop

def _check_strategy(model, strategy):
    if strategy is None:
        strategy = model.distribute_strategy
    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        raise NotImplementedError(
            "kerasnets.training.fit does not drive ParameterServerStrategy (it needs a "
            "ClusterCoordinator schedule); use mirrored or multi_worker.")
    if model.optimizer is None and not getattr(model, "compiled", False):
        raise ValueError("Compile the model (under strategy.scope()) before training it.")
    return strategy


def fit(model, train_data, *, epochs: int, validation_data=None, strategy=None,
        callbacks=None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
        validation_steps: int | None = None, verbose: int = 1, jit_compile="auto"):
    """Train `model` (compiled under `strategy.scope()`) like `Model.fit`, under any strategy.

    `train_data` is a batched `tf.data.Dataset` of `(x, y)` with the *global* batch size, or a
    function `tf.distribute.InputContext -> Dataset` (per-replica batches, sharded by the
    function: `distribute_datasets_from_function`). `steps_per_epoch` caps an epoch (required
    when the dataset's cardinality is unknown and every worker must agree on it).
    `jit_compile` (True, False or "auto") XLA-compiles the step; "auto" follows the choice
    `kerasnets.precision.apply` made (XLA on GPU, off on CPU without one).
    Returns the `keras.callbacks.History`.
    """
    from kerasnets.precision import resolve_jit

    strategy = _check_strategy(model, strategy)
    jit_compile = resolve_jit(jit_compile, strategy)
    train_dist, spec, steps = distribute(strategy, train_data)
    steps = steps_per_epoch or steps
    symbolic_build(model, spec, strategy)
    train_fn = step_function(model, strategy, model.train_step, jit_compile)
    if not isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose,
            epochs=epochs, steps=steps, model=model)
    model.stop_training = False
    model._initial_epoch = None
    callbacks.on_train_begin()
    initial_epoch = model._initial_epoch or initial_epoch  # set by BackupAndRestore
    logs, epoch_logs = {}, None
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step, batch in enumerate(train_dist):
            if steps_per_epoch is not None and step >= steps_per_epoch:
                break
            callbacks.on_train_batch_begin(step)
            logs = train_fn(batch)
            callbacks.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = dict(model._get_metrics_result_or_logs(logs))
        if validation_data is not None:
            val_logs = evaluate(model, validation_data, strategy=strategy,
                                steps=validation_steps, verbose=0, callbacks=callbacks)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    if isinstance(model.optimizer, keras.optimizers.Optimizer) and epochs > 0:
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callbacks.on_train_end(logs=epoch_logs)
    return model.history


def evaluate(model, data, *, strategy=None, steps: int | None = None, verbose: int = 1,
             callbacks=None) -> dict[str, float]:
    """Loss and compiled metrics of `model` on `data` (like `Model.evaluate(return_dict=True)`),
    under any strategy."""
    strategy = _check_strategy(model, strategy)
    dist, spec, n = distribute(strategy, data)
    symbolic_build(model, spec, strategy)
    test_fn = getattr(model, "_kerasnets_test_fn", None)
    if test_fn is None or test_fn[0] is not strategy:
        test_fn = (strategy, step_function(model, strategy, model.test_step, False))
        model._kerasnets_test_fn = test_fn
    progbar = keras.utils.Progbar(steps or n, verbose=verbose, unit_name="step")
    own_callbacks = callbacks is None
    if own_callbacks:
        callbacks = keras.callbacks.CallbackList([], model=model)
    model.reset_metrics()
    callbacks.on_test_begin()
    logs = {}
    for step, batch in enumerate(dist):
        if steps is not None and step >= steps:
            break
        callbacks.on_test_batch_begin(step)
        logs = test_fn[1](batch)
        callbacks.on_test_batch_end(step, logs)
        progbar.update(step + 1, [(k, float(v)) for k, v in logs.items()])
    from keras.src.utils.python_utils import pythonify_logs

    logs = pythonify_logs(model._get_metrics_result_or_logs(logs))
    callbacks.on_test_end(logs)
    return logs


def set_bn_momentum(model, momentum: float) -> int:
    """Set the moving-statistics momentum of every BatchNormalization layer (nested models
    included); returns how many were changed. Keras' default 0.99 needs several hundred steps to
    forget the initial statistics (mean 0, variance 1), so short runs evaluate badly with it;
    0.9 is PyTorch's default (its `momentum=0.1`)."""
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            count += 1
    return count


# ----------------------------------------------------------------------------- presets

@dataclasses.dataclass(frozen=True)
class Preset:
    """A paper's training recipe. `lr` is for a global batch of `lr_batch` (scaled linearly)."""

    optimizer: str
    lr: float
    schedule: str                       # "step" | "cosine" | "plateau" | "exponential" | "constant"
    weight_decay: float
    recipe: str                         # pipelines.transforms recipe name
    momentum: float = 0.9
    lr_batch: int = 256
    label_smoothing: float = 0.0
    step_epochs: tuple[float, ...] = (1 / 3, 2 / 3)   # step schedule: fractions of the run
    decay_rate: float = 0.1             # factor at each step / exponential decay per decay_epochs
    decay_epochs: float = 1.0
    warmup_epochs: float = 0.0
    randaugment: bool = False
    source: str = ""


PRESETS: dict[str, Preset] = {
    "alexnet": Preset("sgd", 0.01, "plateau", 5e-4, "alexnet", lr_batch=128,
                      source="Krizhevsky et al. 2012, sec. 5: SGD momentum 0.9, batch 128, "
                             "wd 5e-4, lr 0.01 divided by 10 when validation error stalls"),
    "vgg": Preset("sgd", 0.01, "plateau", 5e-4, "vgg",
                  source="Simonyan & Zisserman 2015, sec. 3.1: batch 256, momentum 0.9, "
                         "wd 5e-4, dropout 0.5, lr 0.01 divided by 10 on plateau"),
    "resnet": Preset("sgd", 0.1, "step", 1e-4, "inception",
                     source="He et al. 2016, sec. 3.4 (+ Goyal et al. 2017 linear scaling): "
                            "SGD 0.9, lr 0.1 per 256, wd 1e-4, /10 at 1/3 and 2/3 of the run"),
    "mobilenet": Preset("rmsprop", 0.045, "exponential", 4e-5, "inception", momentum=0.9,
                        lr_batch=96, decay_rate=0.98,
                        source="Sandler et al. 2018, sec. 6.1: RMSProp decay 0.9 momentum 0.9, "
                               "lr 0.045 decayed 0.98 per epoch, wd 4e-5, batch 96"),
    "efficientnet": Preset("rmsprop", 0.016, "exponential", 1e-5, "inception", momentum=0.9,
                           decay_rate=0.97, decay_epochs=2.4, label_smoothing=0.1,
                           randaugment=True,
                           source="Tan & Le 2019, sec. 5.2: RMSProp 0.9/0.9, lr 0.256 per 4096 "
                                  "(0.016 per 256) decayed 0.97 every 2.4 epochs, wd 1e-5, "
                                  "label smoothing 0.1, AutoAugment (RandAugment here)"),
}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "nadam")
SCHEDULES = ("constant", "step", "cosine", "plateau", "exponential")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule as a training run needs it: the optimiser's `learning_rate` (a
    float or a per-step `LearningRateSchedule`) and the callbacks the schedule acts through (a
    `PlateauLR` for "plateau"), to pass to the fit that trains with that optimiser."""

    learning_rate: Any
    callbacks: tuple = ()


class PlateauLR(keras.callbacks.ReduceLROnPlateau):
    """Keras' `ReduceLROnPlateau` (every sub-optimiser of a `MultiOptimizer` too) that falls
    back from `val_loss` to the training `loss` in runs without validation data, instead of
    warning every epoch and never reducing."""

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs and self.monitor.startswith("val_") \
                and self.monitor[4:] in logs:
            self.monitor = self.monitor[4:]
            self.monitor_op = None   # re-derived from the new name
        super().on_epoch_end(epoch, logs)


def make_schedule(schedule: str, lr: float, *, epochs: int, steps_per_epoch: int,
                  step_epochs=(1 / 3, 2 / 3), decay_rate: float = 0.1,
                  decay_epochs: float = 1.0, warmup_epochs: float = 0.0,
                  plateau_patience: int = 2, verbose: int = 1) -> Schedule:
    """The learning rate of `schedule` and the callbacks it needs, made together.

    "constant", "step", "cosine" and "exponential" are per-step `LearningRateSchedule`s (or the
    float) with no callbacks; "plateau" starts at `lr` and multiplies it by `decay_rate` each
    time the validation loss (the training loss without validation data) has not improved for
    `plateau_patience` epochs (AlexNet's and VGG's "divided by 10 when the validation error
    stopped improving"). The callbacks are new objects on every call: give them to the fit of
    the optimiser made from this `learning_rate`."""
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}.")
    total = max(1, epochs * steps_per_epoch)
    warmup = int(warmup_epochs * steps_per_epoch)
    if schedule == "constant":
        return Schedule(lr)
    if schedule == "plateau":
        if not 0 < decay_rate < 1:
            raise ValueError(f"The plateau schedule multiplies the learning rate by decay_rate, "
                             f"which must be in (0, 1); got {decay_rate}.")
        return Schedule(lr, (PlateauLR(monitor="val_loss", factor=decay_rate,
                                       patience=plateau_patience, verbose=verbose),))
    if schedule == "step":
        bounds = sorted({max(1, int(round(f * total))) for f in step_epochs if 0 < f < 1})
        return Schedule(keras.optimizers.schedules.PiecewiseConstantDecay(
            bounds, [lr * decay_rate ** i for i in range(len(bounds) + 1)]))
    if schedule == "cosine":
        return Schedule(keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else lr, max(1, total - warmup), warmup_target=lr if warmup else None,
            warmup_steps=warmup))
    return Schedule(keras.optimizers.schedules.ExponentialDecay(
        lr, max(1, int(decay_epochs * steps_per_epoch)), decay_rate, staircase=True))


def make_optimizer(name: str, learning_rate, *, weight_decay: float = 0.0, momentum: float = 0.9):
    """A Keras optimiser by name; `weight_decay` is Keras' decoupled decay (for plain SGD the
    same update as an L2 penalty of weight_decay / 2)."""
    wd = weight_decay or None
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=momentum, weight_decay=wd)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay or 0.004)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, rho=0.9, momentum=momentum, epsilon=1e-3,
                                        weight_decay=wd)
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate, weight_decay=wd)
    raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}.")


def scaled_lr(preset: Preset, global_batch: int) -> float:
    """The preset's learning rate scaled linearly to `global_batch` (Goyal et al. 2017)."""
    return preset.lr * global_batch / preset.lr_batch


def describe(preset_name: str, values: dict[str, Any]) -> str:
    """One line a tool prints when a preset sets its flags."""
    body = ", ".join(f"{k}={v}" for k, v in values.items())
    return f"preset {preset_name}: {body} ({PRESETS[preset_name].source})"


SETTINGS_FROM_PRESET = ("optimizer", "lr", "schedule", "weight_decay", "label_smoothing",
                        "recipe", "momentum", "randaugment")


def resolve_settings(values: dict[str, Any], *, preset: str | None = None,
                     given: Sequence[str] = (), batch_size: int = 256) -> dict[str, Any]:
    """A run's optimiser / schedule / recipe settings: `values` (optimizer, lr (None: a
    default), schedule, weight_decay, label_smoothing, recipe (None: "none"), momentum,
    randaugment) merged with `preset`'s, where the names in `given` (set explicitly by the
    user) win over the preset and the preset's lr is scaled to `batch_size`. The preset also
    fixes step_epochs, decay_rate and decay_epochs. Without a preset or lr, lr is 0.05 for sgd
    and 1e-3 otherwise. Tools print the result and store it in metrics.json."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    s = {"optimizer": values["optimizer"], "schedule": values["schedule"],
         "weight_decay": values["weight_decay"], "label_smoothing": values["label_smoothing"],
         "recipe": values.get("recipe") or "none", "momentum": values["momentum"],
         "randaugment": values["randaugment"], "step_epochs": (1 / 3, 2 / 3), "decay_rate": 0.1,
         "decay_epochs": 1.0}
    if preset:
        p = PRESETS[preset]
        from_preset = {"optimizer": p.optimizer, "schedule": p.schedule,
                       "weight_decay": p.weight_decay, "label_smoothing": p.label_smoothing,
                       "recipe": p.recipe, "momentum": p.momentum, "randaugment": p.randaugment,
                       "lr": scaled_lr(p, batch_size)}
        s.update({k: v for k, v in from_preset.items() if k not in given})
        s.update(step_epochs=p.step_epochs, decay_rate=p.decay_rate, decay_epochs=p.decay_epochs)
    if values.get("lr") is not None:
        s["lr"] = values["lr"]
    s.setdefault("lr", 0.05 if s["optimizer"] == "sgd" else 1e-3)
    return s


def optimizer_from_settings(settings: dict[str, Any], epochs: int):
    """`(optimizer, callbacks)` of one training run from `resolve_settings`' dict plus its
    `steps_per_epoch`: the optimiser over `make_schedule`'s learning rate and the callbacks that
    schedule acts through ("plateau": a fresh `PlateauLR`). Pass both to the same fit."""
    schedule = make_schedule(settings["schedule"], settings["lr"], epochs=epochs,
                             steps_per_epoch=settings["steps_per_epoch"],
                             step_epochs=settings["step_epochs"],
                             decay_rate=settings["decay_rate"],
                             decay_epochs=settings["decay_epochs"])
    optimizer = make_optimizer(settings["optimizer"], schedule.learning_rate,
                               weight_decay=settings["weight_decay"],
                               momentum=settings["momentum"])
    return optimizer, list(schedule.callbacks)


class PhaseOptimizers:
    """`make_optimizer(lr, epochs)` for `kerasnets.transfer.fine_tune`, which makes each
    phase's optimiser just before that phase's fit, plus `callbacks()`: the callbacks the
    schedule of the optimiser made last needs, handed out once (a discriminative optimiser makes
    several optimisers per phase; one PlateauLR adjusts all of them)."""

    def __init__(self, settings: dict[str, Any], steps_per_epoch: int):
        self.settings, self.steps_per_epoch, self._pending = settings, steps_per_epoch, []

    def __call__(self, lr: float, epochs: int, steps_per_epoch: int | None = None):
        optimizer, self._pending = optimizer_from_settings(
            dict(self.settings, lr=lr, steps_per_epoch=steps_per_epoch or self.steps_per_epoch),
            epochs)
        return optimizer

    def callbacks(self) -> list:
        pending, self._pending = self._pending, []
        return pending


def steps_for(num_examples: int | None, batch_size: int, drop_remainder: bool) -> int | None:
    if not num_examples:
        return None
    return num_examples // batch_size if drop_remainder else math.ceil(num_examples / batch_size)




# ----------------------------------------------------------------------------- run artefacts

class AtomicCheckpoint(keras.callbacks.Callback):
    """Every epoch, the weights to `directory/epoch_{NNN}.weights.h5`, and the best model so far
    (by `monitor`) to `directory/../best.keras`; each file is written beside its place and moved
    into it, so a kill mid-write never leaves a truncated checkpoint."""

    def __init__(self, directory, *, best_path=None, monitor="val_accuracy", mode="max",
                 keep: int = 3):
        super().__init__()
        self.directory, self.best_path, self.monitor, self.keep = directory, best_path, monitor, keep
        self.sign = 1.0 if mode == "max" else -1.0
        self.best = -math.inf

    def _atomic(self, path, save):
        from kerasnets.utils import atomic_file

        with atomic_file(path) as tmp:
            save(tmp)

    def on_epoch_end(self, epoch, logs=None):
        import glob
        import os

        path = os.path.join(self.directory, f"epoch_{epoch + 1:03d}.weights.h5")
        self._atomic(path, self.model.save_weights)
        for old in sorted(glob.glob(os.path.join(self.directory, "epoch_*.weights.h5")))[:-self.keep]:
            os.remove(old)
        value = (logs or {}).get(self.monitor)
        if self.best_path and value is not None and self.sign * value > self.best:
            self.best = self.sign * value
            self._atomic(self.best_path, self.model.save)


class ResumeState(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore` made safe against a kill at any moment.

    - The epoch's weights and its metadata are each written to a temporary file beside their
      place and moved in (Keras writes them in place: a kill mid-write left a half-written .h5
      that the next run could not open), weights first, so the metadata never names an epoch
      whose weights are not there.
    - `run_callbacks` lists it after the checkpoint and the history logger, so the resume state
      never runs ahead of what they wrote; a kill between them makes the next run redo that
      epoch, and on resume the rows of epochs to be redone are dropped from `history_path`
      (in place: the logger appends to the same file), so the history spans the runs once.
    """

    def __init__(self, backup_dir, *, history_path: str | None = None):
        super().__init__(backup_dir)
        self.history_path = history_path

    def _save_model(self):
        import json

        from kerasnets.utils import atomic_write_text, save_model

        save_model(self.model, self._weights_path)
        atomic_write_text(self._training_metadata_path, json.dumps(
            {"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._trim_history(self.model._initial_epoch or 0)

    def _trim_history(self, first_epoch: int) -> None:
        import csv
        import os

        if not self.history_path or not os.path.exists(self.history_path):
            return
        with open(self.history_path, "r+", newline="") as f:
            rows = list(csv.reader(f))
            if not rows or "epoch" not in rows[0]:
                return
            column = rows[0].index("epoch")
            keep = [rows[0]] + [r for r in rows[1:] if r and int(r[column]) < first_epoch]
            if len(keep) == len(rows):
                return
            f.seek(0)
            csv.writer(f, lineterminator="\n").writerows(keep)
            f.truncate()


def run_callbacks(model_dir, *, monitor: str = "val_accuracy", chief: bool = True,
                  tensorboard: bool = True) -> list:
    """The callbacks of a training run in `model_dir`: resume state (`backup/`, Keras'
    `BackupAndRestore`), per-epoch weights (`checkpoints/`), the best model (`best.keras`),
    TensorBoard logs (`logs/`) and `history.csv`. Non-chief workers of a cluster keep their
    backup in a private directory and write nothing else."""
    import os
    import tempfile

    if not chief:
        return [ResumeState(tempfile.mkdtemp(prefix="kerasnets-worker-"))]
    os.makedirs(model_dir, exist_ok=True)
    history = os.path.join(model_dir, "history.csv")
    callbacks = [
        AtomicCheckpoint(os.path.join(model_dir, "checkpoints"),
                         best_path=os.path.join(model_dir, "best.keras"), monitor=monitor),
        keras.callbacks.CSVLogger(history, append=True),
        ResumeState(os.path.join(model_dir, "backup"), history_path=history),  # last: see it
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(model_dir, "logs"),
                                                     write_graph=False))
    return callbacks


def write_results(model_dir, results: dict, history: dict | None = None, *,
                  title: str = "", marks: dict | None = None) -> dict:
    """`metrics.json` (results + the history) and `curves.png`, written atomically."""
    import json
    import os

    from kerasnets.plots import plot_history
    from kerasnets.utils import atomic_write_text

    payload = dict(results)
    if history:
        payload["history"] = {k: [float(v) for v in vs] for k, vs in history.items()}
        payload["curves"] = plot_history(history, os.path.join(model_dir, "curves.png"),
                                         title=title, marks=marks)
    atomic_write_text(os.path.join(model_dir, "metrics.json"),
                      json.dumps(payload, indent=2, default=str) + "\n")
    return payload
