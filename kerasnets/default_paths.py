"""kerasnets' default training / inference path against keras.applications' `model.fit` /
`model.predict` defaults (`python -m tools.benchmark`), timed by the one
interleaved loop of `kerasnets.measurement.benchmark`.

Ours trains through `kerasnets.training.fit`'s step (`kerasnets.training.steps`) under the precision a
`kerasnets.measurement.precision.Choice` names; theirs through the functions `fit` and `predict` make.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable

import keras
import tensorflow as tf

from kerasnets.measurement.benchmark import (COMPUTE_DTYPE, interleaved_times, matmul_call, medians,
                                 random_batch, trainable_params)
from kerasnets.zoo.flops import count_flops
from kerasnets.measurement.precision import keras_policy, under
from kerasnets.training.steps import distribute, step_function, symbolic_build


def _fit_default_steps(model, x, y, optimizer):
    """`model.fit` / `model.predict` steps as Keras runs them: compile with Keras' defaults
    (jit_compile="auto", steps_per_execution=1), then the functions `fit` and `predict` make,
    fed from a tf.data iterator."""
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    train_iterator = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
    model.make_train_function()
    return {"train": lambda: model.train_function(train_iterator), "infer": _predict_step(model, x)}


def _predict_step(model, x):
    """`model.predict`'s step as its loop calls it: a list of one batch from an iterator."""
    iterator = iter(tf.data.Dataset.from_tensors((x,)).repeat())
    model.make_predict_function()
    return lambda: model.predict_function([next(iterator)])


def _kerasnets_default_steps(model, x, y, optimizer, jit_compile: bool):
    """The training step of `kerasnets.training.fit` (the model's `train_step` inside
    `strategy.run`, fed from a distributed dataset) and `model.predict`'s inference step."""
    strategy = tf.distribute.get_strategy()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    # Fed exactly as fit feeds it (on one CPU: the dataset's own iterator).
    dist, spec, _ = distribute(strategy, tf.data.Dataset.from_tensors((x, y)).repeat())
    symbolic_build(model, spec, strategy)
    train_fn = step_function(model, strategy, model.train_step, jit_compile)
    iterator = iter(dist)
    return {"train": lambda: train_fn(next(iterator)), "infer": _predict_step(model, x)}


def compare_default_paths(build_ours: Callable[[], Any], build_keras: Callable[[], Any] | None,
                          *, choice, batch_size: int = 16, steps: int = 5, warmup: int = 2,
                          train: bool = True, seed: int = 0, peak_n: int | None = None
                          ) -> dict[str, dict]:
    """Images/s of kerasnets' default path and keras.applications' defaults, interleaved.

    `choice` is a `kerasnets.measurement.precision.Choice`: ours is built under its precision and trains
    through `kerasnets.training.fit`'s step (with its jit_compile); the keras.applications model
    is built under float32 (Keras' default policy) and runs `model.fit`'s / `model.predict`'s
    own step functions. Both use SGD (momentum 0.9) and the same random batch. Returns
    {"ours": {...}, "keras": {...}} with `infer_img_s`, `train_img_s`, `params`, `flops`.

    With `peak_n`, an n x n matmul in the compute dtype of ours joins every round of the
    interleaved loops, and "peak" = {"gflops": median GFLOP/s over all rounds}: the peak under
    the same load as the steps it is compared with (MFU on a shared machine)."""
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_dtype_policy(keras_policy(choice.precision))
        ours = build_ours()
        keras.mixed_precision.set_dtype_policy("float32")
        theirs = build_keras() if build_keras is not None else None
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    x, y = random_batch(ours.input_shape[1:], batch_size, ours.output_shape[-1], seed)
    models = {"ours": ours} if theirs is None else {"ours": ours, "keras": theirs}
    fns = {"ours": _kerasnets_default_steps(ours, x, y, keras.optimizers.SGD(0.01, 0.9),
                                            choice.jit_compile)}
    if theirs is not None:
        fns["keras"] = _fit_default_steps(theirs, x, y, keras.optimizers.SGD(0.01, 0.9))
    # each side runs with the graph rewrite its precision needs (Keras' defaults: none)
    fns = {name: {kind: under(choice.precision if name == "ours" else "float32", fn)
                  for kind, fn in steps.items()} for name, steps in fns.items()}
    out = {name: {"params": trainable_params(m), "flops": count_flops(m)}
           for name, m in models.items()}
    peak = matmul_call(COMPUTE_DTYPE[choice.precision], peak_n) if peak_n else None
    peak_times = []
    for kind in ("infer", "train") if train else ("infer",):
        calls = {name: f[kind] for name, f in fns.items()}
        if peak is not None:
            calls["peak"] = peak
        raw = interleaved_times(calls, steps=steps, warmup=warmup)
        peak_times += raw.pop("peak", [])
        for name, t in medians(raw).items():
            out[name][f"{kind}_img_s"] = batch_size / t
    if peak_times:
        out["peak"] = {"gflops": 2 * peak_n ** 3 / statistics.median(peak_times) / 1e9}
    return out
