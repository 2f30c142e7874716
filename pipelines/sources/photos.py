"""The built-in `photos` set: deterministic views of ten colour photographs that installed
packages ship (nine of scikit-image's `skimage.data` and scikit-learn's `china.jpg`; no
download), one class per photograph. Real photographs, offline: what int8
exports of ImageNet models calibrate and are checked on by default (upscaled 8x8 digits do not
calibrate them).

A view is a seeded random crop of a photograph (area fraction in [0.25, 1], aspect in
[3/4, 4/3], both sides at least 64 px; every second one flipped left-right), of which the centred
square is resized (antialiased) to 256x256: what the eval recipe's 0.875 centre crop of a
224-pixel model sees of the crop anyway. Each photograph has one stream of crops under
`split_seed`: its first 120 views are `train`, the next 30 `validation` (aliases `val`, `test`),
so the splits are different views of the same photographs (1200 and 300 in all); `all` is both.
The photographs are read once and kept in memory; the views are cut in the tf.data map from
`from_tensor_slices` over the crop table (no generator, no decoding), so only the views a
pipeline reads are resized. scikit-image is imported when the set is loaded; without it the
load raises `DatasetUnavailableError` naming `pip install scikit-image`.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import tensorflow as tf

from pipelines.sources.common import AUTOTUNE, DatasetInfo, DatasetUnavailableError, select_rows, \
    shuffled

NAME = "photos"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field",
          "retina", "motorcycle_left", "china", "colorwheel")
# `china` is scikit-learn's sample photograph (`sklearn.datasets.load_sample_image`). It replaced
# skimage's `cat` (2026-12-05), which is the same picture as `chelsea`: two labels on one photo.
SKLEARN_PHOTOS = ("china",)
VIEW_SIZE = 256
SPLITS = {"train": (0, 120), "validation": (120, 150)}   # view index ranges per photograph
ALIASES = {"val": "validation", "test": "validation"}
SOURCES = {NAME: f"views of {len(PHOTOS)} colour sample photographs (scikit-image, "
                 f"scikit-learn): "
                 f"{VIEW_SIZE}x{VIEW_SIZE}x3 random crops / flips, label = photograph, "
                 f"train/validation {SPLITS['train'][1]}/"
                 f"{SPLITS['validation'][1] - SPLITS['validation'][0]} views per photograph "
                 f"(offline; needs scikit-image)"}
INSTALL = "pip install scikit-image (or the tflite / onnx extra: pip install 'kerasnets[tflite]')"


def available() -> bool:
    """Whether scikit-image can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("skimage") is not None
    except (ImportError, ValueError):
        return False


def photo(name: str) -> np.ndarray:
    """The photograph `name` (one of PHOTOS) as uint8 HxWx3."""
    try:
        from skimage import data
    except ImportError as e:
        raise DatasetUnavailableError(f"The built-in {NAME!r} source needs scikit-image: "
                                      f"{INSTALL}.") from e
    try:
        if name in SKLEARN_PHOTOS:
            from sklearn.datasets import load_sample_image

            image = load_sample_image(f"{name}.jpg")
        else:
            image = data.stereo_motorcycle()[0] if name == "motorcycle_left" else \
                getattr(data, name)()
    except Exception as e:  # a data file missing from the installation (skimage may fetch some)
        raise DatasetUnavailableError(f"The sample photograph {name!r} cannot be read "
                                      f"({type(e).__name__}: {e}); reinstall scikit-image: "
                                      f"{INSTALL}.") from e
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def photographs() -> tuple[np.ndarray, ...]:
    """Every photograph of PHOTOS (uint8 HxWx3), read once per process."""
    return tuple(photo(name) for name in PHOTOS)


