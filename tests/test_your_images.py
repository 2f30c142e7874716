"""The main job on a user's own folder of images: the model card a fine-tuned model carries
(kerasnets.deployment.model_card), every training image seen once by features, the run's error report,
the teacher-file seam of distillation, the export seam and, slow, the whole journey through the
five tools (fine-tune, predict, distil, export, serve)."""

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import conftest
from kerasnets import transfer
from kerasnets.deployment import model_card
from kerasnets.measurement import run_report
from photo_folder import photo_folder, write_jpeg

NAMES = ("zebra", "apple", "mango")   # deliberately not sorted: index order is what counts


def _tiny(classes=3, size=16, channels=3, softmax=True):
    inputs = keras.Input((size, size, channels), name="input")
    x = keras.layers.Conv2D(4, 3, strides=2, name="stage1_out")(inputs)
    x = keras.layers.Identity(name="backbone_out")(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    outputs = keras.layers.Dense(classes, activation="softmax" if softmax else None,
                                 name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny_transfer")


def _card(**kw):
    return model_card.ModelCard(**{**dict(class_names=NAMES, preprocessing="lite", image_size=16,
                                          crop_fraction=None, backbone="efficientnet_lite0",
                                          weights="imagenet", dataset="/data/fruit"), **kw})


def _folder(root, counts=(5, 3, 6), size=20):
    """A class-ordered folder of solid-colour PNGs, `counts` images per class."""
    rng = np.random.default_rng(0)
    for c, n in enumerate(counts):
        os.makedirs(root / f"class{c}")
        for i in range(n):
            image = np.full((size, size, 3), 60 * c + 20, np.uint8) + \
                rng.integers(0, 10, (size, size, 3), dtype=np.uint8)
            (root / f"class{c}" / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    return str(root)


def test_model_card_round_trips_inside_the_keras_file(tmp_path):
    model, path = _tiny(), str(tmp_path / "final.keras")
    model_card.save(model, path, _card())
    assert sorted(os.listdir(tmp_path)) == ["final.keras"]     # no sidecar, no temporary
    assert model_card.CARD_MEMBER in zipfile.ZipFile(path).namelist()
    loaded, card = model_card.load(path)
    assert card == _card() and card.class_names == NAMES and card.crop_fraction is None
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    # a plain .keras file has no card; a bad card / a wrong class count are errors naming why
    model.save(tmp_path / "plain.keras")
    assert model_card.read(tmp_path / "plain.keras") is None
    with pytest.raises(ValueError, match="3 outputs but the card names 2 classes"):
        model_card.save(model, tmp_path / "x.keras", _card(class_names=("a", "b")))
    with pytest.raises(ValueError, match="Unknown preprocessing mode 'lyte'"):
        _card(preprocessing="lyte")
    with zipfile.ZipFile(tmp_path / "plain.keras", "a") as z:
        z.writestr(model_card.CARD_MEMBER, json.dumps({"class_names": ["a"], "exec": "rm"}))
    with pytest.raises(ValueError, match=r"plain.keras: malformed model card.*exec"):
        model_card.read(tmp_path / "plain.keras")
    (tmp_path / "notes.keras").write_text("not a zip")
    with pytest.raises(ValueError, match="not a .keras file"):
        model_card.read(tmp_path / "notes.keras")
    with pytest.raises(ValueError, match=r"classes \['zebra', 'apple', 'mango'\] are not those "
                                         r"of the dataset \['apple', 'mango', 'zebra'\]"):
        card.check_classes(sorted(NAMES))


def test_features_see_every_training_image_once_and_few_shot_adapts(tmp_path, capsys):
    """A class-ordered folder whose training split is not a multiple of the batch: `train`
    drops the last partial batch, `train_once` (what features, probes, baselines and few-shot
    rows are computed on) keeps every image, once."""
    import kerasnets
    from pipelines.data import prepare

    root = _folder(tmp_path / "photos")
    data = prepare(root, kerasnets.get_entry("efficientnet_lite0"), image_size=16,
                   batch_size=4, eval_split="validation")
    counts = np.bincount(np.concatenate([y.numpy() for _, y in data.train_once]), minlength=3)
    expected = [len(os.listdir(os.path.join(root, f"class{c}"))) for c in range(3)]
    validation = np.bincount(np.concatenate([y.numpy() for _, y in data.eval]), minlength=3)
    np.testing.assert_array_equal(counts + validation, expected)   # every image, once
    assert sum(int(tf.shape(y)[0]) for _, y in data.train) < counts.sum()  # the bug it avoids
    model = _tiny()
    (features,), labels = transfer.pooled_features(model, data.train_once, ["backbone_out"])
    np.testing.assert_array_equal(np.bincount(labels, minlength=3), counts)
    cached = transfer.features_dataset(model, data.train_once, "backbone_out")
    assert sum(int(tf.shape(y)[0]) for _, y in cached) == counts.sum() == len(features)
    # few-shot rows use only the k every class can give; the others are skipped with a line
    k = int(counts.min())
    rows = transfer.few_shot(model, data.train_once, data.eval, [1, k, k + 1], seeds=1)
    assert [r["shots"] for r in rows] == [1, k]
    assert f"few-shot k={k + 1} skipped: classes [" in capsys.readouterr().out


def test_finetune_writes_the_main_result_first_and_skips_what_the_data_cannot_give(tmp_path):
    from kerasnets import training
    from kerasnets.experiments import transfer as X

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 32, 32, 3)).astype("float32")
    y = np.array([0] * 6 + [1] * 4)       # class 1 has 4 training images
    x += y[:, None, None, None]
    batched = tf.data.Dataset.from_tensor_slices((x, y)).batch(4, drop_remainder=True)
    once = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    task = X.Task(batched, once, 2, steps_per_epoch=2, class_names=("a", "b"), train_once=once)
    settings = training.resolve_settings({"optimizer": "adam", "lr": 1e-2, "schedule": "constant",
                                          "weight_decay": 0.0, "label_smoothing": 0.0,
                                          "recipe": None, "momentum": 0.9,
                                          "randaugment": False})
    seen = []
    result = X.finetune("lenet5", task, input_shape=(32, 32, 3), settings=settings, epochs=1,
                        model_dir=str(tmp_path), shots=[2, 5], few_shot_draws=1, baseline=True,
                        scratch=False, cache_features=True,
                        on_target=lambda r: seen.append((r.baseline, list(r.skipped))))
    assert seen == [(None, [result.skipped[0]])]   # called once, before the baseline ran
    assert "few-shot k=5 skipped: classes [1] have fewer than 5" in result.skipped[0]
    assert [r["shots"] for r in result.few_shot] == [2] and "random" in result.few_shot[0]
    assert result.baseline is not None


def test_error_report_names_true_and_predicted_classes(tmp_path):
    x = np.stack([np.full((16, 16, 3), v, np.float32) for v in (-1.0, 0.0, 1.0, 0.5)])
    y = np.array([0, 1, 2, 2])
    model = _tiny()
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    report = run_report.error_report(model, data, NAMES, tmp_path, preprocessing="lite")
    predicted = np.asarray(model(x)).argmax(-1)
    wrong = int((predicted != y).sum())
    assert report["misclassified"] == wrong and report["images"] == 4
    assert [r["class"] for r in report["per_class"]] == list(NAMES)
    assert sum(r["correct"] for r in report["per_class"]) == 4 - wrong
    for name in ("per_class.md", "per_class.csv", "confusion.png", "misclassified.png"):
        assert (tmp_path / name).exists(), name
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    rows = run_report.per_class_rows([[2, 0], [1, 1]], ["a", "b"])
    assert rows == [{"class": "a", "images": 2, "correct": 2, "accuracy": 1.0},
                    {"class": "b", "images": 2, "correct": 1, "accuracy": 0.5}]


def test_teacher_file_is_adapted_like_an_imagenet_teacher_and_its_classes_checked(tmp_path):
    from kerasnets.distillation.teachers import file_teacher
    from kerasnets.layers import Renormalize
    from kerasnets.zoo.preprocessing import renormalize

    teacher, path = _tiny(size=16), str(tmp_path / "final.keras")
    model_card.save(teacher, path, _card())
    adapted = file_teacher("efficientnet_lite0", path, 3, input_shape=(24, 24, 1),
                           input_preprocessing="torch", class_names=NAMES, model_name="teacher0")
    assert any(isinstance(layer, Renormalize) for layer in adapted.layers)
    x = np.random.default_rng(0).normal(size=(2, 24, 24, 1)).astype("float32")
    pooled = keras.Model(teacher.inputs, teacher.get_layer("head_pool").output)
    w, b = teacher.get_layer("predictions").get_weights()
    expected = np.asarray(pooled(tf.image.resize(renormalize(x, "torch", "lite", 3),
                                                 (16, 16)))) @ w + b      # logits
    np.testing.assert_allclose(adapted(x), expected, atol=1e-4)
    with pytest.raises(ValueError, match=r"Teacher .*final.keras: The model's classes \['zebra', "
                                         r"'apple', 'mango'\] are not those of the dataset "
                                         r"\['apple', 'mango', 'zebra'\]"):
        file_teacher("efficientnet_lite0", path, 3, input_shape=(16, 16, 3),
                     input_preprocessing="lite", class_names=sorted(NAMES))


def test_export_of_a_carded_model_serves_jpeg_bytes_to_its_names(tmp_path):
    """The export seam: a model card's normalisation, square-resize geometry and class names
    are all an image-bytes SavedModel needs, and the served names are the card's."""
    from kerasnets.deployment.export import export
    from kerasnets.zoo.preprocessing import center_crop_resize, normalize

    model, path = _tiny(), str(tmp_path / "final.keras")
    model_card.save(model, path, _card())
    model, card = model_card.load(path)
    result = export(model, tmp_path / "export", input_dtype="string",
                    preprocessing=card.preprocessing, crop_fraction=card.crop_fraction,
                    class_names=card.class_names, log=None)
    assert result.max_abs_diff < 1e-4
    pixels = np.random.default_rng(1).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    jpeg = write_jpeg(tmp_path / "photo.jpg", pixels)
    served = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"](
        image_bytes=tf.constant([open(jpeg, "rb").read()]))
    image = tf.io.decode_jpeg(open(jpeg, "rb").read(), channels=3)
    probs = model(normalize(center_crop_resize(image, 16, None)[None], "lite")).numpy()[0]
    assert served["top_k_class_names"].numpy()[0][0].decode() == NAMES[int(probs.argmax())]
    np.testing.assert_allclose(served["probabilities"].numpy()[0], probs, atol=1e-4)
    assert json.load(open(tmp_path / "export" / "export.json"))["crop_fraction"] is None


