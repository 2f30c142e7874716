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
  `digits_5_9` are the two halves for transfer experiments;
- TFRecords written by `write_tfrecords` / `python -m tools.make_tfrecords`: a prefix `P` with
  its metadata `P.json` beside the shards `P-<split>.tfrecord-00000-of-0000N`; records are
  `tf.train.Example`s with the feature keys of TensorFlow's ImageNet converters
  (`image/encoded`, `image/format`, `image/class/label`, `image/class/text`, `image/filename`);
- an image folder `root/<class>/**/*.{jpg,png,gif,bmp,webp,jxl}` (classes sorted by name, like
  `keras.utils.image_dataset_from_directory`; hidden files such as .DS_Store are ignored; an
  existing folder wins over a TFDS name of the same spelling). Splits: `root/<split>/<class>/...`
  when that subfolder exists (a separate validation folder; labels follow `root/train`'s
  classes), else
  "train" / "validation" (alias "val", "test") / "all" of `root` itself, stratified per class and fixed by
  `split_seed` (each class's files ordered by a hash of (seed, relative path); the first
  `validation_fraction` of them are the validation split, so adding or removing a file moves no
  other file between splits);
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
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import socket
import tempfile
import threading
import zlib
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from kerasnets.utils import atomic_write_text, network_available  # noqa: F401 (re-export)

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
HELD_OUT = ("validation", "val", "test")  # names of a single folder's held-out part
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".jxl")
TFRECORD_FORMAT = "kerasnets.tfrecords.v1"
from kerasnets.utils import NETWORK_PROBE  # noqa: E402 - where TFDS downloads prepared datasets from

_DIGITS_LOW, _DIGITS_HIGH = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
_BUILTINS: dict[str, tuple[tuple[int, ...] | None, str]] = {
    "digits": (None, "scikit-learn's handwritten digits: 1797 8x8x1 images, 10 classes, "
                     "train/test 80/20 stratified (offline)"),
    "digits_0_4": (_DIGITS_LOW, "digits 0-4 only (labels 0..4), for transfer experiments"),
    "digits_5_9": (_DIGITS_HIGH, "digits 5-9 only (labels 0..4, names '5'..'9'), for transfer "
                                 "experiments"),
}


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
    """A TFDS dataset is not prepared locally and cannot be downloaded from here."""