def crop_boxes(shape, count: int, rng: np.random.Generator, min_area: float = 0.25,
               min_side: int = 64) -> list[tuple[int, int, int, int]]:
    """`count` random crops (top, left, height, width) of an image of `shape`: area fraction in
    [min_area, 1], aspect (width / height) in [3/4, 4/3], both sides at least `min_side`."""
    h, w = shape[:2]
    out = []
    while len(out) < count:
        area = rng.uniform(min_area, 1.0) * h * w
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        ch, cw = int(round(np.sqrt(area / aspect))), int(round(np.sqrt(area * aspect)))
        if ch > h or cw > w or min(ch, cw) < min_side:
            continue
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        out.append((int(top), int(left), ch, cw))
    return out


def views(image: np.ndarray, count: int, rng: np.random.Generator,
          min_area: float = 0.25) -> list[np.ndarray]:
    """`count` random crops of `image` (see `crop_boxes`), every second one flipped
    left-right, at their own sizes (tests/scripts/skimage_views.py writes them as a folder)."""
    out = []
    for i, (top, left, ch, cw) in enumerate(crop_boxes(image.shape, count, rng, min_area)):
        crop = image[top:top + ch, left:left + cw]
        out.append(crop[:, ::-1] if i % 2 else crop)
    return out


def view_table(split: str, split_seed: int = 0):
    """(photograph index [N], centred square of each crop as (top, left, side) [N, 3], flip [N],
    label [N]) of `split`: per photograph, views SPLITS[split] of its crop stream under
    `split_seed`."""
    split = ALIASES.get(split, split)
    if split not in (*SPLITS, "all"):
        raise ValueError(f"Unknown split {split!r} of {NAME!r}: choose 'train', 'validation' "
                         f"(or 'val', 'test') or 'all'.")
    lo, hi = (0, max(h for _, h in SPLITS.values())) if split == "all" else SPLITS[split]
    index, squares, flips = [], [], []
    for p, image in enumerate(photographs()):
        rng = np.random.default_rng([split_seed, p])
        boxes = crop_boxes(image.shape, hi, rng)
        for i in range(lo, hi):
            top, left, ch, cw = boxes[i]
            side = min(ch, cw)
            squares.append((top + (ch - side) // 2, left + (cw - side) // 2, side))
            index.append(p)
            flips.append(i % 2 == 1)
    index = np.array(index, np.int32)
    return index, np.array(squares, np.int32), np.array(flips), index.astype(np.int64)


def load_photos(split, classes, split_seed, *, seed, shuffle_files, deterministic):
    """(dataset, info) of the built-in `photos` set (see the module docstring)."""
    photos = photographs()
    index, squares, flips, labels = view_table(split, split_seed)
    names = PHOTOS
    if classes is not None:
        mask, labels, names = select_rows(labels, classes, names)
        index, squares, flips = index[mask], squares[mask], flips[mask]
    sizes = np.array([p.size for p in photos], np.int64)
    starts = tf.constant(np.concatenate([[0], np.cumsum(sizes)[:-1]]))
    shapes = tf.constant(np.array([p.shape for p in photos], np.int64))
    pixels = tf.constant(np.concatenate([p.reshape(-1) for p in photos]))

    def cut(p, square, flip, label):
        image = tf.reshape(pixels[starts[p]:starts[p] + tf.reduce_prod(shapes[p])], shapes[p])
        top, left, side = square[0], square[1], square[2]
        crop = tf.image.resize(tf.cast(image[top:top + side, left:left + side], tf.float32),
                               (VIEW_SIZE, VIEW_SIZE), antialias=True)
        crop = tf.cond(flip, lambda: crop[:, ::-1], lambda: crop)
        view = tf.cast(tf.clip_by_value(tf.round(crop), 0, 255), tf.uint8)
        return tf.ensure_shape(view, (VIEW_SIZE, VIEW_SIZE, 3)), label

    ds = tf.data.Dataset.from_tensor_slices((index, squares, flips, labels))
    ds = shuffled(ds, len(labels), seed, shuffle_files)
    ds = ds.map(cut, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return ds, DatasetInfo(NAME, len(names), tuple(names), len(labels),
                           (VIEW_SIZE, VIEW_SIZE, 3))
