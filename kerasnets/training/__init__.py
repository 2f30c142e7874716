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

The package, by concern (every name is re-exported here): `loop` (`fit`, `evaluate`,
`set_bn_momentum`), `settings` (presets, optimisers, schedules) and `run_directory` (a run's
callbacks and result files).
"""

from kerasnets.training.loop import evaluate, fit, set_bn_momentum  # noqa: F401
from kerasnets.training.run_directory import (AtomicCheckpoint, ResumeState, run_callbacks,
                                              write_results)
from kerasnets.training.settings import (OPTIMIZERS, PRESETS, SCHEDULES, SETTINGS_FROM_PRESET,
                                         PhaseOptimizers, PlateauLR, Preset, Schedule, describe,
                                         make_optimizer, make_schedule, optimizer_from_settings,
                                         resolve_settings, scaled_lr, steps_for)

__all__ = [
    "OPTIMIZERS", "PRESETS", "SCHEDULES", "SETTINGS_FROM_PRESET", "AtomicCheckpoint",
    "PhaseOptimizers", "PlateauLR", "Preset", "ResumeState", "Schedule", "describe", "evaluate",
    "fit", "make_optimizer", "make_schedule", "optimizer_from_settings", "resolve_settings",
    "run_callbacks", "scaled_lr", "set_bn_momentum", "steps_for", "write_results",
]