def list_sources() -> dict[str, str]:
    """Built-in sources (name -> description); tools print these as choices. Beyond these,
    `load` takes a TFDS name, an image-folder path or a TFRecord prefix."""
    return {name: desc for name, (_, desc) in _BUILTINS.items()}


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
        validation (digits: train / test) split and is independent of it, so changing `seed`
        never moves an example between splits.
    on_error: "raise" or "skip" for bad files of an image folder (see module docstring).
    channels: None keeps the source's channels (TFDS, digits: their own; encoded files: 3);
        1 or 3 converts (grayscale <-> RGB).
    verify: "decode" or "header" — how image-folder files are checked up front.
    download / manual_dir: TFDS only (manual_dir: files downloaded by hand, e.g. ImageNet).
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
    kind, target = resolve(source)
    opts = dict(seed=seed, shuffle_files=shuffle_files, deterministic=deterministic)
    if kind == "builtin":
        ds, info = _load_digits(target, split, classes, split_seed, **opts)
    elif kind == "tfrecord":
        ds, info = _load_tfrecords(target, split, classes, channels, on_error, **opts)
    elif kind == "folder":
        ds, info = _load_folder(target, split, classes, channels, on_error, split_seed,
                                validation_fraction, verify, **opts)
    else:
        ds, info = _load_tfds(target, split, classes, data_dir, download, manual_dir, **opts)
    if channels is not None and kind in ("builtin", "tfds"):
        ds = ds.map(lambda x, y: (_convert_channels(x, channels), y), num_parallel_calls=AUTOTUNE,
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
                return prefix, _tfrecord_meta(target) or _missing_tfrecord_meta(target)
            return prefix, os.path.expanduser(target) if prefix == "folder" else target
    if source in _BUILTINS:
        return "builtin", source
    meta = _tfrecord_meta(source)
    if meta:
        return "tfrecord", meta
    if os.path.isdir(os.path.expanduser(source)):
        return "folder", os.path.expanduser(source)
    if source.startswith(("/", "./", "../", "~")):
        raise FileNotFoundError(f"No such image folder or TFRecord prefix (PREFIX.json): "
                                f"{source}")
    return "tfds", source


def _tfrecord_meta(prefix: str) -> str | None:
    path = os.path.expanduser(prefix)
    path = path if path.endswith(".json") else path + ".json"
    return path if os.path.isfile(path) else None


def _missing_tfrecord_meta(prefix):
    raise FileNotFoundError(f"No TFRecord metadata {prefix}.json: read TFRecords through the "
                            f"prefix that tools.make_tfrecords was given as --output.")


# ----------------------------------------------------------------------------- helpers

def _convert_channels(image, channels: int):
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


def _select_classes(classes, class_names: Sequence[str]) -> list[int]:
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


def _remap(ds, keep: list[int], num_classes: int, deterministic: bool):
    """Keep labels in `keep` and renumber them 0..k-1 (in tf.data)."""
    table = np.full(num_classes, -1, np.int64)
    table[keep] = np.arange(len(keep))
    table = tf.constant(table)
    ds = ds.map(lambda x, y: (x, tf.gather(table, y)), num_parallel_calls=AUTOTUNE,
                deterministic=deterministic)
    return ds.filter(lambda x, y: y >= 0)


def _shuffled(ds, n: int, seed: int, shuffle: bool):
    return ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True) if shuffle else ds


# ----------------------------------------------------------------------------- digits

