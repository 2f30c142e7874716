"""One specialist with a dustbin class beside a generalist (Hinton, Vinyals & Dean,
arXiv:1503.02531, sec. 5; the seed's "specialists" slides), on the MNIST arrays of
`kerasnets.experiments.distillation.hinton`.

- The confusable classes: K-means on the columns of the covariance matrix of the generalist's
  predictions over the training images (classes predicted together cluster together); the group
  whose training images give the most probability to the group's other classes is chosen.
- The specialist starts from the generalist's weights (the same `mlp_1200` with its dropout,
  max-norm and jitter) with a reduced softmax: the group's classes plus one dustbin class whose
  initial logit is the log-sum-exp of the others'. It trains on data enriched in its group (all
  training images of the group and as many others, labelled dustbin), on hard targets plus the
  generalist's soft targets over the same classes (its logits collapsed at T = 1, the dustbin's
  being the log-sum-exp of the others', `collapse_logits`; then tempered by the loss), which
  regularise it. Then its logits are
  corrected for the enrichment (log of true prior / training prior per output).
- Combined prediction, where the generalist's top class is in the group: the specialist's
  probabilities for the group's classes and its dustbin probability shared among the other
  classes in the generalist's proportions (`combine`: the distribution that agrees with the
  specialist's partial one and keeps the generalist's ratios inside the dustbin; with one
  specialist the seed's iterative fit has this closed form).
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasnets.experiments.distillation.hinton import (Arrays, Config, _fit, _optimizer, predict,
                                           train_teacher)
from kerasnets.distillation.losses import distiller


def _softmax(z, temperature: float = 1.0):
    z = np.asarray(z, "float64") / temperature
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def confusable_groups(probabilities: np.ndarray, groups: int = 4, seed: int = 0):
    """Classes grouped by K-means on the columns of the covariance of `probabilities`
    (images x classes): a list of sorted class tuples."""
    from sklearn.cluster import KMeans

    cov = np.cov(np.asarray(probabilities, "float64"), rowvar=False)
    ids = KMeans(groups, n_init=10, random_state=seed).fit_predict(cov.T)
    return [tuple(int(c) for c in np.flatnonzero(ids == g)) for g in range(groups)
            if (ids == g).any()]


def most_confused(groups: Sequence[tuple[int, ...]], probabilities: np.ndarray,
                  labels: np.ndarray) -> tuple[int, ...]:
    """The group (of 2+ classes) whose training images give the most probability, on average,
    to the group's other classes."""
    labels = np.asarray(labels)

    def confusion(group):
        rows = np.isin(labels, group)
        inside = probabilities[rows][:, list(group)].sum(-1)
        own = probabilities[rows, labels[rows]]
        return float((inside - own).mean())

    candidates = [g for g in groups if len(g) > 1]
    if not candidates:
        raise ValueError(f"No group of two or more classes in {groups}.")
    return max(candidates, key=confusion)


def collapse_logits(logits: np.ndarray, group: Sequence[int], temperature: float) -> np.ndarray:
    """Logits over `group` + a dustbin whose softmax at `temperature` is the group's
    probabilities and the sum of the others' (exact)."""
    z = np.asarray(logits, "float64")
    others = np.setdiff1d(np.arange(z.shape[1]), group)
    dust = temperature * np.log(np.exp(z[:, others] / temperature
                                       - (z[:, others] / temperature).max(-1, keepdims=True))
                                .sum(-1)) + z[:, others].max(-1)
    return np.concatenate([z[:, list(group)], dust[:, None]], -1).astype("float32")


def specialist_model(generalist: keras.Model, group: Sequence[int], config: Config):
    """A copy of the generalist with a reduced softmax: `group`'s classes and a dustbin."""
    from kerasnets.experiments.distillation.hinton import teacher_model

    classes = generalist.output_shape[-1]
    full = teacher_model(generalist.input_shape[1:], classes, config.jitter)
    full.set_weights(generalist.get_weights())
    kernel, bias = full.get_layer("predictions").get_weights()
    others = np.setdiff1d(np.arange(classes), group)
    head = keras.layers.Dense(len(group) + 1, name="specialist_predictions")
    x = full.get_layer("predictions").input
    model = keras.Model(full.input, head(x), name="specialist")
    dust_kernel = kernel[:, others].mean(1, keepdims=True)
    head.set_weights([np.concatenate([kernel[:, list(group)], dust_kernel], 1),
                      np.append(bias[list(group)], bias[others].mean() + np.log(len(others)))])
    return model


