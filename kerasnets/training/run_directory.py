"""A training run's directory: resume state (`backup/`), per-epoch weights (`checkpoints/`), the
best model, TensorBoard logs and `history.csv` (`run_callbacks`), then `metrics.json` and
`curves.png` (`write_results`); every file written beside its place and moved in."""

from __future__ import annotations

import math

import keras


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
