"""Step timing: a KD step (live or cached teacher) against a plain student step, through
`kerasnets.measurement.benchmark`'s one timing loop."""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasnets.measurement.benchmark import interleaved_times, medians  # the one timing loop
from kerasnets.distillation.losses import IMAGES, TEACHER_LOGITS, distiller
from kerasnets.zoo.registry import create_model, get_entry


# ----------------------------------------------------------------------------- step timing

def _compiled_step(model: keras.Model, batch):
    """`model.train_step` as a tf.function, after one `fit` step that builds the optimizer and
    metrics (the first call is a warm-up)."""
    data = tf.data.Dataset.from_tensors(batch)
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    step = tf.function(model.train_step)
    return lambda: step(batch)


def measure_step_times(teacher: keras.Model, student_builder: Callable[[], keras.Model], *,
                       batch_size: int = 32, temperature: float = 4.0, alpha: float = 0.1,
                       steps: int = 20, warmup: int = 3, seed: int = 0) -> dict[str, float]:
    """Median seconds of one training step on the same random batch, steps interleaved:
    `student` (plain, hard labels), `kd_live` (teacher run in the step), `kd_cached` (teacher
    logits in the batch), and `teacher_forward` (inference alone). `student_builder()` makes a
    fresh logits student per variant (same architecture)."""
    rng = np.random.default_rng(seed)
    shape = (batch_size,) + tuple(teacher.input_shape[1:])
    x = tf.constant(rng.uniform(0, 255, size=shape).astype("float32"))
    classes = teacher.output_shape[-1]
    y = tf.constant(rng.integers(0, classes, size=(batch_size,)))
    z = tf.constant(np.asarray(teacher(x, training=False), "float32"))

    plain = student_builder()
    plain.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    live = distiller(teacher, student_builder(), temperature=temperature, alpha=alpha)
    cached = distiller(teacher, student_builder(), temperature=temperature, alpha=alpha)
    for d in (live, cached):
        d.compile(optimizer=keras.optimizers.SGD(0.01))
    forward = tf.function(lambda: teacher(x, training=False))
    fns = {"student": _compiled_step(plain, (x, y)),
           "kd_live": _compiled_step(live, (x, y)),
           "kd_cached": _compiled_step(cached, ({IMAGES: x, TEACHER_LOGITS: z}, y)),
           "teacher_forward": forward}

    return medians(interleaved_times(fns, steps=steps, warmup=warmup))


def parse_pairs(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """`["teacher:student", ...]` -> registry name pairs (unknown names raise)."""
    parsed = []
    for pair in pairs:
        teacher, _, student = pair.partition(":")
        if not teacher or not student:
            raise ValueError(f"pairs want teacher:student, got {pair!r}.")
        parsed.append((get_entry(teacher).name, get_entry(student).name))
    return parsed


def step_benchmark(teacher: str, student: str, *, image_size: int | None = None,
                   batch_size: int = 32, temperature: float = 4.0, alpha: float = 0.1,
                   steps: int = 20, warmup: int = 3, seed: int = 0, classes: int = 10) -> dict:
    """One row of the step benchmark for registry models `teacher` and `student` at the
    student's input (`image_size`, else its registry size): `measure_step_times` in ms and the
    ratios against the plain student step; teacher_share_live = (live - cached) / live."""
    entry = get_entry(student)
    size = image_size or entry.input_shape[0]
    shape = (size, size, entry.input_shape[2])
    keras.utils.set_random_seed(seed)
    teacher_model = create_model(teacher, input_shape=shape, classes=classes,
                                 classifier_activation=None, name="teacher")
    times = measure_step_times(
        teacher_model, lambda: create_model(student, input_shape=shape, classes=classes,
                                            classifier_activation=None),
        batch_size=batch_size, temperature=temperature, alpha=alpha, steps=steps, warmup=warmup,
        seed=seed)
    ms = {k: 1000 * v for k, v in times.items()}
    return {"teacher": teacher, "student": student, "input": "x".join(map(str, shape)),
            "batch": batch_size, "student_ms": ms["student"], "kd_cached_ms": ms["kd_cached"],
            "kd_live_ms": ms["kd_live"], "teacher_forward_ms": ms["teacher_forward"],
            "cached_ratio": ms["kd_cached"] / ms["student"],
            "live_ratio": ms["kd_live"] / ms["student"],
            "teacher_share_live": (ms["kd_live"] - ms["kd_cached"]) / ms["kd_live"]}
