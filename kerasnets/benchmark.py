"""Throughput measurement used by `python -m tools.benchmark`.

Inference and training images/s are measured on random data with compiled `tf.function` steps
(SGD for training) after warm-up steps that absorb tracing. When a kerasnets model is compared
with its keras.applications counterpart, both are built first and their steps are *interleaved*
(ours, theirs, ours, ...), and each figure is the batch size over the *median* step time, so a
load that comes and goes on the machine hits both alike. Figures are only comparable within one
run on one machine: report ratios.
"""

from __future__ import annotations

import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from kerasnets.flops import count_flops


def trainable_params(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _sync(out):
    # Materialise the result so asynchronous execution is inside the timed region.
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)


def _steps_for(model, batch_size, train, seed=0):
    """Compiled inference and training steps of `model`, with their random batch bound."""
    shape = (batch_size,) + tuple(model.input_shape[1:])
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.uniform(0, 1, size=shape).astype("float32"))
    y = tf.constant(rng.integers(0, model.output_shape[-1], size=(batch_size,)))

    @tf.function
    def infer():
        return model(x, training=False)

    steps = {"infer": infer}
    if train:
        optimizer = keras.optimizers.SGD(0.01)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        @tf.function
        def train_step():
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            return loss

        steps["train"] = train_step
    return steps


def measure_interleaved(models, *, batch_size=8, steps=5, warmup=2, train=True) -> list[dict]:
    """Images/s (inference, training) of each model, their steps interleaved, median step time."""
    compiled = [_steps_for(m, batch_size, train) for m in models]
    results = [{} for _ in models]
    for kind in ("infer", "train") if train else ("infer",):
        for fns in compiled:
            for _ in range(warmup):
                _sync(fns[kind]())
        times = [[] for _ in models]
        for _ in range(steps):
            for i, fns in enumerate(compiled):
                start = time.perf_counter()
                _sync(fns[kind]())
                times[i].append(time.perf_counter() - start)
        for i, t in enumerate(times):
            results[i][f"{kind}_img_s"] = batch_size / statistics.median(t)
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


def grouped_conv_models(input_shape=(56, 56, 128), filters=128, groups=32):
    """Two one-layer classifiers that differ only in their grouped 3x3 convolution: Keras'
    `Conv2D(groups=)` and kerasnets' `GroupedConv2D` (split route), with the same weights."""
    from kerasnets.layers import GroupedConv2D

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
