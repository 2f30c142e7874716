"""Throughput measurement: the one interleaved timing loop, the machine's matmul peaks and MFU
(`python -m tools.benchmark`).

Every figure in kerasnets that compares speeds comes from `interleaved_times`: warm-up calls
first (tracing, compilation, buffers), then rounds that call each candidate once (ours, theirs,
ours, ...), and each figure is taken from the *median* time, so a load that comes and goes on the
machine hits every candidate alike. The distillation step benchmark, the serving benchmark, the
precision probe (`kerasnets.measurement.precision`), the default-path comparison (`kerasnets.experiments.default_paths`)
and the tables of `tools.benchmark` all go through it.
Figures are only comparable within one run on one machine: report ratios.

MFU (model FLOPs utilisation) is achieved FLOP/s over the peak FLOP/s of the precision used,
both measured in the same run: the peak is a large square matmul (`matmul_gflops`, the kernel
convolutions lower to), the achieved rate is images/s x 2 x multiply-adds per image
(`kerasnets.zoo.flops`), times 3 for a training step (forward, gradient of the input, gradient of
the weights).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from kerasnets.zoo.flops import count_flops
from kerasnets.layers import GroupedConv2D

# Peak precision of a Keras dtype policy: what its matmuls and convolutions compute in.
COMPUTE_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16",
                 "onednn_bfloat16": "bfloat16", "mixed_float16": "float16"}


def trainable_params(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _sync(out):
    # Materialise the result so asynchronous execution is inside the timed region.
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
    return out


def interleaved_times(calls: Mapping[str, Callable[[], Any]], *, steps: int, warmup: int,
                      max_seconds: float | None = None) -> dict[str, list[float]]:
    """Seconds per call of each zero-argument callable (its result materialised): `warmup`
    untimed calls each, then up to `steps` rounds calling every one once. With `max_seconds`,
    no new round starts once the timed rounds have taken that long (at least one round runs)."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, got {steps} and {warmup}.")
    for call in calls.values():
        for _ in range(warmup):
            _sync(call())
    times: dict[str, list[float]] = {name: [] for name in calls}
    begin = time.perf_counter()
    for _ in range(steps):
        for name, call in calls.items():
            start = time.perf_counter()
            _sync(call())
            times[name].append(time.perf_counter() - start)
        if max_seconds is not None and time.perf_counter() - begin > max_seconds:
            break
    return times


def medians(times: Mapping[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(t) for name, t in times.items()}


def random_batch(input_shape, batch_size: int, classes: int, seed: int = 0):
    """A constant (images in [0, 1), integer labels) batch."""
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.uniform(0, 1, size=(batch_size,) + tuple(input_shape)).astype("float32"))
    y = tf.constant(rng.integers(0, classes, size=(batch_size,)))
    return x, y


def train_step(model, x, y, *, jit_compile: bool = False, optimizer=None) -> Callable[[], Any]:
    """One SGD step of `model` on the batch (x, y) as a zero-argument compiled function."""
    optimizer = optimizer or keras.optimizers.SGD(0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss

    return step


def infer_step(model, x, *, jit_compile: bool = False) -> Callable[[], Any]:
    return tf.function(lambda: model(x, training=False), jit_compile=jit_compile)


def measure_interleaved(models, *, batch_size=8, steps=5, warmup=2, train=True) -> list[dict]:
    """Images/s (inference, training) of each model, their steps interleaved, median step time."""
    steps_of = []
    for model in models:
        x, y = random_batch(model.input_shape[1:], batch_size, model.output_shape[-1])
        fns = {"infer": infer_step(model, x)}
        if train:
            fns["train"] = train_step(model, x, y)
        steps_of.append(fns)
    results = [{} for _ in models]
    for kind in ("infer", "train") if train else ("infer",):
        times = medians(interleaved_times({i: fns[kind] for i, fns in enumerate(steps_of)},
                                          steps=steps, warmup=warmup))
        for i, t in times.items():
            results[i][f"{kind}_img_s"] = batch_size / t
    return results


def benchmark_models(builders, *, batch_size=8, steps=5, warmup=2, train=True) -> list[dict]:
    """Build each (zero-argument callables), count parameters and FLOPs, measure interleaved."""
    models, rows = [], []
    for build in builders:
        start = time.perf_counter()
        model = build()
        rows.append({"build_s": time.perf_counter() - start, "params": trainable_params(model),
                     "flops": count_flops(model)})
        models.append(model)
    for row, figures in zip(rows, measure_interleaved(models, batch_size=batch_size, steps=steps,
                                                      warmup=warmup, train=train)):
        row.update(figures)
    del models
    keras.backend.clear_session(free_memory=True)
    return rows


# ---------------------------------------------------------------------------------------------
# The machine's peaks and MFU.

def matmul_call(dtype: str = "float32", n: int = 4096) -> Callable[[], Any]:
    """A zero-argument compiled n x n by n x n matmul in `dtype` (2 n^3 FLOPs per call)."""
    rng = np.random.default_rng(0)
    a = tf.cast(tf.constant(rng.standard_normal((n, n), dtype="float32")), dtype)
    b = tf.cast(tf.constant(rng.standard_normal((n, n), dtype="float32")), dtype)
    return tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], "float32")))


def matmul_gflops(dtype: str = "float32", *, n: int = 4096, steps: int = 3, warmup: int = 1
                  ) -> float:
    """GFLOP/s of an n x n by n x n matmul in `dtype` (2 n^3 FLOPs, median of `steps`)."""
    t = medians(interleaved_times({"mm": matmul_call(dtype, n)}, steps=steps,
                                  warmup=warmup))["mm"]
    return 2 * n ** 3 / t / 1e9


def machine_peaks(dtypes=("float32", "bfloat16"), *, n: int = 4096, steps: int = 3
                  ) -> dict[str, float]:
    """Matmul GFLOP/s of each dtype on this machine, now."""
    return {dtype: matmul_gflops(dtype, n=n, steps=steps) for dtype in dtypes}


def mfu(img_s: float, macs_per_image: float, peak_gflops: float, *, train: bool) -> float:
    """Achieved FLOP/s (2 FLOPs per multiply-add, x3 for a training step) over the peak."""
    flops = img_s * 2 * macs_per_image * (3 if train else 1)
    return flops / (peak_gflops * 1e9)


def grouped_conv_models(input_shape=(56, 56, 128), filters=128, groups=32):
    """Two one-layer classifiers that differ only in their grouped 3x3 convolution: Keras'
    `Conv2D(groups=)` and kerasnets' `GroupedConv2D` (split route), with the same weights."""
    def build(conv):
        inputs = keras.Input(input_shape)
        x = conv(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Activation("softmax")(x), name=conv.name)

    reference = build(keras.layers.Conv2D(filters, 3, padding="same", groups=groups,
                                          name="keras_conv2d_groups"))
    ours = build(GroupedConv2D(filters, 3, groups, padding="same", implementation="split",
                               name="kerasnets_grouped_conv2d"))
    ours.set_weights(reference.get_weights())
    return reference, ours
