"""Recipes, normalisation, evaluation protocols and the pipeline benchmark, on 32-64 px data."""

import csv
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines import evaluation, transforms as T
from pipelines.benchmark import load_folder, write_random_jpegs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pairs(images, labels=None):
    """An unbatched (uint8 image, int64 label) dataset of images of any sizes."""
    labels = list(range(len(images))) if labels is None else labels
    images = [np.asarray(i, np.uint8) for i in images]
    channels = images[0].shape[-1]
    return tf.data.Dataset.from_generator(
        lambda: zip(images, np.asarray(labels, np.int64)),
        output_signature=(tf.TensorSpec([None, None, channels], tf.uint8),
                          tf.TensorSpec([], tf.int64)))


def random_images(n=8, low=24, high=72, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (rng.integers(low, high), rng.integers(low, high), channels),
                         dtype=np.uint8) for _ in range(n)]


def position_image(h, w):
    """Pixel (r, c) holds (r, c, 0): crops can be located from their values."""
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([rows, cols, np.zeros_like(rows)], -1).astype(np.uint8)


def first(ds):
    return [np.asarray(t) for t in next(iter(ds))]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("recipe", T.RECIPES)
def test_recipe_shapes_dtypes_ranges(recipe, training):
    ds = pairs(random_images())
    batches = T.make_dataset(ds, training=training, batch_size=4, image_size=32, recipe=recipe,
                             preprocessing="tf", seed=1)
    assert batches.element_spec[0].shape.as_list() == [4 if training else None, 32, 32, 3]
    x, y = first(batches)
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.float32 and y.dtype == np.int64
    assert -1 <= x.min() and x.max() <= 1 and x.std() > 0.1  # pixels in [0, 255], scaled
    if not training:  # eval views are the same in every pass, without a seed too
        again, _ = first(T.make_dataset(ds, training=False, batch_size=4, image_size=32,
                                        recipe=recipe, preprocessing="raw"))
        assert 0 <= again.min() and again.max() <= 255
        np.testing.assert_allclose(x, again / 127.5 - 1, atol=1e-5)


def test_batches_and_cardinality():
    ds = pairs(random_images(10)).apply(tf.data.experimental.assert_cardinality(10))
    train = T.make_dataset(ds, training=True, batch_size=4, image_size=32, seed=0)
    evaluation_ds = T.make_dataset(ds, training=False, batch_size=4, image_size=32)
    assert int(train.cardinality()) == 2 and len(list(train)) == 2  # partial batch dropped
    assert [int(x.shape[0]) for x, _ in evaluation_ds] == [4, 4, 2]
    cached = T.make_dataset(ds, training=False, batch_size=4, image_size=32, cache=True)
    for (x, y), (x_cached, y_cached) in zip(evaluation_ds, cached):
        np.testing.assert_array_equal(x, x_cached)
        np.testing.assert_array_equal(y, y_cached)
    fresh, cached = (T.make_dataset(ds, training=True, batch_size=4, image_size=32, seed=0,
                                    cache=c) for c in (False, True))
    np.testing.assert_array_equal(first(fresh)[0], first(cached)[0])  # cached before the draws


def test_sizes_scale_with_image_size():
    assert T.scaled(256, 224) == 256 and T.scaled(256, 32) == 37 and T.scaled(512, 32) == 73
    # alexnet at 32 px: a 37x37 image is already at "256", so the crops are exact pixel windows
    # (rows only: one channel has no colour jitter) at offsets 0..5.
    rows = np.repeat(np.arange(37, dtype=np.uint8)[:, None, None] + 100, 37, axis=1)
    ds = pairs([rows] * 32)
    x, _ = first(T.make_dataset(ds, training=True, batch_size=32, image_size=32,
                                recipe="alexnet", channels=1, preprocessing="raw", seed=3))
    offsets = x[:, 0, 0, 0] - 100
    np.testing.assert_allclose(x[:, :, 0, 0] - 100, offsets[:, None] + np.arange(32), atol=1e-3)
    assert set(np.round(offsets).astype(int)) <= set(range(6)) and len(set(offsets)) > 2
    # vgg at 32 px: S in [37, 73], so a 32-px crop spans 32/S of a 0..255 vertical ramp.
    ramp = np.repeat(np.linspace(0, 255, 200)[:, None, None], 200, axis=1)
    x, _ = first(T.make_dataset(pairs([ramp] * 32), training=True, batch_size=32, image_size=32,
                                recipe="vgg", channels=1, preprocessing="raw", seed=3))
    spans = x[:, -1, 0, 0] - x[:, 0, 0, 0]
    assert np.all(spans > 255 * 31 / 74) and np.all(spans < 255 * 32 / 37)
    assert spans.max() - spans.min() > 40  # the scale is jittered


