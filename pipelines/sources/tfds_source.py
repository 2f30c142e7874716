"""TFDS image-classification datasets. One that is not prepared fails within seconds when
offline (a probe of `NETWORK_PROBE` instead of tfds' minutes of retries), naming `tfds build`;
under `tfds.testing.mock_data` nothing is fetched and no probe runs.

Not called `tfds.py`, so `tfds` stays the alias of tensorflow_datasets (imported inside the
functions: importing it costs seconds)."""

from __future__ import annotations

import difflib
import os

import tensorflow as tf

from kerasnets.utils import NETWORK_PROBE, network_available
from pipelines.sources.common import (AUTOTUNE, DatasetInfo, DatasetUnavailableError, remap,
                                      select_classes)
from pipelines.sources.digits import BUILTINS
from pipelines.sources.photos import SOURCES as PHOTO_SOURCES


def tfds_builder(name: str, data_dir):
    """tfds' builder for `name`; an unknown name raises listing close ones (built-ins too)."""
    import tensorflow_datasets as tfds

    base = name.split("/")[0].split(":")[0]
    if ":" not in name.split("/")[0]:  # community namespaces ("ns:name") go to tfds as they are
        known = tfds.list_builders(with_community_datasets=False)
        if base not in known:
            choices = sorted(known) + list(BUILTINS) + list(PHOTO_SOURCES)
            close = difflib.get_close_matches(base.lower(), choices, n=5, cutoff=0.6)
            close += [n for n in choices if base and base.lower() in n and n not in close]
            hint = f" Did you mean: {', '.join(close[:5])}?" if close else ""
            raise ValueError(f"Unknown source {name!r}: not a built-in set "
                             f"({', '.join([*BUILTINS, *PHOTO_SOURCES])}), an image folder, "
                             f"TFRecords (PREFIX.json) or a TFDS dataset.{hint}")
    return tfds.builder(name, data_dir=os.path.expanduser(data_dir) if data_dir else None)


def _download_is_mocked() -> bool:
    # Under tfds.testing.mock_data, download_and_prepare is a no-op: nothing would be fetched.
    import tensorflow_datasets as tfds

    fn = tfds.core.DatasetBuilder.download_and_prepare
    return getattr(fn, "__module__", "").startswith("tensorflow_datasets.testing")


def prepare_tfds(builder, name, download, manual_dir):
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


def load_tfds(name, split, classes, data_dir, download, manual_dir, *, seed, shuffle_files,
              deterministic):
    """(dataset, info) of the TFDS dataset `name`, prepared first where it can be."""
    import tensorflow_datasets as tfds

    builder = tfds_builder(name, data_dir)
    prepare_tfds(builder, name, download, manual_dir)
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
        keep = select_classes(classes, names)
        ds = remap(ds, keep, len(names), deterministic)
        names, num_examples = tuple(names[k] for k in keep), None
    shape = tuple(builder.info.features[image_key].shape)
    return ds, DatasetInfo(name, len(names), names, num_examples, shape)
