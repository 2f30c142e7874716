"""The job of `tools.train`: a registry model trained on prepared data (`pipelines.data.prepare`'s
`Data`: train / eval datasets, info, image size, channels, loss, metrics) under a strategy, with
the run directory of `training.run_callbacks` and the results `training.write_results` writes.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time

from kerasnets import training
from kerasnets.zoo import registry
from kerasnets.utils import save_model


@dataclasses.dataclass
class TrainResult:
    model: object
    final: dict            # the evaluation metrics after training
    results: dict | None   # metrics.json's content (None on a non-chief worker: it writes nothing)

    @property
    def accuracy(self) -> float | None:
        return self.final.get("accuracy", self.final.get("categorical_accuracy"))


def read_history(path) -> dict[str, list[float]]:
    """The whole run's history from `history.csv` (it spans resumed runs)."""
    if not os.path.exists(path):
        return {}
    history: dict[str, list[float]] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "epoch" and value not in ("", None):
                    history.setdefault(key, []).append(float(value))
    return history


def train(name: str, data, *, strategy, settings: dict, epochs: int, model_dir: str,
          weights: str | None = None, bn_momentum: float | None = None,
          steps_per_epoch: int | None = None, jit_compile="auto", precision: str = "",
          batch_size: int | None = None, chief: bool = True) -> TrainResult:
    """Build `name` for `data` inside `strategy`'s scope, train it `epochs` epochs with the
    optimiser and schedule of `settings` (`training.optimizer_from_settings`), evaluate it; on
    the chief, save `final.keras` and write metrics.json, history and curves to `model_dir`."""
    entry = registry.get_entry(name)
    with strategy.scope():
        model = registry.create_model(
            entry.name, classes=data.info.num_classes, weights=weights,
            input_shape=(data.image_size, data.image_size, data.channels))
        if bn_momentum:
            training.set_bn_momentum(model, bn_momentum)
        optimizer, schedule_callbacks = training.optimizer_from_settings(settings, epochs)
        model.compile(optimizer=optimizer, loss=data.loss, metrics=data.metrics)
    callbacks = schedule_callbacks + training.run_callbacks(model_dir, chief=chief)
    start = time.time()
    training.fit(model, data.train, epochs=epochs, validation_data=data.eval,
                 strategy=strategy, callbacks=callbacks, steps_per_epoch=steps_per_epoch,
                 jit_compile=jit_compile)
    final = training.evaluate(model, data.eval, strategy=strategy, verbose=0)
    if not chief:
        return TrainResult(model, final, None)
    save_model(model, os.path.join(model_dir, "final.keras"))
    history = read_history(os.path.join(model_dir, "history.csv"))
    results = {"model": entry.name, "dataset": data.info.name,
               "classes": data.info.num_classes, "image_size": data.image_size,
               "strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync,
               "precision": precision, "epochs": epochs, "batch_size": batch_size,
               "settings": settings, "seconds_this_run": round(time.time() - start, 1),
               "final": final,
               "best_val_accuracy": max(history.get("val_accuracy", [0.0]) or [0.0]),
               "chance_accuracy": 1.0 / data.info.num_classes}
    training.write_results(model_dir, results, history, title=f"{entry.name} on {data.info.name}")
    return TrainResult(model, final, results)
