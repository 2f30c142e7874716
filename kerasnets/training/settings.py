"""The papers' training presets, and a run's optimiser and learning-rate schedule:
`resolve_settings` merges a preset with the settings a user gave explicitly, `make_schedule`
returns a `Schedule` (the learning rate and the callbacks it acts through),
`optimizer_from_settings` / `PhaseOptimizers` make each run's (or phase's) optimiser."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import keras


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