def digits_arrays(split: str = "train", *, split_seed: int = 0, test_fraction: float = 0.2):
    """(images uint8 [N, 8, 8, 1], labels int64 [N]) of scikit-learn's digits for "train",
    "test" or "all"; the split is stratified and fixed by `split_seed`."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError("The built-in 'digits' source needs scikit-learn: "
                          "pip install scikit-learn") from e
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int64)
    if split == "all":
        return images, labels
    if split not in ("train", "test"):
        raise ValueError(f"Unknown split {split!r} of 'digits': choose 'train', 'test' or 'all'.")
    rng = np.random.default_rng(split_seed)
    is_test = np.zeros(len(labels), bool)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        is_test[idx[:int(round(len(idx) * test_fraction))]] = True
    mask = is_test if split == "test" else ~is_test
    return images[mask], labels[mask]


def _load_digits(name, split, classes, split_seed, *, seed, shuffle_files, deterministic):
    subset, _ = _BUILTINS[name]
    if subset is not None and classes is not None:
        raise ValueError(f"{name!r} already selects classes {subset}; use 'digits' with "
                         f"classes=... instead.")
    classes = subset if classes is None else classes
    images, labels = digits_arrays(split, split_seed=split_seed)
    names = tuple(str(d) for d in range(10))
    if classes is not None:
        keep = _select_classes(classes, names)
        mask = np.isin(labels, keep)
        lookup = {k: i for i, k in enumerate(keep)}
        images, labels = images[mask], np.array([lookup[v] for v in labels[mask]], np.int64)
        names = tuple(names[k] for k in keep)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = _shuffled(ds, len(labels), seed, shuffle_files)
    return ds, DatasetInfo(name, len(names), names, len(labels), (8, 8, 1))


# ----------------------------------------------------------------------------- TFDS

def _tfds_builder(name: str, data_dir):
    import tensorflow_datasets as tfds

    base = name.split("/")[0].split(":")[0]
    if ":" not in name.split("/")[0]:  # community namespaces ("ns:name") go to tfds as they are
        known = tfds.list_builders(with_community_datasets=False)
        if base not in known:
            choices = sorted(known) + list(_BUILTINS)
            close = difflib.get_close_matches(base.lower(), choices, n=5, cutoff=0.6)
            close += [n for n in choices if base and base.lower() in n and n not in close]
            hint = f" Did you mean: {', '.join(close[:5])}?" if close else ""
            raise ValueError(f"Unknown source {name!r}: not a built-in set "
                             f"({', '.join(_BUILTINS)}), an image folder, TFRecords "
                             f"(PREFIX.json) or a TFDS dataset.{hint}")
    return tfds.builder(name, data_dir=os.path.expanduser(data_dir) if data_dir else None)


def _download_is_mocked() -> bool:
    # Under tfds.testing.mock_data, download_and_prepare is a no-op: nothing would be fetched.
    import tensorflow_datasets as tfds

    fn = tfds.core.DatasetBuilder.download_and_prepare
    return getattr(fn, "__module__", "").startswith("tensorflow_datasets.testing")


def _prepare_tfds(builder, name, download, manual_dir):
    """Make sure `builder` is prepared, failing fast where it cannot be."""
    import tensorflow_datasets as tfds

    if builder.is_prepared() or _download_is_mocked():
        return
    where = os.fspath(builder.data_dir)
    base = name.split("/")[0].split(":")[0]
    how = (f"download it on a machine with network (`tfds build {base}"
           f"{' --config ' + name.split('/')[1] if '/' in name else ''} --data_dir DIR`) and "
           f"copy DIR/{base} into {os.fspath(builder.data_dir_root)}, or pass data_dir= where "
           f"it is prepared, or use a local image folder or TFRecords.")
    if not download:
        raise DatasetUnavailableError(f"TFDS dataset {name!r} is not in {where} and "
                                      f"download=False: {how}")
    if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        manual = manual_dir or os.path.join(os.fspath(builder.data_dir_root), "downloads",
                                            "manual")
        if not os.path.isdir(manual) or not os.listdir(manual):
            raise DatasetUnavailableError(
                f"TFDS dataset {name!r} is not in {where} and needs files downloaded by hand "
                f"into {manual} (or pass manual_dir=):\n{builder.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    elif not network_available():
        raise DatasetUnavailableError(
            f"TFDS dataset {name!r} is not in {where} and there is no network to download it "
            f"({NETWORK_PROBE[0]} is unreachable): {how}")
    config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
    builder.download_and_prepare(download_config=config)


def _tfds_keys(info) -> tuple[str, str]:
    import tensorflow_datasets as tfds

    keys = info.supervised_keys if isinstance(info.supervised_keys, tuple) and \
        len(info.supervised_keys) == 2 and all(isinstance(k, str) for k in info.supervised_keys) \
        else ("image", "label")
    features = info.features
    image, label = keys
    if image not in features or not isinstance(features[image], tfds.features.Image) or \
            features[image].dtype != tf.uint8 or label not in features or \
            not isinstance(features[label], tfds.features.ClassLabel):
        raise ValueError(f"TFDS dataset {info.name!r} is not an image-classification dataset "
                         f"(need a uint8 Image feature and a ClassLabel; it has {features}).")
    return image, label


def _load_tfds(name, split, classes, data_dir, download, manual_dir, *, seed, shuffle_files,
               deterministic):
    import tensorflow_datasets as tfds

    builder = _tfds_builder(name, data_dir)
    _prepare_tfds(builder, name, download, manual_dir)
    image_key, label_key = _tfds_keys(builder.info)
    read_config = tfds.ReadConfig(shuffle_seed=seed, num_parallel_calls_for_decode=AUTOTUNE,
                                  num_parallel_calls_for_interleave_files=AUTOTUNE)
    ds = builder.as_dataset(split=split, shuffle_files=shuffle_files, read_config=read_config)
    ds = ds.map(lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int64)),
                num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    label_feature = builder.info.features[label_key]
    names = tuple(label_feature.names)
    try:  # unknown without split metadata (e.g. under tfds.testing.mock_data)
        num_examples = int(builder.info.splits[split].num_examples) or None
    except Exception:  # noqa: BLE001 - tfds raises various errors for missing splits
        num_examples = None
    if classes is not None:
        keep = _select_classes(classes, names)
        ds = _remap(ds, keep, len(names), deterministic)
        names, num_examples = tuple(names[k] for k in keep), None
    shape = tuple(builder.info.features[image_key].shape)
    return ds, DatasetInfo(name, len(names), names, num_examples, shape)


# ----------------------------------------------------------------------------- image folders

_MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png", b"GIF87a": "gif",
          b"GIF89a": "gif", b"BM": "bmp", b"\xff\x0a": "jxl",
          b"\x00\x00\x00\x0cJXL \r\n\x87\n": "jxl"}


def header_problem(path: str) -> str | None:
    """Why `path` is not a readable image judging by its first and last bytes, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(os.path.getsize(path) - 16, 0))
            tail = f.read(16)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if not head:
        return "empty file"
    kind = "webp" if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else \
        next((k for m, k in _MAGIC.items() if head.startswith(m)), None)
    if kind is None:
        return f"not a supported image (starts with {head[:8]!r})"
    if kind == "jpeg" and b"\xff\xd9" not in tail:
        return "truncated JPEG (no end-of-image marker)"
    if kind == "png" and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk)"
    return None


