"""Weights for machines without a network: a bundle is a folder of checkpoint files plus
`weights.lock.json`, made on a connected machine and copied to the offline one.

    download(["resnet50", "efficientnet_lite0"], "bundle/")   # tools.weights download
    KERASNETS_WEIGHTS_DIR=bundle/ python ...                  # weights="imagenet" from bundle/
    verify("bundle/")                                         # tools.weights verify

Each lock entry records the variant, source (`keras.applications`, `torchvision`, `timm`,
`package`), URL, file name, the sha256 computed from the file, its size, its license and, for
keras.applications files, `include_top`. With `KERASNETS_WEIGHTS_DIR` set (tools:
`--weights_dir`), `weights="imagenet"` resolves through `imagenet_file` to the bundle's file,
checked against the lock (size, then sha256) before use: a tampered or truncated file is refused
naming it, and a model the bundle lacks gets an error naming the file to fetch and from where.
The published facts (URL, hash, file name, license) come through one adapter,
`default_checkpoints`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

from kerasnets.utils import atomic_file, atomic_write_text
from kerasnets.weights import records
from kerasnets.weights.keras_files import (WeightsMismatchError, WeightsUnavailableError,
                                           sha256sum)

ENV = "KERASNETS_WEIGHTS_DIR"
LOCK = "weights.lock.json"
LICENSES = {  # the licence each source publishes its weights under
    "keras.applications": "Apache-2.0 (keras-team/keras applications weights)",
    "torchvision": "BSD-3-Clause (pytorch/vision)",
    "timm": "see the model card at https://huggingface.co/timm/{model}",
}


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One published file behind `weights="imagenet"` for a variant."""

    variant: str
    source: str
    url: str | None
    file: str                       # its name in a bundle
    license: str
    sha256: str | None = None       # published sha256 (or the prefix torchvision publishes)
    md5: str | None = None          # keras.applications publishes md5
    include_top: bool | None = None  # keras.applications: the top / no-top file
    package_path: str | None = None  # a packaged file: where it is installed


def default_checkpoints(variant: str) -> list[Checkpoint]:
    """The adapter to the checkpoint records (`kerasnets.weights.records`): the file(s)
    `weights="imagenet"` uses for `variant` -- keras.applications' top and no-top files (224 px)
    for a Keras record, else the default record's one file."""
    from kerasnets.zoo import registry

    entry = registry.get_entry(variant)
    record = records.default_checkpoint(entry.name)
    if record is None:
        raise ValueError(f"{entry.name} has no published ImageNet weights to bundle.")
    if record.source == "keras":
        return [Checkpoint(entry.name, "keras.applications", url, name,
                           record.license or LICENSES["keras.applications"], md5=md5,
                           include_top=top)
                for top in (True, False) for name, url, md5 in [record.keras_files.file(top, 224)]]
    license_ = record.license or LICENSES.get(record.source, "UNKNOWN").format(model=record.model)
    return [Checkpoint(entry.name, record.source, record.url, record.file_name, license_,
                       sha256=record.sha256, package_path=record.package_path())]


def read_lock(directory) -> list[dict]:
    path = os.path.join(os.fspath(directory), LOCK)
    if not os.path.exists(path):
        raise WeightsUnavailableError(f"{os.fspath(directory)!r} is not a weights bundle: it has "
                                      f"no {LOCK} (make one with `python -m tools.weights "
                                      f"download --models ... --output {os.fspath(directory)}`).")
    try:
        with open(path) as f:
            entries = json.load(f)["entries"]
        assert all({"variant", "file", "sha256", "size"} <= set(e) for e in entries)
    except Exception as e:  # noqa: BLE001 - bad JSON, wrong layout
        raise WeightsMismatchError(f"{path}: not a valid weights lock ({type(e).__name__}: "
                                   f"{e}).") from e
    return entries


def check_entry(directory, entry: dict) -> str:
    """The entry's file, once its size and sha256 match the lock; raises naming it."""
    path = os.path.join(os.fspath(directory), entry["file"])
    if not os.path.exists(path):
        raise WeightsUnavailableError(f"weights bundle file {path} ({entry['variant']}) is "
                                      f"missing; fetch {entry.get('url') or entry['file']} again.")
    size = os.path.getsize(path)
    if size != entry["size"]:
        raise WeightsMismatchError(f"weights bundle file {path} has {size} bytes, the lock says "
                                   f"{entry['size']}: truncated or replaced; refusing it.")
    digest = sha256sum(path)
    if digest != entry["sha256"]:
        raise WeightsMismatchError(f"weights bundle file {path} has sha256 {digest}, the lock "
                                   f"says {entry['sha256']}: tampered with or corrupt; refusing "
                                   f"it.")
    return path