def test_determinism_with_seed():
    ds = pairs(random_images(8), labels=[0, 1, 2, 0, 1, 2, 0, 1])
    kwargs = dict(training=True, batch_size=4, image_size=32, recipe="inception", mixup=0.4,
                  num_classes=3)
    a = T.make_dataset(ds, seed=7, **kwargs)
    b = T.make_dataset(ds, seed=7, **kwargs)
    c = T.make_dataset(ds, seed=8, **kwargs)
    epoch1, epoch2 = list(a), list(a)
    for (xa, ya), (xb, yb) in zip(epoch1, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(epoch1[0][0], first(c)[0])  # another seed, other batches
    assert not np.allclose(epoch1[0][0], epoch2[0][0])  # and a new draw every epoch
    # RandAugment draws from the element seeds too, not from the layer's own generator
    augmented, again = (first(T.make_dataset(ds, training=True, batch_size=8, image_size=32,
                                             recipe="none", seed=7, randaugment=True))[0]
                        for _ in range(2))
    np.testing.assert_array_equal(augmented, again)


def test_selected_randaugment_equals_keras_randaugment():
    images = np.stack(random_images(8, 32, 33)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(images).enumerate()
    outputs = []
    for layer in (keras.layers.RandAugment(value_range=(0, 255), num_ops=3),
                  T.SelectedRandAugment(value_range=(0, 255), num_ops=3)):
        seeded = ds.map(lambda i, x: T._apply_seeded(layer, x, tf.stack([i, i + 1])))
        outputs.append(np.stack(list(seeded.as_numpy_iterator())))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert np.abs(outputs[1] - images).mean() > 1  # and it does change the images


def test_channel_conversion():
    gray = random_images(2, 32, 33, channels=1)
    x, _ = first(T.make_dataset(pairs(gray), training=False, batch_size=2, image_size=32,
                                preprocessing="raw", channels=3))
    assert x.shape == (2, 32, 32, 3)
    for k in range(3):  # 32x32 in: no resampling, every channel is the gray image
        np.testing.assert_allclose(x[..., k], np.stack(gray)[..., 0])
    colour = np.zeros((32, 32, 3), np.uint8) + np.array([200, 100, 50], np.uint8)
    x, _ = first(T.make_dataset(pairs([colour]), training=False, batch_size=1, image_size=32,
                                preprocessing="raw", channels=1))
    assert x.shape == (1, 32, 32, 1)
    np.testing.assert_allclose(x, round(0.2989 * 200 + 0.5870 * 100 + 0.1140 * 50), atol=0.5)
    # unknown channel count (decode_image(channels=0)) is resolved at run time
    unknown = tf.data.Dataset.from_tensors((tf.constant(gray[0]), tf.constant(0, tf.int64)))
    unknown = unknown.map(lambda x, y: (tf.ensure_shape(tf.identity(x), [None, None, None]), y))
    assert first(T.make_dataset(unknown, training=False, batch_size=1, image_size=32,
                                channels=3))[0].shape == (1, 32, 32, 3)


@pytest.mark.parametrize("mode,module,model", [
    ("caffe", keras.applications.resnet50, "resnet50"),
    ("tf", keras.applications.resnet_v2, "mobilenet"),
    ("torch", keras.applications.densenet, "resnext50_32x4d"),
])
def test_normalize_matches_keras_applications(mode, module, model):
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    expected = module.preprocess_input(pixels.copy())
    np.testing.assert_allclose(np.asarray(T.normalize(pixels, mode)), expected, rtol=1e-5,
                               atol=1e-4)
    # through the registry: for_model picks the entry's mode (32x32 in, so no resampling)
    assert T.model_defaults(model)["preprocessing"] == mode
    x, _ = first(T.for_model(pairs(list(pixels.astype("uint8"))), model, training=False,
                             batch_size=2, image_size=32))
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-4)


def test_normalize_raw_and_gray():
    pixels = np.linspace(0, 255, 48, dtype="float32").reshape(1, 4, 4, 3)
    np.testing.assert_array_equal(np.asarray(T.normalize(pixels, "raw")), pixels)
    assert T.model_defaults("efficientnet_b0")["preprocessing"] == "raw"
    gray = np.asarray(T.normalize(np.full((1, 2, 2, 1), 255.0, "float32"), "torch"))
    np.testing.assert_allclose(gray, (1 - 0.449) / 0.226, rtol=1e-5)


def test_denormalize_and_renormalize_invert_normalize():
    from kerasnets.zoo import preprocessing as P
    from kerasnets.layers import Renormalize

    rng = np.random.default_rng(0)
    for channels in (1, 3):
        pixels = rng.uniform(0, 255, (2, 4, 4, channels)).astype("float32")
        for mode in P.MODES:
            back = np.asarray(P.denormalize(P.normalize(pixels, mode), mode))
            np.testing.assert_allclose(back, pixels, atol=1e-3, err_msg=f"{mode} {channels}")
    gray = rng.uniform(0, 255, (2, 4, 4, 1)).astype("float32")
    rgb = rng.uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    # A student's gray torch input -> what an RGB EfficientNet-Lite teacher is fed on the same
    # pixels; and an RGB caffe input -> gray [-1, 1] (BT.601 luma, as to_channels).
    np.testing.assert_allclose(P.renormalize(P.normalize(gray, "torch"), "torch", "lite", 3),
                               P.normalize(np.repeat(gray, 3, -1), "lite"), atol=1e-5)
    luma = np.asarray(T.to_channels(tf.constant(rgb[0]), 1))
    np.testing.assert_allclose(P.renormalize(P.normalize(rgb, "caffe"), "caffe", "tf", 1)[0],
                               P.normalize(luma, "tf"), atol=1e-4)
    layer = Renormalize("torch", "lite", 3, name="renormalize")
    x = P.normalize(gray, "torch")
    assert layer.compute_output_shape((None, 4, 4, 1)) == (None, 4, 4, 3)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    np.testing.assert_allclose(clone(x), P.normalize(np.repeat(gray, 3, -1), "lite"), atol=1e-5)
    with pytest.raises(ValueError, match="Unknown preprocessing mode"):
        Renormalize("torch", "bgr")


def test_ten_crop_positions():
    image = position_image(64, 64)  # image_size 56: "256" is 64, so no resampling
    views = np.asarray(T.eval_views(image, "ten_crop", 56))
    assert views.shape == (10, 56, 56, 3)
    corners = [(0, 0), (0, 8), (8, 0), (8, 8), (4, 4)]  # TL, TR, BL, BR, centre
    for view, (top, left) in zip(views[:5], corners):
        np.testing.assert_allclose(view, image[top:top + 56, left:left + 56], atol=1e-3)
    np.testing.assert_allclose(views[5:], views[:5, :, ::-1], atol=1e-3)  # mirror images
    assert views[1, 0, -1, 1] == 63 and views[2, -1, 0, 0] == 63  # right and bottom edges


def test_multiscale_views():
    image = position_image(48, 64)
    views = np.asarray(T.eval_views(image, "multiscale", 32, scales=(32, 40, 48)))
    assert views.shape == (6, 32, 32, 3) == (T.num_views("multiscale", scales=(32, 40, 48)),
                                             32, 32, 3)
    assert T.eval_views(image, "multiscale", 32, scales=(32, 40, 48), flips=False).shape[0] == 3
    np.testing.assert_allclose(views[3:], views[:3, :, ::-1])
    # shorter side 48 -> Q: the centre 32 crop spans 32 * 48 / Q original rows, around row 23.5
    for view, q in zip(views[:3], (32, 40, 48)):
        assert abs(view[:, :, 0].mean() - 23.5) < 0.5
        assert view[-1, 0, 0] - view[0, 0, 0] == pytest.approx(31 * 48 / q, abs=1.0)
    with pytest.raises(ValueError, match="must be >= image_size"):
        T.eval_views(image, "multiscale", 32, scales=(24, 32))


def gap_dense(input_shape, activation=None):
    """GlobalAveragePooling + Dense(3) with fixed weights: the output is computable by hand."""
    inputs = keras.Input(input_shape)
    outputs = keras.layers.Dense(3, activation=activation)(
        keras.layers.GlobalAveragePooling2D()(inputs))
    model = keras.Model(inputs, outputs, name="gap_dense")
    model.set_weights([np.array([[0.03, -0.02, 0.0], [0.0, 0.02, -0.03], [0.01, 0.0, 0.0]],
                                "float32"), np.array([-1.0, 0.5, 0.0], "float32")])
    return model


def softmax(z):
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def test_predict_averages_softmax_over_views():
    images = [position_image(48, 64), position_image(64, 40)[::-1]]
    model = gap_dense((32, 32, 3))  # logits out: predict applies the softmax per view
    scales = (32, 40, 48)
    probs = evaluation.predict(model, pairs(images), protocol="multiscale", scales=scales,
                               preprocessing="raw", batch_size=2)
    assert probs.shape == (2, 3)
    weights = [np.asarray(w) for w in model.get_weights()]
    for p, image in zip(probs, images):
        views = np.asarray(T.eval_views(image, "multiscale", 32, scales=scales))
        logits = views.mean((1, 2)) @ weights[0] + weights[1]
        np.testing.assert_allclose(p, softmax(logits).mean(0), rtol=1e-4)
        assert not np.allclose(p, softmax(logits[0]), rtol=1e-3)  # not a single view's
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    # a model ending in softmax is averaged as is: same result; the center protocol differs
    with_softmax = gap_dense((32, 32, 3), "softmax")
    np.testing.assert_allclose(evaluation.predict(with_softmax, pairs(images).map(lambda x, y: x),
                                                  protocol="multiscale", scales=scales,
                                                  preprocessing="raw"), probs, rtol=1e-4)
    center = evaluation.predict(model, pairs(images), preprocessing="raw")
    assert not np.allclose(center, probs, rtol=1e-3)


def test_multiscale_is_dense_for_fully_convolutional_models():
    image = position_image(48, 64)
    model = gap_dense((None, None, 3))
    weights = [np.asarray(w) for w in model.get_weights()]
    probs = evaluation.predict(model, pairs([image]), protocol="multiscale", scales=(32, 56),
                               image_size=32, preprocessing="raw")
    expected = []
    for q in (32, 56):  # each view is the whole centre Q x Q square of the image at scale Q
        views = np.asarray(T.eval_views(image, "center", q, crop_fraction=1.0, flips=True))
        assert views.shape == (2, q, q, 3)
        expected.append(softmax(views.mean((1, 2)) @ weights[0] + weights[1]).mean(0))
    np.testing.assert_allclose(probs[0], np.mean(expected, 0), rtol=1e-4)


def test_evaluate_accuracy_and_confusion():
    # channel 0 bright -> class 0 wins, dark -> class 1 (see gap_dense's weights)
    images = [np.full((40, 40, 3), v, np.uint8) for v in (250, 240, 10, 0, 5)]
    labels = [0, 0, 1, 1, 0]  # the last one is wrong
    model = gap_dense((32, 32, 3), "softmax")
    result = evaluation.evaluate(model, pairs(images, labels), "ten_crop", preprocessing="raw",
                                 batch_size=2, confusion=True, top_k=2)
    assert result["n"] == 5 and result["views"] == 10 and result["protocol"] == "ten_crop"
    assert result["top1"] == pytest.approx(0.8) and result["top2"] == pytest.approx(0.8)
    np.testing.assert_array_equal(result["confusion"], [[2, 1, 0], [0, 2, 0], [0, 0, 0]])
    assert result["nll"] > 0
    with pytest.raises(ValueError, match="needs \\(image, label\\) pairs"):
        evaluation.evaluate(model, pairs(images).map(lambda x, y: x), preprocessing="raw")
    with pytest.raises(ValueError, match="not a registered model name"):
        evaluation.predict(model, pairs(images))


@pytest.mark.parametrize("option", ["mixup", "cutmix", "both"])
def test_mixup_cutmix_mix_labels_like_images(option):
    # constant images whose value is their label * 60: a mixed pixel must equal the label mix
    labels = [0, 1, 2, 3] * 2
    images = [np.full((32, 32, 3), 60 * k, np.uint8) for k in labels]
    kwargs = {"mixup": {"mixup": 0.4}, "cutmix": {"cutmix": 1.0},
              "both": {"mixup": 0.4, "cutmix": 1.0}}[option]
    x, y = first(T.make_dataset(pairs(images, labels), training=True, batch_size=8,
                                image_size=32, preprocessing="raw", seed=2, num_classes=4,
                                shuffle_buffer=0, **kwargs))
    assert y.shape == (8, 4) and y.dtype == np.float32
    np.testing.assert_allclose(y.sum(1), 1, rtol=1e-5)
    assert np.all(y >= 0) and np.all((y > 1e-6).sum(1) <= 2)
    assert np.any(y.max(1) < 0.999)  # some labels are mixed
    # the labels' weights are the images' mix: mean pixel = sum_k weight_k * 60k
    np.testing.assert_allclose(x.mean((1, 2, 3)), y @ (60.0 * np.arange(4)), atol=8)


def test_errors_name_the_problem():
    ds = pairs(random_images(2))
    with pytest.raises(ValueError, match="Unknown recipe 'alexnett'.*alexnet, vgg"):
        T.make_dataset(ds, training=True, batch_size=2, image_size=32, recipe="alexnett")
    with pytest.raises(ValueError, match="unbatched"):
        T.make_dataset(ds.batch(2), training=True, batch_size=2, image_size=32)
    with pytest.raises(ValueError, match="num_classes"):
        T.make_dataset(ds, training=True, batch_size=2, image_size=32, mixup=0.2)
    with pytest.raises(ValueError, match="Unknown preprocessing mode 'imagenet'"):
        T.make_dataset(ds, training=False, batch_size=2, image_size=32, preprocessing="imagenet")
    with pytest.raises(ValueError, match="below alexnet's minimum input size 63"):
        T.for_model(ds, "alexnet", training=True, batch_size=2, image_size=32)
    with pytest.raises(ValueError, match="Unknown protocol 'five_crop'"):
        T.eval_views(random_images(1)[0], "five_crop", 32)


def test_mirrored_strategy_over_two_cpus_gives_the_same_batches():
    script = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from pipelines import transforms as T
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (8, 40, 48, 3), dtype=np.uint8)
        def data():
            ds = tf.data.Dataset.from_tensor_slices((images, np.arange(8) % 3))
            return T.make_dataset(ds, training=True, batch_size=4, image_size=32,
                                  recipe="inception", seed=5, mixup=0.2, num_classes=3)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        batches = list(strategy.experimental_distribute_dataset(data()))
        plain = list(data())
        assert len(batches) == len(plain) == 2
        for dist, (x, y) in zip(batches, plain):
            parts = strategy.experimental_local_results(dist[0])
            assert [p.shape.as_list() for p in parts] == [[2, 32, 32, 3]] * 2
            np.testing.assert_allclose(np.concatenate(parts), x.numpy(), atol=1e-6)
        print("OK")
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]


