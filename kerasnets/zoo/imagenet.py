"""ImageNet-1k class names, shipped with the package (no download), and keras-style decoding.

    probs = model.predict(kerasnets.preprocess_input("efficientnet_lite0", images))
    kerasnets.decode_predictions(probs, top=3)
    # [[("n02123045", "tabby", 0.61), ("n02123159", "tiger cat", 0.21), ...], ...]

`kerasnets/data/imagenet_class_index.json` is keras.applications' format (`{"0": ["n01440764",
"tench"], ...}`): the 1000 ILSVRC-2012 WordNet ids in the standard (sorted) order with
torchvision's human-readable labels (which are unique: "crane" the bird is "crane bird");
tests/scripts/make_imagenet_class_index.py rebuilds it from timm's and torchvision's files.
"""

from __future__ import annotations

import functools
import json

NUM_CLASSES = 1000
CLASS_INDEX = "imagenet_class_index.json"


@functools.lru_cache(maxsize=None)
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """`((wnid, label), ...)` of the 1000 ImageNet classes, in class-index order."""
    import importlib.resources

    text = importlib.resources.files("kerasnets").joinpath("data", CLASS_INDEX).read_text()
    index = json.loads(text)
    classes = tuple((index[str(i)][0], index[str(i)][1]) for i in range(len(index)))
    if len(classes) != NUM_CLASSES:
        raise RuntimeError(f"kerasnets/data/{CLASS_INDEX} holds {len(classes)} classes, "
                           f"not {NUM_CLASSES}: the installation is damaged.")
    return classes


def decode_predictions(preds, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """For each row of `preds` (N x 1000 probabilities or scores, numpy or a tensor), the `top`
    classes as `(wnid, label, score)`, highest first (keras.applications'
    `decode_predictions`)."""
    import numpy as np

    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError(f"decode_predictions expects a batch of ImageNet predictions of shape "
                         f"(samples, {NUM_CLASSES}), got shape {preds.shape}.")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) \
            or not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"top must be an integer in [1, {NUM_CLASSES}], got {top!r}.")
    classes = imagenet_classes()
    out = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:top]
        out.append([(*classes[i], float(row[i])) for i in best])
    return out