def _decode_problem(path: str, channels: int) -> str:
    reason = header_problem(path)
    if reason:
        return reason
    try:
        tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    except (tf.errors.OpError, ValueError) as e:
        message = getattr(e, "message", str(e)).split("}}")[-1].split("[Op:")[0].strip()
        return f"cannot be decoded ({message})"
    return "cannot be decoded"


def verify_images(files: Sequence[str], *, channels: int = 3, mode: str = "decode"
                  ) -> tuple[dict[int, str], list[tuple[int, ...]]]:
    """({index: problem}, shapes of the good files in order). mode="decode" decodes every file
    once in a parallel tf.data pass (`ignore_errors` drops the bad ones, which are then
    diagnosed one by one); mode="header" only checks magic bytes and end markers."""
    if mode == "header":
        problems = {i: p for i, p in enumerate(map(header_problem, files)) if p}
        return problems, []
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(files), dtype=np.int64),
                                             np.asarray(files, dtype=object).astype(str)))
    ds = ds.map(lambda i, f: (i, tf.shape(tf.io.decode_image(
        tf.io.read_file(f), channels=channels, expand_animations=False))),
        num_parallel_calls=AUTOTUNE, deterministic=False)
    shapes: dict[int, tuple[int, ...]] = {}
    for idx, shape in ds.ignore_errors().batch(1024).as_numpy_iterator():
        shapes.update(zip(idx.tolist(), map(tuple, shape.tolist())))
    problems = {i: _decode_problem(files[i], channels)
                for i in range(len(files)) if i not in shapes}
    return problems, [shapes[i] for i in sorted(shapes)]


def _handle_problems(problems: list[tuple[str, str]], on_error: str, where: str) -> tuple[str, ...]:
    if not problems:
        return ()
    listing = "; ".join(f"{p}: {why}" for p, why in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    if on_error == "raise":
        raise ValueError(f"{len(problems)} bad file(s) in {where}: {listing}{more}. Fix or "
                         f"remove them, or pass on_error='skip' (tools: --on_error skip) to "
                         f"leave them out.")
    log.warning("Skipped %d bad file(s) in %s: %s%s", len(problems), where, listing, more)
    return tuple(p for p, _ in problems)


def _class_dirs(root: str) -> list[str]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"No such image folder: {root}")
    return sorted(d for d in os.listdir(root)
                  if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))


def _split_key(seed: int, relpath: str) -> int:
    return zlib.crc32(f"{seed}:{relpath}".encode())


@dataclasses.dataclass
class FolderListing:
    """Files of one split of an image folder (before decode checks)."""

    root: str
    class_names: tuple[str, ...]
    files: list[str]
    labels: list[int]
    problems: list[tuple[str, str]]  # non-image files, empty class folders