def test_data_dir_with_a_folder_points_to_dataset(tmp_path):
    from pipelines import sources

    root = _folder(tmp_path / "photos", counts=(1, 1, 1))
    with pytest.raises(ValueError, match=r"--data_dir .* is TFDS' directory.*'digits' is a "
                                         r"built-in dataset.*--dataset PATH"):
        sources.load("digits", data_dir=root)
    with pytest.raises(ValueError, match="image-folder"):
        sources.check_data_dir(root, "/tmp/tfds")
    assert sources.check_data_dir("cifar10", "/tmp/tfds") == ("tfds", "cifar10")


def test_tool_flags_offer_the_library_tables():
    proc = subprocess.run([sys.executable, "-c",
        "from absl import flags; import tools.export; "
        "from kerasnets.zoo.preprocessing import MODES; from kerasnets.deployment.export import FORMATS; "
        "F = flags.FLAGS; assert F['preprocessing'].parser.enum_values == list(MODES); "
        "assert 'lite' in MODES and F['format'].parser.enum_values == list(FORMATS); "
        "import tools.flags as s; s.define_training_flags(); s.define_strategy_flags(); "
        "from kerasnets.training import PRESETS, SCHEDULES; "
        "from pipelines.transforms import RECIPES; "
        "assert F['schedule'].parser.enum_values == list(SCHEDULES); "
        "assert F['preset'].parser.enum_values == list(PRESETS); "
        "assert F['calibration_recipe'].parser.enum_values == list(RECIPES); print('ok')"],
        cwd=conftest.ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": conftest.ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_whole_journey_on_a_folder_of_photos(tmp_path):
    """Fine-tune Lite0 (ImageNet weights from its package, frozen) on a folder of JPEG crops of
    four sample photographs, predict a held-out crop by name, distil into MobileNet 0.25 (another
    normalisation and input size: the teacher file is adapted), export with image bytes and
    serve a JPEG to the right name; the run directory holds names, confusion and errors."""
    pytest.importorskip("skimage")
    from kerasnets.weights import pretrained

    if not pretrained.has_pretrained("efficientnet_lite0"):
        pytest.skip("efficientnet-lite0 weights package not installed")
    folder, run = tmp_path / "photos", tmp_path / "run"
    held = photo_folder(folder, per_class=10, size=128, held_out=1, seed=0)
    conftest.run_tool("tools.finetune", "--backbone", "efficientnet_lite0", "--freeze",
                      "--dataset", str(folder), "--image_size", "96", "--epochs", "30",
                      "--lr", "0.01", "--nobaseline", "--noscratch", "--model_dir", str(run))
    card = model_card.read(run / "final.keras")
    assert card.class_names == tuple(sorted(held)) and card.preprocessing == "lite"
    for name in ("metrics.json", "summary.md", "per_class.md", "confusion.png",
                 "misclassified.png"):
        assert (run / name).exists(), name
    metrics = json.load(open(run / "metrics.json"))
    assert metrics["complete"] and metrics["target_classes"] == list(card.class_names)
    out = conftest.run_tool("tools.predict", "--model_file", str(run / "final.keras"), "--top",
                            "2", *[path for (path,) in held.values()]).stdout
    firsts = [line.split()[1] for line in out.splitlines() if line.strip().startswith("1. ")]
    assert firsts == list(held), out    # each held-out crop gets its photograph's name
    conftest.run_tool("tools.distill", "--teacher", "efficientnet_lite0", "--teacher_weights",
                      str(run / "final.keras"), "--student", "mobilenet_025", "--dataset",
                      str(folder), "--eval_split", "validation", "--image_size", "64",
                      "--epochs", "2", "--model_dir", str(tmp_path / "distill"))
    assert model_card.read(tmp_path / "distill" / "student.keras").class_names == \
        card.class_names
    conftest.run_tool("tools.export", "--keras_file", str(run / "final.keras"), "--format",
                      "saved_model", "--include_preprocessing", "--dtype", "string",
                      "--output", str(tmp_path / "export"))
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    for true, (path,) in held.items():
        out = serve(image_bytes=tf.constant([open(path, "rb").read()]))
        assert out["top_k_class_names"].numpy()[0][0].decode() == true