def imagenet_file(variant: str, *, include_top: bool = True) -> str | None:
    """With `KERASNETS_WEIGHTS_DIR` set: the bundle's checked file for `weights="imagenet"` of
    `variant`; None when it is not set."""
    directory = os.environ.get(ENV)
    if not directory:
        return None
    from kerasnets.zoo import registry

    name = registry.get_entry(variant).name
    for entry in read_lock(directory):
        if entry["variant"] == name and entry.get("include_top") in (None, include_top):
            return check_entry(directory, entry)
    want = [c for c in default_checkpoints(name) if c.include_top in (None, include_top)][0]
    raise WeightsUnavailableError(
        f"the weights bundle {directory} ({ENV}) has no weights for {name}: it needs {want.file} "
        f"(from {want.url or want.package_path or want.source}). On a connected machine run "
        f"`python -m tools.weights download --models {name} --output DIR` and copy DIR's "
        f"{want.file} and {LOCK} here.")


def _fetch(checkpoint: Checkpoint, directory: str, mirror: str | None) -> str:
    """The checkpoint's file in `directory`: copied from its package, or fetched with
    `keras.utils.get_file` (from `mirror` + file name when given), then checked against the
    published hash."""
    import keras

    target = os.path.join(directory, checkpoint.file)
    if checkpoint.source == "package":
        if not checkpoint.package_path:
            raise WeightsUnavailableError(f"{checkpoint.variant}: {checkpoint.license}: the "
                                          f"package is not installed.")
        with atomic_file(target) as tmp:
            shutil.copyfile(checkpoint.package_path, tmp)
    else:
        url = mirror.rstrip("/") + "/" + checkpoint.file if mirror else checkpoint.url
        if os.path.exists(target):
            os.remove(target)  # get_file would trust a file already there
        try:
            keras.utils.get_file(checkpoint.file, url, cache_dir=directory, cache_subdir="",
                                 file_hash=checkpoint.md5)
        except Exception as e:  # noqa: BLE001 - urllib, hash and file errors alike
            raise WeightsUnavailableError(f"could not fetch {url} for {checkpoint.variant} "
                                          f"({type(e).__name__}: {e}).") from e
    if checkpoint.sha256 and not sha256sum(target).startswith(checkpoint.sha256.lower()):
        os.remove(target)
        raise WeightsMismatchError(f"{checkpoint.file} for {checkpoint.variant} does not have the "
                                   f"published sha256 {checkpoint.sha256}; removed.")
    return target


def download(variants, directory, *, mirror: str | None = None, progress=print) -> list[dict]:
    """Fetch (or copy) each variant's default checkpoint(s) into `directory`, verify them, and
    write (merge into) `directory/weights.lock.json`; returns the lock's entries."""
    from kerasnets.zoo import registry

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    lock_path = os.path.join(directory, LOCK)
    entries = read_lock(directory) if os.path.exists(lock_path) else []
    for variant in variants:
        name = registry.get_entry(variant).name
        for checkpoint in default_checkpoints(name):
            progress(f"{name}: {checkpoint.file} ({checkpoint.source})")
            path = _fetch(checkpoint, directory, mirror)
            entry = {"variant": name, "source": checkpoint.source, "url": checkpoint.url,
                     "file": checkpoint.file, "sha256": sha256sum(path),
                     "size": os.path.getsize(path), "license": checkpoint.license}
            if checkpoint.include_top is not None:
                entry["include_top"] = checkpoint.include_top
            entries = [e for e in entries if e["file"] != entry["file"]] + [entry]
            atomic_write_text(lock_path, json.dumps({"format": 1, "entries": entries},
                                                    indent=2) + "\n")
    return entries


def verify(directory) -> list[str]:
    """Every file of a bundle checked against its lock: the problems found ([] when sound)."""
    problems = []
    for entry in read_lock(directory):
        try:
            check_entry(directory, entry)
        except (WeightsMismatchError, WeightsUnavailableError) as e:
            problems.append(str(e))
    return problems