def list_folder(root: str, split: str = "train", *, split_seed: int = 0,
                validation_fraction: float = 0.2) -> FolderListing:
    """The files and labels of `split` of the image folder `root` (see the module docstring
    for the layouts), with the problems found while listing (not yet decoding)."""
    root = os.path.abspath(os.path.expanduser(root))
    separate = os.path.isdir(os.path.join(root, split)) and _class_dirs(os.path.join(root, split))
    if not separate and os.path.isdir(os.path.join(root, "train")) and \
            _class_dirs(os.path.join(root, "train")):
        raise ValueError(f"{root} holds split folders ({', '.join(_class_dirs(root))}) but no "
                         f"{split!r} folder of classes.")
    folder = os.path.join(root, split) if separate else root
    names = _class_dirs(os.path.join(root, "train") if separate and
                        os.path.isdir(os.path.join(root, "train")) else folder)
    if not names:
        raise ValueError(f"No class folders in {folder}: expected {folder}/<class>/<image files>.")
    if not separate and split not in ("train", "all") + HELD_OUT:
        raise ValueError(f"Unknown split {split!r} of {root}: it has no {split!r} subfolder; "
                         f"splits of a single folder are 'train', 'validation' (alias 'val', "
                         f"'test') and 'all'.")
    if not separate and split in HELD_OUT and validation_fraction <= 0:
        raise ValueError(f"split={split!r} of a single folder needs validation_fraction > 0.")
    extra = sorted(set(_class_dirs(folder)) - set(names))
    if extra:
        raise ValueError(f"{folder} has classes that {root}/train lacks: {', '.join(extra)}.")
    files, labels, problems = [], [], []
    for label, name in enumerate(names):
        class_dir = os.path.join(folder, name)
        found = []
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue  # .DS_Store and the like
                path = os.path.join(dirpath, fn)
                if os.path.splitext(fn)[1].lower() in IMAGE_EXTENSIONS:
                    found.append(path)
                else:
                    problems.append((path, "not an image file (extension)"))
        if not found:
            if os.path.isdir(class_dir):
                problems.append((class_dir, "empty class folder (no image files)"))
            continue
        if not separate and split != "all":
            found.sort(key=lambda p: _split_key(split_seed, os.path.relpath(p, root)))
            n_val = int(round(len(found) * validation_fraction))
            n_val = min(n_val, len(found) - 1) if len(found) > 1 else 0
            found = sorted(found[:n_val] if split in HELD_OUT else found[n_val:])
        files += found
        labels += [label] * len(found)
    return FolderListing(root, tuple(names), files, labels, problems)


def _checked_listing(root, split, *, split_seed, validation_fraction, on_error, verify,
                     channels):
    listing = list_folder(root, split, split_seed=split_seed,
                          validation_fraction=validation_fraction)
    bad, shapes = verify_images(listing.files, channels=channels, mode=verify)
    problems = listing.problems + [(listing.files[i], why) for i, why in sorted(bad.items())]
    skipped = _handle_problems(problems, on_error, f"{listing.root} (split {split!r})")
    keep = [i for i in range(len(listing.files)) if i not in bad]
    listing.files = [listing.files[i] for i in keep]
    listing.labels = [listing.labels[i] for i in keep]
    return listing, shapes, skipped


def _image_shape(shapes, channels):
    unique = set(shapes)
    return unique.pop() if len(unique) == 1 else (None, None, channels)


