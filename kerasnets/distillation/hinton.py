"""Hinton, Vinyals & Dean's MNIST experiments (arXiv:1503.02531, sec. 3; the seed's "Dark
Knowledge" slides) on real digits: `python -m tools.distill --experiment hinton_mnist`.

Per seed, on the caller's arrays (`pipelines.sources.mnist5k_arrays`: 4,000 train / 1,000 test
28x28 MNIST digits; kerasnets never imports pipelines):

(a) the student `mlp_800` (784-800-800-10, no regularisation) trained alone on the hard labels;
    the teacher, the registry's `mlp_1200` (784-1200-1200-10, dropout 0.5 / input dropout 0.2,
    max-norm 3.5) with its input jittered by up to `jitter` pixels (Hinton's 2; the registry's
    0.5 px is that scaled to the 8x8 digits); the student distilled from the teacher's soft
    targets at temperature T plus the hard targets (`Distiller`, weight `alpha` on the hard
    term), with neither dropout nor jitter, from the same initial weights and on the same
    batches as the student alone. The teacher's logits are computed once (no augmentation).
(b) the student distilled on a transfer set without a single 3, then the bias of 3 raised;
(c) the student distilled on a transfer set of 7s and 8s only, then both their biases lowered.

The bias shifts read no test label, nor the label of any single image: `prior_shift`
picks the shift (one number, added to the chosen classes' logits) that makes the share of the
TRAINING images the student predicts as those classes equal to their share of the class prior
(the training split's label frequencies; 1/10 per class here). That share only grows with the
shift, so the shift is the prior-mass quantile of each image's margin
max(other logits) - max(chosen logits): closed form, no search and no labels per image.

`run` returns the result (means over seeds under the keys the issue fixes, per-seed lists
beside them) and `write` stores `hinton_mnist.{json,md,csv}` and `hinton_soft_targets.png`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasnets.distillation.losses import distiller
from kerasnets.distillation.transfer_data import shift_class_bias, transfer_set

NAME = "hinton_mnist"
# The seed's figures (Hinton's lecture, MNIST's 10,000 test digits) as error rates.
SEED = {"student": 146 / 10_000, "teacher": 67 / 10_000, "distilled": 74 / 10_000,
        "omitted_3_threes_correct": 0.986, "only_7_8_accuracy": 0.87}


@dataclasses.dataclass(frozen=True)
class Config:
    """What every seed trains: SGD with momentum, a cosine-decayed rate, batches of
    `batch_size`. Students get `student_epochs` epochs of the full transfer set (the reduced
    transfer sets of (b) and (c) the same number of steps)."""

    teacher_epochs: int = 40
    student_epochs: int = 20
    batch_size: int = 100
    lr: float = 0.05
    momentum: float = 0.9
    temperature: float = 8.0
    alpha: float = 0.1           # weight of the hard-label term; the soft term gets 1 - alpha
    jitter: float = 2.0          # pixels, the teacher's input jitter
    omit_class: int = 3
    only_classes: tuple[int, ...] = (7, 8)


# ----------------------------------------------------------------------------- bias shift

def prior_shift(logits: np.ndarray, classes: Sequence[int], prior_mass: float) -> float:
    """The shift s, added to the logits of `classes`, after which a share `prior_mass` of the
    rows of `logits` (unlabelled images) is predicted as one of `classes`: the
    `prior_mass` quantile of max(other logits) - max(logits of `classes`): a row is predicted
    as one of `classes` exactly when its margin is below s."""
    logits = np.asarray(logits, "float64")
    if not 0 < prior_mass < 1:
        raise ValueError(f"prior_mass must be in (0, 1), got {prior_mass}.")
    chosen = np.zeros(logits.shape[1], bool)
    chosen[list(classes)] = True
    margin = logits[:, ~chosen].max(-1) - logits[:, chosen].max(-1)
    return float(np.quantile(margin, prior_mass))


def class_prior(train_labels: np.ndarray, classes: int) -> np.ndarray:
    """The training split's label frequencies."""
    return np.bincount(np.asarray(train_labels), minlength=classes) / len(train_labels)


# ----------------------------------------------------------------------------- models

def teacher_model(input_shape, classes: int, jitter: float) -> keras.Model:
    """The registry's `mlp_1200` (its dropout and max-norm) with `jitter` pixels of jitter."""
    from kerasnets.applications.mlp import MLPS, hinton_mlp

    return hinton_mlp(**dict(MLPS["mlp_1200"], jitter=jitter), input_shape=input_shape,
                      classes=classes, name="teacher")


