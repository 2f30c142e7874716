"""The transfer set: the teacher's logits computed once and cached on disk, the student's
training batches that carry them, and Hinton et al.'s "never saw a 3" bias shift (sec. 3)."""

from __future__ import annotations

import os
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasnets.distillation.losses import IMAGES, TEACHER_LOGITS
from kerasnets.utils import atomic_file


# ----------------------------------------------------------------------------- cached teacher

def compute_teacher_logits(teacher: keras.Model, examples: tf.data.Dataset, *,
                           batch_size: int = 256, path=None, key: str = "") -> np.ndarray:
    """The teacher's logits over an UNBATCHED, deterministic (non-augmented, unshuffled)
    dataset of `(image, label)` or images, in order, as float32 `(N, classes)`.

    With `path` (an `.npz`), they are stored there (written to a temporary file, then moved
    into place) together with `key` (e.g. teacher weights + dataset + preprocessing); a later
    call with the same key and example count loads them instead of running the teacher."""
    if path is not None and os.path.exists(path):
        with np.load(path, allow_pickle=False) as cached:
            if str(cached["key"]) == key:
                return cached["logits"]
    images = examples.map(lambda *e: e[0])
    batched = images.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    predict = tf.function(lambda x: teacher(x, training=False), reduce_retracing=True)
    logits = np.concatenate([np.asarray(predict(x), dtype="float32") for x in batched])
    if path is not None:
        with atomic_file(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, logits=logits, key=np.array(key))
    return logits


def transfer_set(examples: tf.data.Dataset, logits: np.ndarray | None = None, *,
                 batch_size: int, shuffle: bool = True, seed: int | None = None,
                 exclude_labels: Sequence[int] = (), drop_remainder: bool = False,
                 shuffle_buffer: int = 1 << 16) -> tf.data.Dataset:
    """Training batches from the non-augmented transfer set: `examples` (unbatched
    `(image, label)`, in the order `compute_teacher_logits` saw) kept in memory and reshuffled
    every epoch. With `logits`, batches are `({"images": x, "teacher_logits": z_t}, y)` for
    `Distiller` (cached teacher); without, `(x, y)` in the same order for the same `seed`.
    `exclude_labels` leaves those classes out (Hinton's "never saw a 3" transfer set)."""
    if logits is not None:
        n = int(examples.cardinality())
        if n >= 0 and n != len(logits):
            raise ValueError(f"{len(logits)} cached teacher logits for {n} examples; recompute "
                             "them (the transfer set changed).")
        ds = tf.data.Dataset.zip(examples, tf.data.Dataset.from_tensor_slices(logits))
        ds = ds.map(lambda e, z: ({IMAGES: e[0], TEACHER_LOGITS: z}, e[1]))
    else:
        ds = examples
    if exclude_labels:
        excluded = tf.constant(list(exclude_labels), tf.int64)
        ds = ds.filter(lambda x, y: tf.reduce_all(tf.not_equal(tf.cast(y, tf.int64), excluded)))
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------- "never saw a 3"

def shift_class_bias(model: keras.Model, class_index: int, shift: float,
                     layer: str = "predictions") -> None:
    """Add `shift` to the bias of one class in the classifier layer (in place)."""
    dense = model.get_layer(layer)
    kernel, bias = dense.get_weights()
    bias = bias.copy()
    bias[class_index] += shift
    dense.set_weights([kernel, bias])


def best_bias_shift(logits: np.ndarray, labels: np.ndarray, class_index: int,
                    shifts: Sequence[float] = tuple(np.arange(0.0, 15.01, 0.25))) -> float:
    """The bias shift for `class_index`, among `shifts`, that maximises accuracy over all
    classes of `(logits, labels)` (Hinton et al. sec. 3 raise the omitted 3's bias by 3.5)."""
    logits, labels = np.asarray(logits, "float64"), np.asarray(labels)
    best, best_acc = 0.0, -1.0
    for shift in shifts:
        z = logits.copy()
        z[:, class_index] += shift
        acc = float(np.mean(z.argmax(-1) == labels))
        if acc > best_acc + 1e-12:
            best, best_acc = float(shift), acc
    return best
