"""A small folder of the user's own images, written from the sample photographs that installed
packages ship (`pipelines.sources.photos`): one class per photograph, JPEG crops of it. What
the "your own images" journey tests run on, offline."""

from __future__ import annotations

import os

import numpy as np

JOURNEY_CLASSES = ("chelsea", "coffee", "rocket", "china")  # distinct photographs


def crop(image: np.ndarray, rng, size: int) -> np.ndarray:
    """A random square crop of 45-90% of the shorter side, flipped half the time, resized to
    `size` (uint8 HxWx3)."""
    import tensorflow as tf

    h, w = image.shape[:2]
    side = int(min(h, w) * rng.uniform(0.45, 0.9))
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    out = image[top:top + side, left:left + side]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return tf.cast(tf.image.resize(out, (size, size), antialias=True) + 0.5, tf.uint8).numpy()


def write_jpeg(path, image: np.ndarray) -> str:
    import tensorflow as tf

    with open(path, "wb") as f:
        f.write(tf.io.encode_jpeg(image, quality=90).numpy())
    return os.fspath(path)


def photo_folder(root, classes=JOURNEY_CLASSES, *, per_class: int = 10, size: int = 128,
                 held_out: int = 1, seed: int = 0) -> dict[str, list[str]]:
    """Write `root/<class>/<class>_<i>.jpg` (`per_class` crops of each photograph) and
    `held_out` more crops per class beside the folder (`root/../held_out/`); returns
    {class: [held-out JPEG paths]}."""
    from pipelines.sources.photos import photo

    rng = np.random.default_rng(seed)
    held = {}
    outside = os.path.join(os.path.dirname(os.path.abspath(root)), "held_out")
    os.makedirs(outside, exist_ok=True)
    for name in classes:
        image = photo(name)
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            write_jpeg(os.path.join(root, name, f"{name}_{i}.jpg"), crop(image, rng, size))
        held[name] = [write_jpeg(os.path.join(outside, f"{name}_{i}.jpg"), crop(image, rng, size))
                      for i in range(held_out)]
    return held