def _load_folder(root, split, classes, channels, on_error, split_seed, validation_fraction,
                 verify, *, seed, shuffle_files, deterministic):
    channels = channels or 3
    listing, shapes, skipped = _checked_listing(
        root, split, split_seed=split_seed, validation_fraction=validation_fraction,
        on_error=on_error, verify=verify, channels=channels)
    files, labels, names = listing.files, np.asarray(listing.labels, np.int64), listing.class_names
    if classes is not None:
        keep = _select_classes(classes, names)
        mask = np.isin(labels, keep)
        lookup = {k: i for i, k in enumerate(keep)}
        files = [f for f, m in zip(files, mask) if m]
        shapes = [s for s, m in zip(shapes, mask) if m] if shapes else shapes
        labels = np.array([lookup[v] for v in labels[mask]], np.int64)
        names = tuple(names[k] for k in keep)
    if not files:
        raise ValueError(f"No usable images in split {split!r} of {listing.root}.")

    def decode(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                   expand_animations=False)
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(files, dtype=str), labels))
    ds = _shuffled(ds, len(files), seed, shuffle_files)
    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if on_error == "skip":
        ds = ds.ignore_errors(log_warning=True)  # files that changed after the check
    shape = _image_shape(shapes, channels) if shapes else (None, None, channels)
    info = DatasetInfo(os.path.basename(listing.root.rstrip("/")), len(names), names,
                       len(files), shape, skipped)
    return ds, info


# ----------------------------------------------------------------------------- TFRecords

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}


def _example(data: bytes, label: int, class_name: str, relpath: str, shape, fmt: str) -> bytes:
    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

    feature = {"image/encoded": b(data), "image/format": b(fmt.encode()),
               "image/class/label": i(label), "image/class/text": b(class_name.encode()),
               "image/filename": b(relpath.encode())}
    if shape:
        feature.update({"image/height": i(shape[0]), "image/width": i(shape[1]),
                        "image/channels": i(shape[2])})
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecords(input_dir: str, output_prefix: str, *, num_shards: int = 1,
                    validation_fraction: float = 0.0, split_seed: int = 0, seed: int = 0,
                    on_error: str = "raise", verify: str = "decode", channels: int = 3,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Convert the image folder `input_dir` to sharded TFRecords `PREFIX-<split>.tfrecord-
    0000i-of-0000N` + `PREFIX.json` (class names, splits, counts); returns that metadata.

    The splits are exactly those of `load(input_dir, split, split_seed=...,
    validation_fraction=...)`: "train" (and "validation" when validation_fraction > 0, written
    in max(1, round(num_shards * validation_fraction)) shards). Images are stored as they are
    (no re-encoding), checked first like `load` does (`on_error`, `verify`); examples are spread
    over the shards in an order shuffled by `seed`. Shards are written to temporary files and
    moved into place together, then the metadata; an interrupted run leaves no partial output.
    `progress(done, total)` is called after every example.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}.")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    prefix = os.path.abspath(os.path.expanduser(output_prefix))
    out_dir, stem = os.path.dirname(prefix), os.path.basename(prefix)
    splits = {"train": num_shards}
    if validation_fraction > 0:
        splits["validation"] = max(1, int(round(num_shards * validation_fraction)))
    listings, skipped = {}, []
    for split in splits:
        listing, shapes, bad = _checked_listing(
            input_dir, split, split_seed=split_seed, validation_fraction=validation_fraction,
            on_error=on_error, verify=verify, channels=channels)
        if splits[split] > len(listing.files):
            raise ValueError(f"num_shards: {splits[split]} shards for split {split!r} but only "
                             f"{len(listing.files)} images.")
        listings[split] = (listing, shapes)
        skipped += [s for s in bad if s not in skipped]
    class_names = listings["train"][0].class_names
    total = sum(len(lst.files) for lst, _ in listings.values())
    os.makedirs(out_dir, exist_ok=True)
    temps: list[tuple[str, str]] = []
    meta = {"format": TFRECORD_FORMAT, "source": listings["train"][0].root,
            "class_names": list(class_names), "split_seed": split_seed,
            "validation_fraction": validation_fraction, "channels": channels, "splits": {},
            "skipped": skipped}
    all_shapes = []
    done = 0
    try:
        for split, n_shards in splits.items():
            listing, shapes = listings[split]
            order = np.random.default_rng(seed).permutation(len(listing.files))
            names = [f"{stem}-{split}.tfrecord-{i:05d}-of-{n_shards:05d}"
                     for i in range(n_shards)]
            counts = [0] * len(class_names)
            for shard, name in enumerate(names):
                fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".tmp-", suffix="-" + name)
                os.close(fd)
                temps.append((tmp, os.path.join(out_dir, name)))
                with tf.io.TFRecordWriter(tmp) as writer:
                    for i in order[shard::n_shards]:
                        path, label = listing.files[i], listing.labels[i]
                        with open(path, "rb") as f:
                            data = f.read()
                        shape = shapes[i] if shapes else None
                        fmt = os.path.splitext(path)[1].lower().lstrip(".").replace("jpg", "jpeg")
                        writer.write(_example(data, label, class_names[label],
                                              os.path.relpath(path, listing.root), shape, fmt))
                        counts[label] += 1
                        done += 1
                        if progress:
                            progress(done, total)
            all_shapes += shapes
            meta["splits"][split] = {"num_examples": len(listing.files), "files": names,
                                     "class_counts": counts}
        meta["image_shape"] = list(_image_shape(all_shapes, channels)) if all_shapes else None
        previous = _previous_shards(prefix + ".json")
        for tmp, final in temps:
            os.replace(tmp, final)
        temps = []
        atomic_write_text(prefix + ".json", json.dumps(meta, indent=1) + "\n")
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.remove(tmp)
    written = {n for s in meta["splits"].values() for n in s["files"]}
    for old in previous - written:  # shards of an earlier run with other shard counts
        if os.path.exists(os.path.join(out_dir, old)):
            os.remove(os.path.join(out_dir, old))
    return meta


