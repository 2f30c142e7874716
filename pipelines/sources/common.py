"""What every source shares: `DatasetInfo`, the error for an unavailable dataset, and the
tf.data steps applied the same way to each kind (class selection and relabelling, channel
conversion, file-list shuffling)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
HELD_OUT = ("validation", "val", "test")  # names of a single folder's held-out part


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a source holds. `class_names[label]` names a label; `num_examples` is None where
    it is unknown (TFDS without split metadata, e.g. under tfds.testing.mock_data);
    `image_shape` has None for sizes that vary; `skipped` lists files left out by
    `on_error="skip"`."""

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    num_examples: int | None
    image_shape: tuple[int | None, ...] | None
    skipped: tuple[str, ...] = ()


class DatasetUnavailableError(RuntimeError):
    """A TFDS dataset is not prepared locally and cannot be downloaded from here, or a built-in
    set's package (scikit-image for `photos`) is not installed."""


def convert_channels(image, channels: int):
    """`image` (HxWxC) with `channels` channels: grayscale <-> RGB, RGBA -> RGB / grayscale."""
    have = image.shape[-1]
    if have == channels:
        return image
    if have == 1 and channels == 3:
        return tf.image.grayscale_to_rgb(image)
    if have in (3, 4) and channels == 1:
        return tf.image.rgb_to_grayscale(image[..., :3])
    if have == 4 and channels == 3:
        return image[..., :3]
    raise ValueError(f"Cannot convert images with {have} channels to {channels}.")


def select_classes(classes, class_names: Sequence[str]) -> list[int]:
    """Original label ids of `classes` (ints, class names, or digit strings from a command line
    that name no class), in the order given."""
    ids = []
    for c in classes:
        if isinstance(c, str) and c not in class_names and c.strip().isdigit():
            c = int(c)
        if isinstance(c, str) and c in class_names:
            ids.append(list(class_names).index(c))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if not 0 <= c < len(class_names):
                raise ValueError(f"Class {c} is out of range: the source has "
                                 f"{len(class_names)} classes (0..{len(class_names) - 1}).")
            ids.append(int(c))
        else:
            raise ValueError(f"Unknown class {c!r}; the classes are: "
                             f"{', '.join(class_names[:50])}.")
    if len(set(ids)) != len(ids) or not ids:
        raise ValueError(f"classes must be distinct and non-empty, got {tuple(classes)!r}.")
    return ids


def select_rows(labels: np.ndarray, classes, class_names: Sequence[str]):
    """(mask of the kept rows, their labels renumbered 0..k-1, the kept names) for in-memory
    labels (digits arrays, folder listings)."""
    keep = select_classes(classes, class_names)
    mask = np.isin(labels, keep)
    lookup = {k: i for i, k in enumerate(keep)}
    return (mask, np.array([lookup[v] for v in labels[mask]], np.int64),
            tuple(class_names[k] for k in keep))


def remap(ds, keep: list[int], num_classes: int, deterministic: bool):
    """Keep labels in `keep` and renumber them 0..k-1 (in tf.data)."""
    table = np.full(num_classes, -1, np.int64)
    table[keep] = np.arange(len(keep))
    table = tf.constant(table)
    ds = ds.map(lambda x, y: (x, tf.gather(table, y)), num_parallel_calls=AUTOTUNE,
                deterministic=deterministic)
    return ds.filter(lambda x, y: y >= 0)


def shuffled(ds, n: int, seed: int, shuffle: bool):
    """`ds` (n elements) reshuffled every epoch under `seed` when `shuffle`, else as it is."""
    return ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True) if shuffle else ds


def array_source(name: str, images: np.ndarray, labels: np.ndarray, classes, *, seed: int,
                 shuffle_files: bool):
    """(dataset, info) of in-memory digit arrays (labels 0..9, named "0".."9"), keeping
    `classes` (relabelled) when given: `from_tensor_slices`, no generator."""
    names = tuple(str(d) for d in range(10))
    if classes is not None:
        mask, labels, names = select_rows(labels, classes, names)
        images = images[mask]
    ds = shuffled(tf.data.Dataset.from_tensor_slices((images, labels)), len(labels), seed,
                  shuffle_files)
    return ds, DatasetInfo(name, len(names), names, len(labels), tuple(images.shape[1:]))
