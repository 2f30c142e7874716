"""Seeing a classifier's errors on a validation set: per-class accuracy, the confusion matrix
plot, and a grid of the misclassified images with their true and predicted class names.

    report = error_report(model, data.eval, class_names, "runs/finetune_x", preprocessing="lite")

`data` is a batched `(model-ready images, labels)` dataset (`pipelines.data.Data.eval`); the
images shown are the model's inputs turned back into pixels (`kerasnets.zoo.preprocessing.
denormalize`). Writes `per_class.{md,csv}`, `confusion.png` and `misclassified.png` to the run
directory and returns what it wrote, with the per-class rows.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from kerasnets.plots import plot_confusion, plot_image_grid
from kerasnets.zoo.preprocessing import denormalize
from kerasnets.utils import write_tables

MAX_SHOWN = 24


def per_class_rows(confusion, class_names: Sequence[str]) -> list[dict]:
    """`[{"class", "images", "correct", "accuracy"}]` of a confusion matrix (rows true)."""
    confusion = np.asarray(confusion)
    rows = []
    for i, name in enumerate(class_names):
        images = int(confusion[i].sum())
        correct = int(confusion[i, i])
        rows.append({"class": str(name), "images": images, "correct": correct,
                     "accuracy": round(correct / images, 4) if images else None})
    return rows


def predictions(model, data, preprocessing: str, *, max_shown: int = MAX_SHOWN):
    """`(labels, predicted, wrong)` over `data`: true and predicted class indices of every
    image, and up to `max_shown` misclassified images as pixels with (true, predicted)."""
    import tensorflow as tf

    step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    labels, predicted, wrong = [], [], []
    for x, y in data:
        p = np.asarray(step(x)).argmax(-1)
        y = np.asarray(y)
        y = y.argmax(-1) if y.ndim > 1 else y.reshape(-1)
        labels.append(y)
        predicted.append(p)
        for i in np.flatnonzero(p != y)[:max(0, max_shown - len(wrong))]:
            wrong.append((np.asarray(denormalize(x[i], preprocessing)), int(y[i]), int(p[i])))
    if not labels:
        raise ValueError("error_report: the validation dataset is empty.")
    return np.concatenate(labels).astype(np.int64), np.concatenate(predicted), wrong


def error_report(model, data, class_names: Sequence[str], model_dir, *, preprocessing: str,
                 title: str = "", max_shown: int = MAX_SHOWN) -> dict:
    """Per-class accuracy (`per_class.{md,csv}`), `confusion.png` and `misclassified.png` (up to
    `max_shown` images captioned "true -> predicted") of `model` on `data`, in `model_dir`."""
    names = [str(n) for n in class_names]
    n = len(names)
    labels, predicted, wrong = predictions(model, data, preprocessing, max_shown=max_shown)
    confusion = np.bincount(labels * n + predicted, minlength=n * n).reshape(n, n)
    rows = per_class_rows(confusion, names)
    write_tables(os.path.join(model_dir, "per_class.md"), rows, list(rows[0]),
                 header=f"# Per-class accuracy{': ' + title if title else ''}")
    confusion_png = plot_confusion(confusion, os.path.join(model_dir, "confusion.png"),
                                   class_names=names, title=title)
    grid = plot_image_grid([image for image, _, _ in wrong],
                           [f"{names[t]} -> {names[p]}" for _, t, p in wrong],
                           os.path.join(model_dir, "misclassified.png"),
                           title=f"misclassified: {int((labels != predicted).sum())} of "
                                 f"{len(labels)} (true -> predicted)")
    return {"per_class": rows, "confusion": confusion.tolist(), "confusion_png": confusion_png,
            "misclassified_png": grid, "misclassified": int((labels != predicted).sum()),
            "images": int(len(labels))}
