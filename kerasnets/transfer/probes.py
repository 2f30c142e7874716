"""What frozen features are worth: a tap's features computed once (`extract_features`,
`features_dataset`), pooled features of several taps in one pass, linear probes per stage and
few-shot logistic regressions (scikit-learn)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import numpy as np

from kerasnets.transfer.heads import BACKBONE_OUT, resolve_tap, stage_taps


def extract_features(model, data, upto, *, training: bool = False):
    """`(features, labels)` numpy arrays: the output of `upto` for every batch of `data` (a
    batched dataset of `(images, labels)`), in inference mode by default."""
    import tensorflow as tf

    tap = resolve_tap(model, upto)
    extractor = keras.Model(model.inputs, model.get_layer(tap).output)
    step = tf.function(lambda x: extractor(x, training=training), reduce_retracing=True)
    features, labels = [], []
    for x, y in data:
        features.append(np.asarray(step(x)))
        labels.append(np.asarray(y))
    if not features:
        raise ValueError("extract_features: the dataset is empty.")
    return np.concatenate(features), np.concatenate(labels)


def pooled_features(model, data, taps) -> tuple[list[np.ndarray], np.ndarray]:
    """`([features per tap], labels)`: each tap's inference-mode output on the batched
    `(images, labels)` dataset `data`, average-pooled over space, every tap from one forward
    pass per batch; labels as class indices."""
    import tensorflow as tf

    names = [resolve_tap(model, tap) for tap in taps]
    extractor = keras.Model(model.inputs, [model.get_layer(n).output for n in names])

    @tf.function(reduce_retracing=True)
    def pooled(x):        # every tap in one forward pass, pooled over space in-graph
        outputs = keras.tree.flatten(extractor(x, training=False))
        return [tf.cast(tf.reduce_mean(f, axis=list(range(1, len(f.shape) - 1)))
                        if len(f.shape) > 2 else f, "float32") for f in outputs]

    parts, labels = [[] for _ in names], []
    for x, y in data:
        for part, f in zip(parts, pooled(x)):
            part.append(np.asarray(f))
        y = np.asarray(y)
        labels.append(y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1))
    if not labels:
        raise ValueError("the dataset is empty.")
    return [np.concatenate(p) for p in parts], np.concatenate(labels)


def _probe_accuracy(x_train, y_train, x_eval, y_eval, max_iter: int = 3000) -> float:
    """A converged multinomial logistic regression on standardised features, scored on eval."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    classifier = LogisticRegression(max_iter=max_iter).fit(scaler.transform(x_train), y_train)
    return float(classifier.score(scaler.transform(x_eval), y_eval))


def linear_probe(model, train_data, eval_data, taps=None, *, max_iter: int = 3000,
                 verbose: int = 0) -> list[dict[str, Any]]:
    """How linearly separable `model`'s features are at each tap: for each layer in `taps`
    (default: every `stage{s}_out`, then `backbone_out` when present; all taps come from one
    forward pass per batch), its inference-mode output on `train_data` / `eval_data` (batched
    `(images, labels)`), average-pooled over space, standardised on the training set, and a
    converged multinomial logistic regression (scikit-learn) fitted on train and scored on
    eval. Returns `[{"tap", "dim", "accuracy"}]`.

    The answer to "from which layer do these features transfer?" (Yosinski et al.), without the
    optimiser settings of a trained head in the way. `verbose=1` shows a progress bar."""
    if taps is None:
        taps = stage_taps(model) + ([BACKBONE_OUT] if BACKBONE_OUT in
                                    [layer.name for layer in model.layers] else [])
    if not taps:
        raise ValueError(f"{model.name} has no stage{{s}}_out layers; pass taps=[layer names].")
    names = [resolve_tap(model, tap) for tap in taps]
    train_x, y_train = pooled_features(model, train_data, names)
    eval_x, y_eval = pooled_features(model, eval_data, names)
    rows = []
    progress = keras.utils.Progbar(len(names), unit_name="tap") if verbose else None
    for name, x_train, x_eval in zip(names, train_x, eval_x):
        rows.append({"tap": name, "dim": int(x_train.shape[1]),
                     "accuracy": _probe_accuracy(x_train, y_train, x_eval, y_eval, max_iter)})
        if progress:
            progress.add(1, [("accuracy", rows[-1]["accuracy"])])
    return rows


def usable_shots(shots: Sequence[int], counts: Sequence[int],
                 log: Callable[[str], None] | None = print) -> list[int]:
    """The k of `shots` that every class can give (`counts`: training images per class, index
    order); each other k is left out with a line through `log` saying why."""
    smallest = min(counts) if len(counts) else 0
    keep = [int(k) for k in shots if int(k) <= smallest]
    for k in shots:
        if int(k) > smallest and log:
            short = [c for c, n in enumerate(counts) if n < int(k)]
            log(f"few-shot k={int(k)} skipped: classes {short} have fewer than {int(k)} "
                f"training images (the smallest class has {smallest}).")
    return keep


def few_shot(model, train_data, eval_data, shots: Sequence[int] = (5, 20), *,
             tap: str = BACKBONE_OUT, seeds: int = 5, max_iter: int = 3000,
             log: Callable[[str], None] | None = print) -> list[dict[str, Any]]:
    """Few-shot transfer of frozen features: for each k in `shots`, `seeds` random draws of k
    training images per class, a logistic regression on the pooled `tap` features of those
    images only (`_probe_accuracy`), scored on all of `eval_data`. Returns
    `[{"shots": k, "accuracy": mean, "std": std, "seeds": n}]` for the k every class can give
    (`usable_shots`: the others are skipped with a line through `log`). `train_data` should be
    one pass over every training image (no dropped remainder): `pipelines.data.Data.train_once`."""
    (train_x,), y_train = pooled_features(model, train_data, [tap])
    classes = np.unique(y_train)
    shots = usable_shots(shots, [int(np.sum(y_train == c)) for c in classes], log)
    if not shots:
        return []
    (eval_x,), y_eval = pooled_features(model, eval_data, [tap])
    rows = []
    for k in shots:
        scores = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            pick = np.concatenate([rng.choice(np.flatnonzero(y_train == c), k, replace=False)
                                   for c in classes])
            scores.append(_probe_accuracy(train_x[pick], y_train[pick], eval_x, y_eval,
                                          max_iter))
        rows.append({"shots": int(k), "accuracy": float(np.mean(scores)),
                     "std": float(np.std(scores)), "seeds": int(seeds)})
    return rows


def features_dataset(model, data, upto, *, shuffle: bool = False, seed: int = 0,
                     batch_size: int | None = None):
    """`data` with its images replaced by the (inference-mode) output of `upto`, computed once:
    a batched dataset to train `tail_model(model, upto)` on."""
    import tensorflow as tf

    x, y = extract_features(model, data, upto)
    if batch_size is None:
        batch_size = int(next(iter(data))[0].shape[0])
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
