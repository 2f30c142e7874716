"""Training a transfer classifier: schedule 2.A (frozen backbone, the head trained, optionally on
features computed once) and 2.B (warm-up, then unfreeze from a stage at a smaller, optionally
discriminative, rate) through `kerasnets.training.fit`; BatchNorm statistics re-estimated
before features are frozen."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Sequence

import keras
import numpy as np

from kerasnets.transfer.heads import (BACKBONE_OUT, discriminative_optimizer, freeze,
                                      resolve_tap, tail_model, unfreeze)
from kerasnets.transfer.probes import features_dataset


def recalibrate_batchnorm(model, data, *, steps: int | None = None) -> int:
    """Re-estimate the moving mean and variance of every trainable BatchNormalization layer as
    the plain average of its batch statistics over `data` (like torch.optim.swa_utils.update_bn):
    after a short training run, Keras' exponential moving averages (momentum 0.99) still carry
    much of their initial 0 / 1, which inference mode and frozen features then use. Weights are
    not changed. Returns the number of batches used."""
    bns = [layer for layer in model.layers
           if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    if not bns:
        return 0
    saved = [(bn.momentum, [v.numpy() for v in (bn.moving_mean, bn.moving_variance)])
             for bn in bns]
    sums = [[np.zeros(bn.moving_mean.shape, "float64"), np.zeros(bn.moving_variance.shape,
                                                                 "float64")] for bn in bns]
    count = 0
    try:
        for bn in bns:
            bn.momentum = 0.0          # moving statistics := this batch's statistics
        for x, _ in data:
            if steps is not None and count >= steps:
                break
            model(x, training=True)
            for total, bn in zip(sums, bns):
                total[0] += bn.moving_mean.numpy()
                total[1] += bn.moving_variance.numpy()
            count += 1
    finally:
        for bn, (momentum, values) in zip(bns, saved):
            bn.momentum = momentum
            if count == 0:
                bn.moving_mean.assign(values[0])
                bn.moving_variance.assign(values[1])
    for total, bn in zip(sums, bns):
        if count:
            bn.moving_mean.assign((total[0] / count).astype("float32"))
            bn.moving_variance.assign((total[1] / count).astype("float32"))
    return count


@dataclasses.dataclass
class FineTuneResult:
    history: dict[str, list[float]]      # both phases, epoch by epoch
    unfrozen_at: int | None              # epoch (0-based count of finished epochs) or None
    frozen_warmup: list[str]             # layers frozen during the warm-up
    frozen_finetune: list[str]           # layers still frozen after unfreezing
    cached_features: bool


def _merge(histories: Sequence[dict]) -> dict[str, list[float]]:
    merged: dict[str, list[float]] = {}
    for h in histories:
        for k, v in h.items():
            merged.setdefault(k, []).extend(float(x) for x in v)
    return merged


def fine_tune(model, train_data, eval_data=None, *, epochs: int, lr: float,
              make_optimizer: Callable[[float, int], keras.optimizers.Optimizer],
              loss, metrics: Sequence[Any] = ("accuracy",), freeze_upto=BACKBONE_OUT,
              unfreeze_at_epoch: int | None = None, unfreeze_from_stage: int = 1,
              fine_tune_lr: float | None = None, discriminative: float = 1.0,
              cache_features: bool = False, strategy=None,
              callbacks: Callable[[str], list] | None = None, steps_per_epoch: int | None = None,
              verbose: int = 1, seed: int = 0, feature_data=None) -> FineTuneResult:
    """Train `model` (a `build_classifier` model, built under `strategy.scope()`) by schedule
    2.A or 2.B.

    Warm-up: the layers feeding `freeze_upto` are frozen (None: nothing is) and the rest trains
    at `lr` until `unfreeze_at_epoch` (None: to the end, schedule 2.A). Then stage
    `unfreeze_from_stage` and everything after it are unfrozen and training continues to
    `epochs` at `fine_tune_lr` (default `lr / 10`), each stage below the top scaled by
    `discriminative` (1 = one rate). `make_optimizer(learning_rate, phase_epochs)` builds each
    phase's optimiser; `callbacks(phase)` ("warmup" / "finetune") each phase's callbacks.
    `cache_features` trains the warm-up on the frozen part's outputs computed once (use it only
    when `train_data` has no random augmentation), from `feature_data` when given: one pass over
    every training image (`pipelines.data.Data.train_once`; `train_data` drops the remainder
    batch of each epoch, so a single pass of it would leave images out for good).
    """
    from kerasnets import training

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if unfreeze_at_epoch is not None and not 0 <= unfreeze_at_epoch <= epochs:
        raise ValueError(f"unfreeze_at_epoch must be in [0, epochs={epochs}], got "
                         f"{unfreeze_at_epoch}.")
    warmup_epochs = epochs if unfreeze_at_epoch is None else unfreeze_at_epoch
    fine_tune_lr = lr / 10 if fine_tune_lr is None else fine_tune_lr
    def scope():
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    callbacks = callbacks or (lambda phase: [])
    histories, frozen_warmup, frozen_after, cached = [], [], [], False

    if warmup_epochs:
        frozen_warmup = freeze(model, freeze_upto)
        tap = resolve_tap(model, freeze_upto)
        cached = bool(cache_features and tap)
        with scope():
            trained = tail_model(model, tap) if cached else model
            trained.compile(optimizer=make_optimizer(lr, warmup_epochs), loss=loss,
                            metrics=list(metrics))
        train = features_dataset(model, train_data if feature_data is None else feature_data,
                                 tap, shuffle=True, seed=seed,
                                 batch_size=int(next(iter(train_data))[0].shape[0])) \
            if cached else train_data
        val = features_dataset(model, eval_data, tap) if cached and eval_data is not None \
            else eval_data
        history = training.fit(trained, train, epochs=warmup_epochs, validation_data=val,
                               strategy=strategy, callbacks=callbacks("warmup"),
                               steps_per_epoch=steps_per_epoch, verbose=verbose)
        histories.append(history.history)
        if cached and warmup_epochs == epochs:
            with scope():  # the full model was not trained itself: compile it for evaluation
                model.compile(optimizer=make_optimizer(lr, warmup_epochs), loss=loss,
                              metrics=list(metrics))
    if warmup_epochs < epochs:
        frozen_after = unfreeze(model, unfreeze_from_stage)
        with scope():
            def make(scale):
                return make_optimizer(fine_tune_lr * scale, epochs - warmup_epochs)

            model.compile(optimizer=discriminative_optimizer(model, make, discriminative),
                          loss=loss, metrics=list(metrics))
        history = training.fit(model, train_data, epochs=epochs, initial_epoch=warmup_epochs,
                               validation_data=eval_data, strategy=strategy,
                               callbacks=callbacks("finetune"), steps_per_epoch=steps_per_epoch,
                               verbose=verbose)
        histories.append(history.history)
    return FineTuneResult(_merge(histories),
                          warmup_epochs if warmup_epochs < epochs else None,
                          frozen_warmup, frozen_after, cached)
