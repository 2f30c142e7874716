"""Plots the tools write next to their metrics: training curves and line charts (matplotlib, Agg).

Every function writes a PNG atomically (temporary file moved into place) and returns its path.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from kerasnets.utils import atomic_file


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> str:
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    finally:
        _figure().close(fig)
    return os.fspath(path)


def plot_history(history: Mapping[str, Sequence[float]], path, *, title: str = "",
                 marks: Mapping[str, float] | None = None) -> str:
    """Training curves from a Keras `History.history`-style dict: one panel per metric (loss,
    accuracy, ...), train and `val_` series together. `marks` draws labelled vertical lines at
    epochs (e.g. `{"backbone unfrozen": 3}`); epochs are numbered from 1."""
    plt = _figure()
    metrics = [k for k in history if not k.startswith("val_") and k not in ("lr", "learning_rate")]
    metrics = metrics or list(history)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    for ax, key in zip(axes[0], metrics):
        for series in (key, f"val_{key}"):
            values = history.get(series)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=series)
        for label, epoch in (marks or {}).items():
            ax.axvline(epoch, color="grey", ls="--", lw=1)
            ax.annotate(label, (epoch, ax.get_ylim()[1]), fontsize=7, ha="left", va="top",
                        rotation=90, color="grey")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_lines(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path, *,
               xlabel: str, ylabel: str, title: str = "") -> str:
    """One chart with a line per entry of `series` (`label -> (xs, ys)`)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", ms=4, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_confusion(matrix, path, *, class_names: Sequence[str] | None = None,
                   title: str = "") -> str:
    """A confusion matrix (rows true, columns predicted) as a heat map with counts."""
    import numpy as np

    plt = _figure()
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    size = min(12.0, 2.5 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if n <= 40:
        ax.set_xticks(range(n), names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        if n <= 20:
            peak = matrix.max() or 1
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if matrix[i, j] > peak / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_predictions(image, predictions: Sequence[tuple[str, float]], path, *,
                     title: str = "") -> str:
    """One image (HxWxC, uint8 or float in [0, 255]) beside horizontal bars of its top
    predictions `[(label, probability), ...]`, highest at the top."""
    import numpy as np

    plt = _figure()
    image = np.asarray(image)
    image = np.clip(image, 0, 255).astype("uint8") if image.dtype != np.uint8 else image
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6),
                                      gridspec_kw={"width_ratios": [1, 1.3]})
    left.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                cmap="gray" if image.shape[-1] == 1 else None)
    left.axis("off")
    labels = [label for label, _ in predictions][::-1]
    probs = [float(p) for _, p in predictions][::-1]
    bars = right.barh(range(len(probs)), probs, color="tab:blue")
    right.set_yticks(range(len(labels)), labels, fontsize=9)
    right.set_xlim(0, 1)
    right.set_xlabel("probability")
    for bar, p in zip(bars, probs):
        right.text(min(p + 0.02, 0.85), bar.get_y() + bar.get_height() / 2, f"{p:.1%}",
                   va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_image_grid(images, captions: Sequence[str], path, *, title: str = "",
                    columns: int = 6) -> str:
    """Images (each HxWxC, uint8 or float in [0, 255]) in a grid, each with its caption."""
    import numpy as np

    plt = _figure()
    n = max(len(images), 1)
    columns = min(columns, n)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.5 * rows + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions):
        image = np.clip(np.asarray(image, dtype="float32"), 0, 255).astype("uint8")
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                  cmap="gray" if image.shape[-1] == 1 else None)
        ax.set_title(caption, fontsize=8)
    if not len(images):
        axes.flat[0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_soft_targets(images: Sequence, soft_targets: Sequence[Sequence[float]], path, *,
                      class_names: Sequence[str] | None = None, title: str = "") -> str:
    """One row per example: the image, then its soft targets as bars over the classes (the seed's
    "this 2 resembles a 1 and nothing much else" slide)."""
    import numpy as np

    plt = _figure()
    fig, axes = plt.subplots(len(images), 2, figsize=(6.5, 1.8 * len(images)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 4]}, constrained_layout=True)
    for (image_ax, bar_ax), image, q in zip(axes, images, soft_targets):
        image = np.asarray(image)
        image_ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray_r")
        image_ax.axis("off")
        names = list(class_names or [str(i) for i in range(len(q))])
        bar_ax.bar(range(len(q)), q, color="tab:blue")
        bar_ax.set_xticks(range(len(q)), names)
        bar_ax.set_ylim(0, 1)
        first, second = sorted(range(len(q)), key=lambda i: -q[i])[:2]
        bar_ax.set_ylabel("q")
        bar_ax.text(0.99, 0.95, f"a {names[first]} that resembles {names[second]}",
                    transform=bar_ax.transAxes, ha="right", va="top", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
