"""The built-in sets: scikit-learn's digits with a fixed stratified 80/20 split, and its halves
`digits_0_4` / `digits_5_9`. Built with `from_tensor_slices` over the arrays, not a generator,
so tf.data can optimise and serialise it (no "GeneratorDatasetOp will not be optimized")."""

from __future__ import annotations

import numpy as np

from pipelines.sources.common import array_source

_DIGITS_LOW, _DIGITS_HIGH = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
BUILTINS: dict[str, tuple[tuple[int, ...] | None, str]] = {
    "digits": (None, "scikit-learn's handwritten digits: 1797 8x8x1 images, 10 classes, "
                     "train/test 80/20 stratified (offline)"),
    "digits_0_4": (_DIGITS_LOW, "digits 0-4 only (labels 0..4), for transfer experiments"),
    "digits_5_9": (_DIGITS_HIGH, "digits 5-9 only (labels 0..4, names '5'..'9'), for transfer "
                                 "experiments"),
}


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


def load_builtin(name, split, classes, split_seed, *, seed, shuffle_files, deterministic):
    """(dataset, info) of the built-in set `name` (a key of `BUILTINS`)."""
    subset, _ = BUILTINS[name]
    if subset is not None and classes is not None:
        raise ValueError(f"{name!r} already selects classes {subset}; use 'digits' with "
                         f"classes=... instead.")
    classes = subset if classes is None else classes
    images, labels = digits_arrays(split, split_seed=split_seed)
    return array_source(name, images, labels, classes, seed=seed, shuffle_files=shuffle_files)
