"""Grow a network with Net2Net while it trains, and train its final architecture from scratch
for comparison: the experiment of Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via
Knowledge Transfer" (arXiv:1511.05641, section 3), as library functions with plain arguments
(`python -m tools.net2net` parses flags, calls them and writes the table and plots).

- `check_schedule(model, steps)`: every growth step of a schedule applies (a dry run on the
  untrained model), so a bad step fails before any training.
- `grow(model, steps, train_data, eval_data, ...)`: trains through the schedule with a fresh
  optimiser after each growth step (its variables change; constant learning rate), checks each
  step's function preservation on a validation batch, saves every grown model and the final one
  to `model_dir`, then trains the final architecture from random initialisation for the same
  epochs. Returns one row per epoch (`COLUMNS`), the grown run's history and growth marks.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Sequence

import keras

from kerasnets import net2net, training
from kerasnets.utils import save_model

COLUMNS = ["epoch", "grown_params", "grown_accuracy", "grown_val_accuracy", "scratch_accuracy",
           "scratch_val_accuracy", "grown_val_loss", "scratch_val_loss", "then_grown",
           "max_abs_diff"]


@dataclasses.dataclass
class GrowResult:
    model: keras.Model                 # the grown, trained model (also model_dir/final.keras)
    rows: list[dict[str, Any]]         # per epoch (0: before training), keys of COLUMNS
    history: dict[str, list[float]]    # the grown run's epoch logs
    marks: dict[str, float]            # growth steps -> x position (epoch + 0.5) for plots
    epochs: int                        # train epochs of the schedule
    seconds: dict[str, float]          # "grown", "scratch" wall time
    final_path: str


def check_schedule(model, steps: Sequence[net2net.Step]) -> None:
    """Raise ValueError naming the model when a growth step of `steps` cannot apply to it (or
    the schedule has no training); nothing is trained or written."""
    if not sum(s.epochs for s in steps):
        raise ValueError("The schedule has no train:EPOCHS step.")
    try:
        check = model
        for step in steps:
            check = check if step.op == "train" else net2net.apply_step(check, step)
    except ValueError as e:
        raise ValueError(f"The schedule cannot be applied to {model.name}: {e}") from None


def _compile(model, loss, optimizer, lr, momentum, bn_momentum):
    """A fresh optimiser (the variables change with each growth step)."""
    if bn_momentum:
        training.set_bn_momentum(model, bn_momentum)
    model.compile(optimizer=training.make_optimizer(optimizer, lr, momentum=momentum),
                  loss=loss, metrics=["accuracy"])
    return model


def _train(model, train_data, eval_data, epochs, initial_epoch, steps_per_epoch, verbose):
    """Epoch logs of training `model` from `initial_epoch` to `epochs`."""
    history = training.fit(model, train_data, epochs=epochs, initial_epoch=initial_epoch,
                           validation_data=eval_data, steps_per_epoch=steps_per_epoch,
                           verbose=verbose)
    return [{k: float(v[i]) for k, v in history.history.items()}
            for i in range(len(history.history["loss"]))]


def _evaluate(model, eval_data):
    return {f"val_{k}": float(v)
            for k, v in training.evaluate(model, eval_data, verbose=0).items()}


def grow(model, steps: Sequence[net2net.Step], train_data, eval_data, *, loss, lr: float,
         model_dir: str, optimizer: str = "sgd", momentum: float = 0.9,
         bn_momentum: float = 0.9, steps_per_epoch: int | None = None, noise: float = 0.0,
         seed: int = 0, scratch: bool = True, check: bool = True,
         verbose: int = 2) -> GrowResult:
    """Train `model` through `steps` (`net2net.parse_schedule`), growing it where the schedule
    says, and (with `scratch`) its final architecture from random init for the same epochs.

    Every fit uses a fresh `optimizer` at the constant `lr` (BatchNorm momentum set to
    `bn_momentum`, 0 keeps the model's); growth step i is seeded `seed + i` with Net2WiderNet
    `noise`, checked on one batch of `eval_data` (largest output change; deeper's BatchNorm
    statistics come from it too) and saved as `model_dir/step{i}_{op}_{layer}.keras`; the
    trained result as `model_dir/final.keras`. The scratch network is seeded `seed + 1`.
    `check`: `check_schedule` first (False when the caller has). `verbose`: the fits'
    verbosity; growth steps and the scratch run are printed when > 0."""
    if check:
        check_schedule(model, steps)
    total_epochs = sum(s.epochs for s in steps)
    options = dict(loss=loss, optimizer=optimizer, lr=lr, momentum=momentum,
                   bn_momentum=bn_momentum)
    model = _compile(model, **options)
    rows = [{"epoch": 0, "grown_params": model.count_params(),
             **{f"grown_{k}": v for k, v in _evaluate(model, eval_data).items()}}]
    # One validation batch (the cache is full now): checks each growth step's function
    # preservation and gives deeper's BatchNorm statistics.
    probe = next(iter(eval_data.take(1)))[0]
    history, marks, epoch, start = {}, {}, 0, time.perf_counter()
    for i, step in enumerate(steps, start=1):
        if step.op == "train":
            for logs in _train(model, train_data, eval_data, epoch + step.epochs, epoch,
                               steps_per_epoch, verbose):
                epoch += 1
                for k, v in logs.items():
                    history.setdefault(k, []).append(v)
                rows.append({"epoch": epoch, "grown_params": model.count_params(),
                             **{f"grown_{k}": v for k, v in logs.items()}})
            continue
        before = model.count_params()
        grown = net2net.apply_step(model, step, noise=noise, seed=seed + i, data=probe)
        diff = net2net.max_output_difference(model, grown, probe)
        model = _compile(grown, **options)
        path = save_model(model, os.path.join(model_dir,
                                               f"step{i:02d}_{step.op}_{step.layer}.keras"))
        note = f"{step} ({before:,} -> {model.count_params():,})"
        row = rows[-1]
        row["then_grown"] = "; ".join(filter(None, [row.get("then_grown"), note]))
        row["max_abs_diff"] = max(row.get("max_abs_diff", 0.0), diff)
        marks[epoch + 0.5] = " + ".join(filter(None, [marks.get(epoch + 0.5), str(step)]))
        if verbose:
            print(f"{note}: max |output change| {diff:.2e} on a validation batch; saved {path}")
    seconds = {"grown": time.perf_counter() - start, "scratch": 0.0}
    final_path = save_model(model, os.path.join(model_dir, "final.keras"))

    if scratch:
        keras.utils.set_random_seed(seed + 1)
        fresh = _compile(keras.models.clone_model(model), **options)  # fresh initialisers
        if verbose:
            print(f"From scratch: the final architecture ({fresh.count_params():,} "
                  f"parameters), {total_epochs} epochs.")
        rows[0].update({f"scratch_{k}": v for k, v in _evaluate(fresh, eval_data).items()})
        start = time.perf_counter()
        for row, logs in zip(rows[1:], _train(fresh, train_data, eval_data, total_epochs, 0,
                                              steps_per_epoch, verbose)):
            row.update({f"scratch_{k}": v for k, v in logs.items()})
        seconds["scratch"] = time.perf_counter() - start
    return GrowResult(model, rows, history, {label: at for at, label in marks.items()},
                      total_epochs, seconds, final_path)