def combine(generalist_logits: np.ndarray, specialist_logits: np.ndarray,
            group: Sequence[int]) -> np.ndarray:
    """Probabilities: where the generalist's top class is in `group`, the specialist's for the
    group and its dustbin shared in the generalist's proportions; elsewhere the generalist's."""
    p, s = _softmax(generalist_logits), _softmax(specialist_logits)
    group = list(group)
    others = np.setdiff1d(np.arange(p.shape[1]), group)
    out = p.copy()
    use = np.isin(p.argmax(-1), group)
    out[np.ix_(use, group)] = s[use, :-1]
    share = p[np.ix_(use, others)] / p[np.ix_(use, others)].sum(-1, keepdims=True)
    out[np.ix_(use, others)] = s[use, -1:] * share
    return out


def run(data: Arrays, config: Config = Config(), *, seed: int = 0, groups: int = 4,
        epochs: int = 10, log: Callable[[str], None] = print) -> dict:
    """Generalist (the teacher of `hinton`), the most confused group, one specialist, and the
    test errors of the generalist alone and combined."""
    start = time.time()
    generalist = train_teacher(data, config, seed)
    train_logits = predict(generalist, data.train_images)
    test_logits = predict(generalist, data.test_images)
    q = _softmax(train_logits, config.temperature)
    found = confusable_groups(q, groups, seed)
    group = most_confused(found, q, data.train_labels)
    log(f"  generalist {int((test_logits.argmax(-1) != data.test_labels).sum())} errors; "
        f"groups {found}; specialist for {group} ({time.time() - start:.0f} s)")

    labels = data.train_labels
    rng = np.random.default_rng(seed)
    inside = np.flatnonzero(np.isin(labels, group))
    outside = rng.choice(np.flatnonzero(~np.isin(labels, group)), len(inside), replace=False)
    rows = np.sort(np.concatenate([inside, outside]))
    lookup = np.full(data.classes, len(group))
    lookup[list(group)] = np.arange(len(group))
    # Collapsed at T = 1 (the dustbin's logit is the log-sum-exp of the others'), then tempered
    # by the loss: collapsing at T would raise the dustbin by up to T log(others) and, with the
    # same logits read at T = 1, make the specialist call everything dustbin (measured).
    targets = collapse_logits(train_logits[rows], group, 1.0)
    keras.utils.set_random_seed(seed + 2)
    specialist = specialist_model(generalist, group, config)
    batches = tf.data.Dataset.from_tensor_slices(
        ({"images": data.train_images[rows], "teacher_logits": targets}, lookup[labels[rows]]))
    batches = batches.shuffle(len(rows), seed=seed).batch(config.batch_size)
    # The generalist's collapsed logits are cached in the batches; keras' Distiller wants a
    # teacher with the student's output shape, which it never runs here.
    stand_in = specialist_model(generalist, group, config)
    kd = distiller(stand_in, specialist, temperature=config.temperature, alpha=config.alpha)
    kd.compile(optimizer=_optimizer(config, epochs, -(-len(rows) // config.batch_size)))
    _fit(kd, batches, epochs)

    # The enrichment: training priors of the reduced classes against the true ones.
    true = np.append(np.bincount(labels, minlength=data.classes)[list(group)],
                     len(labels) - len(inside)) / len(labels)
    trained = np.bincount(lookup[labels[rows]], minlength=len(group) + 1) / len(rows)
    spec = predict(specialist, data.test_images) + np.log(true / trained)
    combined = combine(test_logits, spec, group)
    test = data.test_labels
    in_group = np.isin(test, group)
    wrong_g, wrong_c = test_logits.argmax(-1) != test, combined.argmax(-1) != test
    return {"seed": seed, "group": list(group), "groups": [list(g) for g in found],
            "generalist_errors": int(wrong_g.sum()), "combined_errors": int(wrong_c.sum()),
            "generalist_group_errors": int(wrong_g[in_group].sum()),
            "combined_group_errors": int(wrong_c[in_group].sum()),
            "specialist_images": int(len(rows)), "epochs": epochs,
            "seconds": round(time.time() - start, 1)}