def _previous_shards(meta_path) -> set[str]:
    try:
        with open(meta_path) as f:
            return {n for s in json.load(f)["splits"].values() for n in s["files"]}
    except (OSError, ValueError, KeyError):
        return set()


def _load_tfrecords(meta_path, split, classes, channels, on_error, *, seed, shuffle_files,
                    deterministic):
    with open(meta_path) as f:
        meta = json.load(f)
    if meta.get("format") != TFRECORD_FORMAT:
        raise ValueError(f"{meta_path} is not TFRecord metadata written by kerasnets "
                         f"(format {meta.get('format')!r}, expected {TFRECORD_FORMAT!r}).")
    if split not in meta["splits"] and split in HELD_OUT and "validation" in meta["splits"]:
        split = "validation"
    if split not in meta["splits"]:
        raise ValueError(f"Unknown split {split!r} of {meta_path}: it has "
                         f"{', '.join(map(repr, meta['splits']))}.")
    entry = meta["splits"][split]
    directory = os.path.dirname(os.path.abspath(meta_path))
    files = [os.path.join(directory, n) for n in entry["files"]]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} TFRecord shard(s) listed in {meta_path} are "
                                f"missing, e.g. {missing[0]}.")
    channels = channels or meta.get("channels", 3)

    def parse(record):
        ex = tf.io.parse_single_example(record, _FEATURES)
        image = tf.io.decode_image(ex["image/encoded"], channels=channels,
                                   expand_animations=False)
        return image, ex["image/class/label"]

    ds = tf.data.Dataset.from_tensor_slices(files)
    ds = _shuffled(ds, len(files), seed, shuffle_files)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 16),
                       num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    ds = ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if on_error == "skip":
        ds = ds.ignore_errors(log_warning=True)
    names = tuple(meta["class_names"])
    num_examples = entry["num_examples"]
    if classes is not None:
        keep = _select_classes(classes, names)
        ds = _remap(ds, keep, len(names), deterministic)
        num_examples = sum(entry["class_counts"][k] for k in keep)
        names = tuple(names[k] for k in keep)
    shape = meta.get("image_shape")
    shape = tuple(shape[:-1]) + (channels,) if shape else (None, None, channels)
    name = os.path.basename(meta_path)[:-len(".json")]
    return ds, DatasetInfo(name, len(names), names, num_examples, shape)