def test_random_jpeg_folder(tmp_path):
    folder = write_random_jpegs(tmp_path / "jpegs", num_images=6, num_classes=2,
                                size_range=(40, 60))
    files = sorted(p.relative_to(folder).as_posix() for p in (tmp_path / "jpegs").rglob("*.jpg"))
    assert len(files) == 6 and {f.split("/")[0] for f in files} == {"class_0", "class_1"}
    ds, num_classes = load_folder(folder)
    images = [(x.numpy(), int(y)) for x, y in ds]
    assert num_classes == 2 and len(images) == 6
    assert all(40 <= x.shape[0] <= 60 and 40 <= x.shape[1] <= 60 and x.shape[2] == 3
               for x, _ in images)
    assert sorted(y for _, y in images) == [0, 0, 0, 1, 1, 1]


def test_benchmark_tool_pipeline_mode(tmp_path):
    out = tmp_path / "pipe.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "tools.benchmark", "--pipeline", "--models", "lenet5",
         "--input_size", "32", "--batch_size", "4", "--steps", "1", "--warmup", "1",
         "--pipeline_images", "12", "--pipeline_batches", "2", "--recipes",
         "cifar,inception+cutmix", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = list(csv.DictReader(open(out)))
    assert [r["recipe"] for r in rows] == ["cifar", "inception+cutmix"]
    for r in rows:
        assert r["model"] == "lenet5" and r["input"] == "32" and r["images"] == "8"
        assert float(r["pipeline_img_s"]) > 0 and float(r["model_train_img_s"]) > 0
        assert float(r["ratio"]) == pytest.approx(
            float(r["pipeline_img_s"]) / float(r["model_train_img_s"]), rel=0.02)
    assert "| inception+cutmix | lenet5 |" in (tmp_path / "pipe.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv", "pipe.md"]
