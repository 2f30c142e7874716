"""Image folders `root/<class>/...` (layouts, splits and bad-file handling: see the package
docstring): listing a split (`list_folder`, split keys hashed from (split_seed, relative path)),
checking files up front (`verify_images`: a parallel decode pass, or magic bytes only), and
loading."""

from __future__ import annotations

import dataclasses
import logging
import os
import zlib
from typing import Sequence

import numpy as np
import tensorflow as tf

from pipelines.sources.common import AUTOTUNE, HELD_OUT, DatasetInfo, select_rows, shuffled

log = logging.getLogger("pipelines.sources")  # the package's logger, as before the split

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".jxl")

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


def checked_listing(root, split, *, split_seed, validation_fraction, on_error, verify,
                    channels):
    """(listing without the bad files, shapes of the good ones, skipped files): `list_folder`
    then `verify_images`, bad files raised or skipped as `on_error` says."""
    listing = list_folder(root, split, split_seed=split_seed,
                          validation_fraction=validation_fraction)
    bad, shapes = verify_images(listing.files, channels=channels, mode=verify)
    problems = listing.problems + [(listing.files[i], why) for i, why in sorted(bad.items())]
    skipped = _handle_problems(problems, on_error, f"{listing.root} (split {split!r})")
    keep = [i for i in range(len(listing.files)) if i not in bad]
    listing.files = [listing.files[i] for i in keep]
    listing.labels = [listing.labels[i] for i in keep]
    return listing, shapes, skipped


def image_shape(shapes, channels):
    """The one shape of all `shapes`, else (None, None, channels)."""
    unique = set(shapes)
    return unique.pop() if len(unique) == 1 else (None, None, channels)


def load_folder(root, split, classes, channels, on_error, split_seed, validation_fraction,
                verify, *, seed, shuffle_files, deterministic):
    """(dataset, info) of `split` of the image folder `root`, its files checked first."""
    channels = channels or 3
    listing, shapes, skipped = checked_listing(
        root, split, split_seed=split_seed, validation_fraction=validation_fraction,
        on_error=on_error, verify=verify, channels=channels)
    files, labels, names = listing.files, np.asarray(listing.labels, np.int64), listing.class_names
    if classes is not None:
        mask, labels, names = select_rows(labels, classes, names)
        files = [f for f, m in zip(files, mask) if m]
        shapes = [s for s, m in zip(shapes, mask) if m] if shapes else shapes
    if not files:
        raise ValueError(f"No usable images in split {split!r} of {listing.root}.")

    def decode(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                   expand_animations=False)
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(files, dtype=str), labels))
    ds = shuffled(ds, len(files), seed, shuffle_files)
    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if on_error == "skip":
        ds = ds.ignore_errors(log_warning=True)  # files that changed after the check
    shape = image_shape(shapes, channels) if shapes else (None, None, channels)
    info = DatasetInfo(os.path.basename(listing.root.rstrip("/")), len(names), names,
                       len(files), shape, skipped)
    return ds, info


