"""The transfer experiments built on `kerasnets.transfer`, as functions with plain arguments
(the tools only parse flags, prepare the data and print or write what these return).

- `yosinski(...)`: the experiment of Yosinski, Clune, Bengio & Lipson, "How transferable are
  features in deep neural networks?" (NeurIPS 2014, arXiv:1411.1792): base networks on tasks
  A and B (and P, a pre-trained backbone with a head trained on A), then for every n and kind
  (BnB, BnB+, AnB, AnB+, PnB, PnB+) a network whose first n stages are copied from a base
  network, frozen or fine-tuned, trained on B. Resumable: every finished network is recorded in
  a JSON state file (and every base network's weights beside it), so a killed run started again
  with the same configuration goes on with the next network (`python -m tools.transfer`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Sequence

import keras

from kerasnets import training, transfer


@dataclasses.dataclass(frozen=True)
class Task:
    """One classification task: batched `(images, labels)` train and eval datasets, the number
    of classes, the loss and metrics that fit its labels, and the steps of one epoch when
    known (`pipelines.data.Data` has all of them)."""

    train: Any
    eval: Any
    classes: int
    loss: Any = "sparse_categorical_crossentropy"
    metrics: Sequence[Any] = ("accuracy",)
    steps_per_epoch: int | None = None


@dataclasses.dataclass
class YosinskiResult:
    runs: dict[str, dict]          # job -> {"accuracy", "loss", "seconds"}, base networks too
    jobs: list[str]                # transfer.experiment_jobs(stages, kinds)
    stages: list[int]
    kinds: list[str]               # the table's columns, in the table's order


def split_classes(num_classes: int, split_a: Sequence[int] | None = None,
                  split_b: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
    """Classes of tasks A and B: as given, else the first and the second half; they must not
    overlap."""
    half = num_classes // 2
    a = [int(c) for c in split_a] if split_a else list(range(half))
    b = [int(c) for c in split_b] if split_b else list(range(half, num_classes))
    if set(a) & set(b):
        raise ValueError(f"split A {a} and split B {b} overlap.")
    return a, b


def table_kinds(kinds: Sequence[str] | None = None, *, pretrained: bool = False) -> list[str]:
    """The kinds of the table in its order: `kinds` (default: Yosinski's four, plus PnB and PnB+
    with a pre-trained network). PnB / PnB+ without one raise."""
    kinds = list(kinds or transfer.YOSINSKI_KINDS
                 + (transfer.PRETRAINED_KINDS if pretrained else ()))
    if any(k in transfer.PRETRAINED_KINDS for k in kinds) and not pretrained:
        raise ValueError(f"kinds {','.join(kinds)}: PnB / PnB+ copy from a pre-trained "
                         f"network; give --weights imagenet or a weights file (`pretrained`).")
    transfer.experiment_jobs([1], kinds)   # unknown kinds raise
    return [k for k in transfer.YOSINSKI_KINDS + transfer.PRETRAINED_KINDS if k in kinds]


def stages_of(name: str, input_shape, stages: Sequence[int] | None = None) -> list[int]:
    """The values of n: `stages`, else 1..the number of `stage{s}_out` taps of `name`'s
    classifier at `input_shape`; a value out of that range raises."""
    probe = transfer.build_classifier(name, 2, input_shape=input_shape)
    taps = transfer.stage_taps(probe)
    del probe
    stages = [int(n) for n in stages] if stages else list(range(1, len(taps) + 1))
    if not taps or not all(1 <= n <= len(taps) for n in stages):
        raise ValueError(f"{name} has {len(taps)} stages; stages {stages} are out of range.")
    return stages


def load_state(path: str, config: dict) -> dict:
    """The state file's `{"config", "runs"}` when its config is `config` (compared as JSON), else
    a fresh one: runs of another configuration are not this one's."""
    state = json.load(open(path)) if os.path.exists(path) else {}
    if state.get("config") != json.loads(json.dumps(config, default=str)):
        state = {"config": config, "runs": {}}
    return state


