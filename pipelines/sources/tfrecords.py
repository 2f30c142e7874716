"""TFRecords with their metadata file (format: see the package docstring): `write_tfrecords`
converts an image folder (checked like `load` checks it, written atomically), `load_tfrecords`
reads a split back."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Callable

import numpy as np
import tensorflow as tf

from kerasnets.utils import atomic_write_text
from pipelines.sources.common import (AUTOTUNE, HELD_OUT, DatasetInfo, remap, select_classes,
                                      shuffled)
from pipelines.sources.folders import checked_listing, image_shape

TFRECORD_FORMAT = "kerasnets.tfrecords.v1"


def find_meta(prefix: str) -> str | None:
    """The metadata file `PREFIX.json` of a TFRecord prefix (or the .json itself), or None."""
    path = os.path.expanduser(prefix)
    path = path if path.endswith(".json") else path + ".json"
    return path if os.path.isfile(path) else None


def require_meta(prefix: str) -> str:
    """`find_meta(prefix)`, raising where there is none (an explicit `tfrecord:` source)."""
    path = find_meta(prefix)
    if path is None:
        raise FileNotFoundError(f"No TFRecord metadata {prefix}.json: read TFRecords through the "
                                f"prefix that tools.make_tfrecords was given as --output.")
    return path


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
        listing, shapes, bad = checked_listing(
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
        meta["image_shape"] = list(image_shape(all_shapes, channels)) if all_shapes else None
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


def load_tfrecords(meta_path, split, classes, channels, on_error, *, seed, shuffle_files,
                   deterministic):
    """(dataset, info) of `split` of the TFRecords described by the metadata file `meta_path`."""
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
    ds = shuffled(ds, len(files), seed, shuffle_files)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 16),
                       num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    ds = ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if on_error == "skip":
        ds = ds.ignore_errors(log_warning=True)
    names = tuple(meta["class_names"])
    num_examples = entry["num_examples"]
    if classes is not None:
        keep = select_classes(classes, names)
        ds = remap(ds, keep, len(names), deterministic)
        num_examples = sum(entry["class_counts"][k] for k in keep)
        names = tuple(names[k] for k in keep)
    shape = meta.get("image_shape")
    shape = tuple(shape[:-1]) + (channels,) if shape else (None, None, channels)
    name = os.path.basename(meta_path)[:-len(".json")]
    return ds, DatasetInfo(name, len(names), names, num_examples, shape)
