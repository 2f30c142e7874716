"""Throughput measurement used by `python -m tools.benchmark`.

Inference and training images/s are measured on random data with compiled `tf.function` steps
(SGD for training), after warm-up steps that absorb tracing, so that a kerasnets model and its
keras.applications counterpart are timed the same way in the same process. Figures are only
comparable within one run on one machine: report ratios.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from kerasnets.flops import count_flops


def trainable_params(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _time_steps(step, args, steps, warmup) -> float:
    for _ in range(warmup):
        _sync(step(*args))
    start = time.perf_counter()
    for _ in range(steps):
        _sync(step(*args))
    return time.perf_counter() - start


def _sync(out):
    # Materialise the result so asynchronous execution is inside the timed region.
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)


def measure(model, *, batch_size=8, steps=5, warmup=2, train=True, seed=0) -> dict:
    """Images/s of `model` for inference (training=False) and one SGD training step."""
    shape = (batch_size,) + tuple(model.input_shape[1:])
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.uniform(0, 1, size=shape).astype("float32"))
    classes = model.output_shape[-1]
    y = tf.constant(rng.integers(0, classes, size=(batch_size,)))

    @tf.function
    def infer(images):
        return model(images, training=False)

    result = {"infer_img_s": batch_size * steps / _time_steps(infer, (x,), steps, warmup)}
    if train:
        optimizer = keras.optimizers.SGD(0.01)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        @tf.function
        def train_step(images, labels):
            with tf.GradientTape() as tape:
                loss = loss_fn(labels, model(images, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            return loss

        result["train_img_s"] = batch_size * steps / _time_steps(train_step, (x, y), steps,
                                                                 warmup)
    return result


def benchmark_model(build, *, batch_size=8, steps=5, warmup=2, train=True) -> dict:
    """Build (a zero-argument callable), count parameters and FLOPs, and measure."""
    start = time.perf_counter()
    model = build()
    row = {"build_s": time.perf_counter() - start,
           "params": trainable_params(model),
           "flops": count_flops(model)}
    row.update(measure(model, batch_size=batch_size, steps=steps, warmup=warmup, train=train))
    del model
    keras.backend.clear_session(free_memory=True)
    return row