def student_model(input_shape, classes: int) -> keras.Model:
    """The registry's `mlp_800`, in logits."""
    from kerasnets.zoo.registry import create_model

    return create_model("mlp_800", input_shape=tuple(input_shape), classes=classes,
                        classifier_activation=None, name="student")


def _optimizer(config: Config, epochs: int, steps_per_epoch: int):
    from kerasnets import training

    schedule = training.make_schedule("cosine", config.lr, epochs=epochs,
                                      steps_per_epoch=steps_per_epoch)
    return training.make_optimizer("sgd", schedule.learning_rate, momentum=config.momentum)


def _fit(model, data: tf.data.Dataset, epochs: int) -> None:
    from kerasnets import training

    training.fit(model, data, epochs=epochs, verbose=0)


def predict(model, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """`model`'s logits over `images`, in inference mode (Keras' predict function, compiled
    once per model)."""
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), "float32")


# ----------------------------------------------------------------------------- one seed

@dataclasses.dataclass
class Arrays:
    """The caller's data: images [N, H, W, C] in 0..255 (kept as float32), int labels [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __post_init__(self):
        self.train_images = np.asarray(self.train_images, "float32")
        self.test_images = np.asarray(self.test_images, "float32")
        self.train_labels = np.asarray(self.train_labels, "int64")
        self.test_labels = np.asarray(self.test_labels, "int64")

    @property
    def classes(self) -> int:
        return int(max(self.train_labels.max(), self.test_labels.max())) + 1


def _examples(data: Arrays) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((data.train_images, data.train_labels))


def shift_to_prior(student, data: Arrays, classes: Sequence[int], prior: np.ndarray):
    """(test logits before, the shift chosen on the TRAINING images, test logits after): the
    shift is `prior_shift` of the student's logits on `data.train_images` (no label is read)."""
    before = predict(student, data.test_images)
    shift = prior_shift(predict(student, data.train_images), classes,
                        float(prior[list(classes)].sum()))
    for k in classes:
        shift_class_bias(student, k, shift)
    return before, shift, predict(student, data.test_images)