def yosinski(name: str, tasks: dict[str, Task], *, input_shape, model_dir: str, settings: dict,
             epochs: int, stages: Sequence[int], kinds: Sequence[str] = transfer.YOSINSKI_KINDS,
             config: dict | None = None, pretrained: str | None = None, dropout: float = 0.0,
             cache_features: bool = False, strategy=None, steps_per_epoch: int | None = None,
             seed: int = 0, chief: bool = True, verbose: int = 1) -> YosinskiResult:
    """Train the networks of the transfer experiment that `model_dir/runs.json` does not hold
    yet, and return every network's accuracy on its task's eval data.

    `tasks` maps "A" and "B" to their `Task`. Every network is a `transfer.build_classifier` of
    `name` at `input_shape` (seeded with `seed`, under `strategy`), trained for `epochs` with
    `settings` (`training.resolve_settings`; `steps_per_epoch` caps an epoch) through
    `transfer.fine_tune`, frozen networks on cached features when `cache_features` (only
    without augmentation); its BatchNorm statistics are re-estimated over its training set
    before it is evaluated. `pretrained` ("imagenet" or a weights file) is the weights of base
    network P: that backbone frozen, a new head trained on A. Base networks are saved as
    `model_dir/base{X}.weights.h5`; `config` identifies the run in `runs.json` (another config
    starts afresh). Only the `chief` writes files. `verbose`: a progress bar per network."""
    jobs = transfer.experiment_jobs(stages, kinds)
    kinds = table_kinds(kinds, pretrained=pretrained is not None)
    os.makedirs(model_dir, exist_ok=True)
    state_path = os.path.join(model_dir, "runs.json")
    state = load_state(state_path, config if config is not None else {"model": name})
    optimizer_for = training.PhaseOptimizers(
        settings, steps_per_epoch or tasks["B"].steps_per_epoch or 100)

    def build(task, weights=None):
        keras.utils.set_random_seed(seed)
        scope = strategy.scope() if strategy is not None else _nullcontext()
        with scope:
            return transfer.build_classifier(name, tasks[task].classes, input_shape=input_shape,
                                             dropout=dropout, weights=weights)

    def train(model, task, freeze_upto):
        d = tasks[task]
        transfer.fine_tune(model, d.train, d.eval, epochs=epochs, lr=settings["lr"],
                           make_optimizer=optimizer_for, loss=d.loss, metrics=d.metrics,
                           freeze_upto=freeze_upto, cache_features=cache_features,
                           strategy=strategy, callbacks=lambda phase: optimizer_for.callbacks(),
                           steps_per_epoch=steps_per_epoch, verbose=0, seed=seed)
        transfer.recalibrate_batchnorm(model, d.train)
        return training.evaluate(model, d.eval, strategy=strategy, verbose=0)

    def record(key, logs, seconds):
        state["runs"][key] = {"accuracy": float(logs["accuracy"]), "loss": float(logs["loss"]),
                              "seconds": round(seconds, 1)}
        if chief:
            from kerasnets.utils import atomic_write_text

            atomic_write_text(state_path, json.dumps(state, indent=2, default=str) + "\n")

    progress = keras.utils.Progbar(len(jobs), unit_name="network") if verbose else None
    bases = {}
    for i, key in enumerate(jobs):
        t = time.time()
        if key.startswith("base"):
            source = key[-1]           # A, B, or P: the pre-trained backbone, head on A
            task = "A" if source == "P" else source
            path = os.path.join(model_dir, f"{key}.weights.h5")
            done = key in state["runs"] and os.path.exists(path)
            model = build(task, pretrained if source == "P" and not done else None)
            if done:
                from kerasnets import weights as W

                W.load_weights(model, path)
            else:
                logs = train(model, task, transfer.BACKBONE_OUT if source == "P" else None)
                if chief:
                    transfer.save_model(model, path)
                record(key, logs, time.time() - t)
            bases[source] = model
        elif key not in state["runs"]:
            kind, n = key.split(" n=")
            model = transfer.transferred(lambda: build("B"), bases[kind[0]], int(n),
                                         fine_tune=kind.endswith("+"))
            logs = train(model, "B", None if kind.endswith("+") else int(n))
            record(key, logs, time.time() - t)
            del model
        if progress is not None:
            progress.update(i + 1, [("accuracy", state["runs"][key]["accuracy"])])
    return YosinskiResult(state["runs"], jobs, [int(n) for n in stages], kinds)


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()