def train_teacher(data: Arrays, config: Config, seed: int) -> keras.Model:
    """The teacher of (a), trained on the hard labels with its dropout, max-norm and jitter."""
    steps = -(-len(data.train_labels) // config.batch_size)
    keras.utils.set_random_seed(seed)
    teacher = teacher_model(data.train_images.shape[1:], data.classes, config.jitter)
    teacher.compile(optimizer=_optimizer(config, config.teacher_epochs, steps),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    _fit(teacher, transfer_set(_examples(data), batch_size=config.batch_size, seed=seed),
         config.teacher_epochs)
    return teacher


def run_seed(data: Arrays, config: Config, seed: int,
             log: Callable[[str], None] = print) -> dict:
    """One seed of (a), (b) and (c): test errors, accuracies and the bias shifts."""
    shape, classes = data.train_images.shape[1:], data.classes
    n = len(data.train_labels)
    steps = -(-n // config.batch_size)
    prior = class_prior(data.train_labels, classes)
    examples = _examples(data)
    test_labels = np.asarray(data.test_labels)
    wrong = lambda logits: int((logits.argmax(-1) != test_labels).sum())  # noqa: E731
    out, start = {"seed": seed}, time.time()

    teacher = train_teacher(data, config, seed)
    out["teacher_errors"] = wrong(predict(teacher, data.test_images))
    logits = predict(teacher, data.train_images)
    log(f"  seed {seed}: teacher {out['teacher_errors']} errors ({time.time() - start:.0f} s)")

    keras.utils.set_random_seed(seed + 1)
    init = student_model(shape, classes).get_weights()

    def fresh():
        model = student_model(shape, classes)
        model.set_weights(init)
        return model

    alone = fresh()
    alone.compile(optimizer=_optimizer(config, config.student_epochs, steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    _fit(alone, transfer_set(examples, batch_size=config.batch_size, seed=seed),
         config.student_epochs)
    out["student_errors"] = wrong(predict(alone, data.test_images))

    def distil(exclude: Sequence[int] = ()):
        student = fresh()
        kept = int(np.isin(data.train_labels, exclude, invert=True).sum())
        epochs = max(1, round(config.student_epochs * n / kept))  # the same number of steps
        kd = distiller(teacher, student, temperature=config.temperature, alpha=config.alpha)
        kd.compile(optimizer=_optimizer(config, epochs, -(-kept // config.batch_size)))
        _fit(kd, transfer_set(examples, logits, batch_size=config.batch_size, seed=seed,
                              exclude_labels=tuple(exclude)), epochs)
        return student

    out["distilled_errors"] = wrong(predict(distil(), data.test_images))
    log(f"  seed {seed}: student alone {out['student_errors']}, distilled "
        f"{out['distilled_errors']} errors ({time.time() - start:.0f} s)")

    k = config.omit_class
    before, shift, after = shift_to_prior(distil((k,)), data, (k,), prior)
    is_k = test_labels == k
    out["omitted_3"] = {
        "class": k, "bias_shift": shift,
        "threes_correct_before": float((before.argmax(-1)[is_k] == k).mean()),
        "threes_correct": float((after.argmax(-1)[is_k] == k).mean()),
        "accuracy_before": 1 - wrong(before) / len(test_labels),
        "accuracy": 1 - wrong(after) / len(test_labels)}

    only = config.only_classes
    others = tuple(c for c in range(classes) if c not in only)
    before, shift, after = shift_to_prior(distil(others), data, only, prior)
    out["only_7_8"] = {"classes": list(only), "bias_shift": shift,
                       "accuracy_before": 1 - wrong(before) / len(test_labels),
                       "accuracy": 1 - wrong(after) / len(test_labels)}
    out["seconds"] = round(time.time() - start, 1)
    log(f"  seed {seed}: without {k}s its test accuracy {out['omitted_3']['threes_correct']:.3f}"
        f" (shift {out['omitted_3']['bias_shift']:+.2f}); only {only}: accuracy "
        f"{out['only_7_8']['accuracy']:.3f} (shift {shift:+.2f}) ({out['seconds']:.0f} s)")
    out["soft_targets"] = soft_target_examples(logits, data.train_labels, config.temperature)
    return out


def soft_target_examples(logits: np.ndarray, labels: np.ndarray, temperature: float,
                         label: int = 2, count: int = 3) -> list[dict]:
    """A few training images of `label` with the teacher's tempered probabilities (the seed's
    "this 2 resembles ..." rows): per other class, the image that resembles it most; the
    `count` strongest resemblances, each to another class."""
    z = np.asarray(logits, "float64") / temperature
    q = np.exp(z - z.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    rows = np.flatnonzero(np.asarray(labels) == label)
    others = q[rows].copy()
    others[:, label] = -1
    best = {}   # runner-up class -> (its probability, row)
    for row, k, p in zip(rows, others.argmax(-1), others.max(-1)):
        if p > best.get(k, (-1, None))[0]:
            best[k] = (p, row)
    picked = [row for _, row in sorted(best.values(), reverse=True)[:count]]
    return [{"index": int(i), "label": int(labels[i]), "soft_targets": q[i].round(4).tolist()}
            for i in picked]


# ----------------------------------------------------------------------------- seeds

def summarize(per_seed: Sequence[dict], test_size: int, config: Config) -> dict:
    """The JSON result: means over seeds under the issue's keys, per-seed lists beside them."""
    mean = lambda v: float(np.mean(v))  # noqa: E731
    out = {"experiment": NAME, "test_size": test_size, "seeds": [r["seed"] for r in per_seed],
           "config": dataclasses.asdict(config)}
    for key in ("student_errors", "teacher_errors", "distilled_errors"):
        out[key] = mean([r[key] for r in per_seed])
        out[key + "_per_seed"] = [r[key] for r in per_seed]
    for part, keys in (("omitted_3", ("threes_correct", "accuracy", "threes_correct_before",
                                      "accuracy_before", "bias_shift")),
                       ("only_7_8", ("accuracy", "accuracy_before", "bias_shift"))):
        out[part] = {key: mean([r[part][key] for r in per_seed]) for key in keys}
        out[part].update({key + "_per_seed": [r[part][key] for r in per_seed] for key in keys})
    out["seconds_per_seed"] = [r["seconds"] for r in per_seed]
    out["soft_targets"] = per_seed[0]["soft_targets"]
    out["seed_figures"] = SEED
    return out


def run(data: Arrays, *, num_seeds: int = 3, first_seed: int = 0, config: Config = Config(),
        log: Callable[[str], None] = print) -> dict:
    """Every seed's (a), (b), (c) and their summary (see the module docstring)."""
    if num_seeds < 1:
        raise ValueError(f"num_seeds must be >= 1, got {num_seeds}.")
    per_seed = [run_seed(data, config, seed, log)
                for seed in range(first_seed, first_seed + num_seeds)]
    return summarize(per_seed, len(data.test_labels), config)


def table(result: dict) -> list[dict]:
    """Rows of the Markdown / CSV: the seed's figure beside ours, as error rates."""
    n = result["test_size"]
    rate = lambda key: [v / n for v in result[key + "_per_seed"]]  # noqa: E731
    o3, o78 = result["omitted_3"], result["only_7_8"]
    cfg = result["config"]
    rows = [
        ("(a) student mlp_800 alone (hard labels)", SEED["student"], rate("student_errors")),
        (f"(a) teacher mlp_1200: dropout, max-norm, ±{cfg['jitter']:g} px jitter",
         SEED["teacher"], rate("teacher_errors")),
        (f"(a) student mlp_800 distilled (T={cfg['temperature']:g}, hard weight "
         f"{cfg['alpha']:g}), no dropout, no jitter", SEED["distilled"], rate("distilled_errors")),
        ("(b) no 3s in the transfer set: test 3s wrong, before the bias shift", None,
         [1 - v for v in o3["threes_correct_before_per_seed"]]),
        ("(b) the same, 3's bias raised", 1 - SEED["omitted_3_threes_correct"],
         [1 - v for v in o3["threes_correct_per_seed"]]),
        ("(b) the same, all test digits wrong", None, [1 - v for v in o3["accuracy_per_seed"]]),
        ("(c) only 7s and 8s in the transfer set: all test digits wrong, before", None,
         [1 - v for v in o78["accuracy_before_per_seed"]]),
        ("(c) the same, biases of 7 and 8 lowered", 1 - SEED["only_7_8_accuracy"],
         [1 - v for v in o78["accuracy_per_seed"]])]
    return [{"experiment": label, "seed_error_pct": "" if ref is None else f"{100 * ref:.2f}",
             "our_error_pct": f"{100 * np.mean(ours):.2f}",
             "per_seed_pct": " ".join(f"{100 * v:.1f}" for v in ours)}
            for label, ref, ours in rows]


def write(result: dict, output: str, images: np.ndarray | None = None) -> list[str]:
    """`output/hinton_mnist.{json,md,csv}` and, given the training `images`, the soft-target
    plot `output/hinton_soft_targets.png`; returns the paths written."""
    from kerasnets.plots import plot_soft_targets
    from kerasnets.utils import atomic_write_text, write_tables

    cfg, n = result["config"], result["test_size"]
    paths = [os.path.join(output, NAME + ext) for ext in (".json", ".md", ".csv")]
    if images is not None:
        paths.append(plot_soft_targets(
            [images[r["index"]] for r in result["soft_targets"]],
            [r["soft_targets"] for r in result["soft_targets"]],
            os.path.join(output, "hinton_soft_targets.png"),
            title=f"teacher's soft targets at T={cfg['temperature']:g} (training 2s)"))
        result = dict(result, soft_target_plot=os.path.basename(paths[-1]))
    atomic_write_text(paths[0], json.dumps(result, indent=2) + "\n")
    header = (f"Hinton et al.'s MNIST experiments on mnist5k (4,000 train / {n:,} test real "
              f"MNIST digits), error rates in %: the seed's figures (60,000 train / 10,000 test) "
              f"beside ours, mean over seeds {', '.join(map(str, result['seeds']))} (per seed "
              f"after). SGD momentum {cfg['momentum']:g}, lr {cfg['lr']:g} cosine, batch "
              f"{cfg['batch_size']}; teacher {cfg['teacher_epochs']} epochs, students "
              f"{cfg['student_epochs']} epochs' worth of steps. Bias shifts: the share of "
              f"training images predicted as the shifted classes matched to the class prior "
              f"(no labels read); mean shifts {result['omitted_3']['bias_shift']:+.2f} (3) and "
              f"{result['only_7_8']['bias_shift']:+.2f} (7, 8). "
              f"{np.mean(result['seconds_per_seed']):.0f} s per seed.")
    write_tables(paths[1], table(result), ["experiment", "seed_error_pct", "our_error_pct",
                                           "per_seed_pct"], header=header)
    return paths
