"""kerasnets.deployment.export, tools.export and the serving benchmark: every format reloaded and compared
with the Keras model on registry models of different families, the bytes signature against the
float path, grouped convolutions in ONNX, clear errors, atomic writes."""

import csv
import functools
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnets
from conftest import randomize_weights
from kerasnets.deployment import export as E
from kerasnets.deployment.export import exporter
from kerasnets.deployment import serving as S
from pipelines.transforms import center_crop_resize, normalize, to_channels
from test_tools import run_tool


def calibrated(name, size=32, classes=10, seed=0):
    """A registry model with randomised weights, BatchNorm statistics set from a batch of check
    inputs (so activations neither vanish, explode nor saturate) and its logits rescaled to std
    1.5 before the softmax: outputs that depend on the input and are neither one-hot nor uniform,
    so a wrong export cannot hide."""
    entry = kerasnets.get_entry(name)
    logits = kerasnets.create_model(name, input_shape=(size, size, entry.input_shape[2]),
                                    classes=classes, classifier_activation=None)
    randomize_weights(logits, seed)
    x = E.check_inputs(logits, preprocessing=entry.preprocessing, num=16, seed=seed)["float32"][1]
    norms = [layer for layer in logits._flatten_layers(include_self=False)
             if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # moving statistics := this batch's
    logits(x, training=True)
    z = np.asarray(logits(x))
    scale = 1.5 / (z - z.mean(-1, keepdims=True)).std()
    y = keras.layers.Rescaling(scale, name="temperature")(logits.output)
    y = keras.layers.Softmax(name="probabilities")(y)
    return keras.Model(logits.input, y, name=name), entry


def assert_informative(probabilities):
    """Softmax outputs that differ between inputs and are neither one-hot nor uniform."""
    p = np.asarray(probabilities)
    assert np.allclose(p.sum(-1), 1, atol=1e-4)
    assert 1.5 / p.shape[-1] < p.max(-1).min() and p.max(-1).max() < 0.999, p.max(-1)
    assert p.std(0).max() > 1e-2


def fresh_inputs(model, entry, n=3, seed=7):
    pixels = np.random.default_rng(seed).integers(0, 256, (n,) + model.input_shape[1:])
    return normalize(pixels.astype("float32"), entry.preprocessing).numpy()


def test_saved_model_signatures_reload_and_png_bytes(tmp_path):
    model, entry = calibrated("resnet20_cifar")  # residual
    names = [f"class_{i}" for i in range(10)]
    result = E.export(model, tmp_path / "sm", preprocessing=entry.preprocessing,
                      include_preprocessing=True, class_names=names, top_k=3, log=None)
    assert result.signatures == ("serving_default", "serving_bytes")
    assert result.max_abs_diff <= 1e-4
    assert sorted(os.listdir(tmp_path)) == ["sm"]
    meta = json.load(open(tmp_path / "sm" / "export.json"))
    assert meta["preprocessing"] == "torch" and meta["check"]["max_abs_diff"] <= 1e-4

    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert set(loaded.signatures) == {"serving_default", "serving_bytes"}
    x = fresh_inputs(model, entry)
    out = loaded.signatures["serving_default"](images=tf.constant(x))
    assert set(out) == {"probabilities", "top_k_classes", "top_k_probabilities",
                        "top_k_class_names"}
    expected = np.asarray(model(x))
    assert_informative(expected)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)

    # A PNG the test writes (non-square, so resize + centre crop matter), through both paths.
    yy, xx = np.mgrid[0:45, 0:60]
    image = np.stack([yy * 5, xx * 4, (xx + yy) * 2], -1) % 256
    image = (image + np.random.default_rng(0).integers(0, 40, image.shape)).clip(0, 255)
    png = tmp_path / "picture.png"
    png.write_bytes(tf.io.encode_png(image.astype("uint8")).numpy())
    by_bytes = loaded.signatures["serving_bytes"](image_bytes=tf.constant([png.read_bytes()]))
    decoded = tf.io.decode_png(png.read_bytes(), channels=3)
    floats = normalize(center_crop_resize(decoded, 32, 0.875)[None], entry.preprocessing)
    by_floats = loaded.signatures["serving_default"](images=floats)
    for key in ("probabilities", "top_k_probabilities"):
        np.testing.assert_allclose(by_bytes[key].numpy(), by_floats[key].numpy(), atol=1e-6)
    np.testing.assert_array_equal(by_bytes["top_k_classes"], by_floats["top_k_classes"])
    top = by_bytes["top_k_classes"].numpy()[0]
    assert [n.decode() for n in by_bytes["top_k_class_names"].numpy()[0]] == \
        [names[i] for i in top]
    assert top[0] == np.argmax(model(floats)[0])


def test_tflite_depthwise_model_reloads_equal(tmp_path):
    model, entry = calibrated("mobilenet_x0_25")  # depthwise separable
    result = E.export(model, tmp_path / "tfl", format="tflite", log=None)
    assert result.artifact == str(tmp_path / "tfl" / "model.tflite")
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=result.artifact).get_signature_runner()
    x = fresh_inputs(model, entry)
    (got,) = runner(images=x).values()
    expected = np.asarray(model(x))
    assert_informative(expected)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("quantization,max_fraction", [("float16", 0.6), ("dynamic_range", 0.35)])
def test_tflite_quantized_is_smaller_and_close(tmp_path, quantization, max_fraction):
    model, entry = calibrated("lenet5")  # chain, one channel; uint8 pixels in
    result = E.export(model, tmp_path / "q", format="tflite", quantization=quantization,
                      input_dtype="uint8", preprocessing=entry.preprocessing, log=None)
    assert os.path.getsize(result.artifact) < max_fraction * 4 * model.count_params()
    pixels = np.random.default_rng(3).integers(0, 256, (3, 32, 32, 1), dtype=np.uint8)
    got = E.load_export(result.output).predict(pixels)
    expected = np.asarray(model(normalize(pixels.astype("float32"), entry.preprocessing)))
    assert_informative(expected)
    assert np.abs(got - expected).max() <= E.DEFAULT_TOLERANCE[quantization]


def test_onnx_inception_model_reloads_equal(tmp_path):
    import onnxruntime as ort

    model, entry = calibrated("googlenet")  # inception
    result = E.export(model, tmp_path / "onnx", format="onnx", log=None)
    session = ort.InferenceSession(result.artifact, providers=["CPUExecutionProvider"])
    x = fresh_inputs(model, entry)
    expected = np.asarray(model(x))
    assert_informative(expected)
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0],
                               expected, atol=1e-5)


def _grouped_model(conv):
    inputs = keras.Input((8, 8, 8))
    x = conv(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))


def test_onnx_grouped_conv_exports_on_the_split_route(tmp_path):
    import onnx
    import onnxruntime as ort

    from kerasnets.layers import GroupedConv2D

    conv = GroupedConv2D(16, 3, 4, padding="same", implementation="native")
    model = _grouped_model(conv)
    randomize_weights(model)
    result = E.export(model, tmp_path / "g", format="onnx", log=None)
    assert conv.implementation == "native"  # restored after the export
    convs = [n for n in onnx.load(result.artifact).graph.node if n.op_type == "Conv"]
    assert len(convs) == 4
    assert all(a.i == 1 for n in convs for a in n.attribute if a.name == "group")
    session = ort.InferenceSession(result.artifact, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 8)).astype("float32")
    np.testing.assert_allclose(session.run(None, {"images": x})[0], model(x), atol=1e-5)


def test_keras_grouped_conv2d_onnx_fails_naming_the_op_and_writes_nothing(tmp_path):
    model = _grouped_model(keras.layers.Conv2D(16, 3, groups=4, name="native_grouped"))
    with pytest.raises(E.UnsupportedOpError, match="StatefulPartitionedCall.*native_grouped"):
        E.export(model, tmp_path / "g", format="onnx", log=None)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_unsupported_op_is_named(tmp_path, fmt):
    class BesselLayer(keras.layers.Layer):
        def call(self, x):
            return tf.math.bessel_i1e(x)

    inputs = keras.Input((4, 4, 3))
    x = keras.layers.GlobalAveragePooling2D()(BesselLayer()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(E.UnsupportedOpError, match=f"Cannot export to {fmt}.*BesselI1e") as info:
        E.export(model, tmp_path / "x", format=fmt, log=None)
    assert info.value.ops == ("BesselI1e",)
    assert os.listdir(tmp_path) == []


def _tiny_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3), name="input")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x))


def test_failure_after_writing_keeps_the_previous_export(tmp_path, monkeypatch):
    out = tmp_path / "export"
    first = E.export(_tiny_model(0), out, format="keras", log=None)
    before = (out / "model.keras").read_bytes()
    written = []

    def crash(path, *args, **kwargs):
        written.extend(sorted(os.listdir(path)))
        raise E.ExportError("simulated failure after writing")

    monkeypatch.setattr(exporter, "verify_export", crash)  # the module that calls it
    with pytest.raises(E.ExportError, match="simulated"):
        E.export(_tiny_model(1), out, format="keras", log=None)
    assert written == ["export.json", "model.keras"]  # it failed with a whole artifact written
    assert (out / "model.keras").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["export"] and first.format == "keras"


def test_verification_fails_on_a_different_model(tmp_path):
    E.export(_tiny_model(0), tmp_path / "export", format="keras", log=None)
    other = _tiny_model(1)
    other.get_layer("predictions").set_weights(
        [w * 20 for w in other.get_layer("predictions").get_weights()])
    with pytest.raises(E.ExportError, match="differs from the Keras model by"):
        E.verify_export(tmp_path / "export", other, log=None)


@pytest.mark.parametrize("kwargs,message", [
    (dict(format="pb"), "Unknown format 'pb'"),
    (dict(format="tflite", input_dtype="string", preprocessing="tf"), "only the saved_model"),
    (dict(format="onnx", include_preprocessing=True, preprocessing="tf"), "only the saved_model"),
    (dict(format="onnx", quantization="float16"), "not offered for format 'onnx'"),
    (dict(format="saved_model", quantization="int8"), "not offered for format 'saved_model'"),
    (dict(format="tflite", quantization="int8"), "needs calibration_data"),
    (dict(format="onnx", quantization="int8", calibration_data=np.zeros((50, 8, 8, 3), "float32")),
     "holds 50 image"),
    (dict(format="onnx", quantization="int8", calibration_data=np.zeros((100, 8, 8, 1), "float32")),
     r"shape \(n,\) \+ \(8, 8, 3\)"),
    (dict(format="tflite", quantization="int8", input_dtype="uint8", preprocessing="tf",
          calibration_data=np.zeros((100, 8, 8, 3), "float32")), "takes uint8 inputs"),
    (dict(format="tflite", calibration_data=np.zeros((100, 8, 8, 3), "float32")),
     "calibration_data is for quantization='int8'"),
    (dict(input_dtype="uint8"), "pass preprocessing="),
    (dict(preprocessing="imagenet"), "Unknown preprocessing mode"),
    (dict(class_names=["a", "b"]), "2 class names given, the model has 3 classes"),
    (dict(crop_fraction=1.5), "crop_fraction must be in"),
])
def test_bad_arguments_raise_before_writing(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        E.export(_tiny_model(0), tmp_path / "x", log=None, **kwargs)
    assert not (tmp_path / "x").exists()


def test_feature_extractor_is_refused(tmp_path):
    features = kerasnets.create_model("lenet5", include_top=False, input_shape=(32, 32, 1))
    with pytest.raises(ValueError, match="needs a classifier"):
        E.export(features, tmp_path / "x", log=None)


def test_tool_exports_grayscale_model_taking_bytes(tmp_path):
    model = kerasnets.create_model("lenet5", classes=3)  # chain, one channel
    randomize_weights(model)
    model.save_weights(tmp_path / "w.weights.h5")
    (tmp_path / "names.txt").write_text("zero\none\ntwo\n")
    proc = run_tool("tools.export", "--model", "lenet5", "--classes", "3",
                    "--weights", str(tmp_path / "w.weights.h5"), "--format", "saved_model",
                    "--dtype", "string", "--class_names", str(tmp_path / "names.txt"),
                    "--output", str(tmp_path / "e"))
    assert "max abs difference" in proc.stdout
    image = np.random.default_rng(2).integers(0, 256, (40, 36, 3)).astype("uint8")
    data = tf.io.encode_png(image).numpy()
    out = tf.saved_model.load(str(tmp_path / "e")).signatures["serving_default"](
        image_bytes=tf.constant([data]))
    gray = to_channels(tf.io.decode_png(data, channels=3), 1)
    x = normalize(center_crop_resize(gray, 32, 0.875)[None], "torch")
    np.testing.assert_allclose(out["probabilities"].numpy(), model(x), atol=1e-5)
    assert out["top_k_class_names"].numpy()[0, 0].decode() == \
        ["zero", "one", "two"][int(np.argmax(model(x)))]


def test_export_job_error_is_clear_and_leaves_nothing(tmp_path):
    """tools.export's job (`kerasnets.deployment.export_job.export_model`); the tool prints its errors."""
    from kerasnets.deployment.export_job import export_model

    with pytest.raises(ValueError, match="only the saved_model format has"):
        export_model(str(tmp_path / "e"), model="lenet5", format="tflite", input_dtype="string",
                     log=None)
    with pytest.raises(ValueError, match="Pass --model NAME"):
        export_model(str(tmp_path / "e"))
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="holds no class names"):
        export_model(str(tmp_path / "e"), model="lenet5", class_names_file=str(
            tmp_path / "empty.txt"))
    assert not (tmp_path / "e").exists()


def test_benchmark_serving_measures_every_runtime(tmp_path):
    """tools.benchmark --serving's job, calibrated by the helper tools.export uses."""
    from kerasnets.experiments.benchmark_tables import serving_table
    from kerasnets.results import write_table
    from pipelines.calibration import int8_data

    out = tmp_path / "serving.csv"
    write_table(serving_table(
        ["lenet5"], input_size=32, steps=2, warmup=1, batch_sizes=[1, 4],
        runtimes="keras,saved_model,tflite,onnx,tflite_int8".split(","),
        calibrate=functools.partial(int8_data, calibration_images=100, check_images=40)),
        str(out))
    rows = {r["runtime"]: r for r in csv.DictReader(open(out))}
    assert list(rows) == ["keras", "saved_model", "tflite", "onnx", "tflite_int8"]
    # int8 calibrates where tools.export would: the built-in digits for a 10-class model
    assert "lenet5: 100 train images of digits, checked on 40 test images" in \
        (tmp_path / "serving.md").read_text()
    assert 0 <= float(rows["tflite_int8"]["top1_agreement"]) <= 1
    assert float(rows["tflite"]["top1_agreement"]) == 1
    for runtime, row in rows.items():
        assert float(row["b1_ms"]) > 0 and float(row["b4_img_s"]) > 0
        assert (row["size_mb"] == "") == (runtime == "keras")
    assert float(rows["keras"]["b1_speedup"]) == 1
    assert "| lenet5 | 32 | tflite |" in (tmp_path / "serving.md").read_text()


def test_interleaved_times_counts_calls():
    calls = {"a": 0, "b": 0}

    def bump(name):
        calls[name] += 1

    times = S.interleaved_times({k: (lambda k=k: bump(k)) for k in calls}, steps=3, warmup=2)
    assert calls == {"a": 5, "b": 5} and all(len(t) == 3 for t in times.values())
    with pytest.raises(ValueError, match="steps must be >= 1"):
        S.interleaved_times({"a": lambda: None}, steps=0, warmup=0)


FAMILIES = [("lenet5", "chain"), ("resnet20_cifar", "residual"), ("googlenet", "inception"),
            ("mobilenet_x0_25", "depthwise"), ("shufflenet_g3_x0_5", "grouped + shuffle"),
            ("squeezenet1_1", "fire")]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
@pytest.mark.parametrize("name", [n for n, _ in FAMILIES])
def test_every_family_every_format(tmp_path, name, fmt):
    model, entry = calibrated(name)
    kwargs = dict(include_preprocessing=True) if fmt == "saved_model" else dict(input_dtype="uint8")
    result = E.export(model, tmp_path / "e", format=fmt, preprocessing=entry.preprocessing,
                      log=None, **kwargs)
    assert result.max_abs_diff <= 1e-4
    served = E.load_export(result.output)
    pixels = np.random.default_rng(5).integers(0, 256, (3,) + model.input_shape[1:])
    x = normalize(pixels.astype("float32"), entry.preprocessing).numpy()
    expected = np.asarray(model(x))
    assert_informative(expected)
    got = served.predict(x if fmt == "saved_model" else pixels.astype("uint8"))
    np.testing.assert_allclose(got, expected, atol=1e-4)  # uint8: normalised inside the graph


@pytest.mark.slow
def test_tool_exports_keras_file_to_tflite_taking_pixels(tmp_path):
    model, _ = calibrated("resnet20_cifar")
    model.save(tmp_path / "m.keras")  # named like its registry entry: preprocessing from there
    run_tool("tools.export", "--keras_file", str(tmp_path / "m.keras"), "--format", "tflite",
             "--dtype", "uint8", "--output", str(tmp_path / "e"))
    assert json.load(open(tmp_path / "e" / "export.json"))["preprocessing"] == "torch"
    pixels = np.random.default_rng(4).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    got = E.load_export(tmp_path / "e").predict(pixels)
    np.testing.assert_allclose(got, model(normalize(pixels.astype("float32"), "torch")),
                               atol=1e-5)


# ---------------------------------------------------------------------------------------------
# int8: full-integer TFLite and onnxruntime's static QDQ quantisation, checked by top-1 agreement.

@pytest.fixture(scope="module")
def digits_lenet(tmp_path_factory):
    """lenet5 trained 2 epochs on the built-in digits (~92% test accuracy, a few seconds), its
    weights file, and model-ready digits: 192 training images to calibrate on, the 359 test
    images to check agreement on."""
    from kerasnets import training
    from pipelines.data import prepare

    entry = kerasnets.get_entry("lenet5")
    data = prepare("digits", entry, batch_size=64, seed=0)
    keras.utils.set_random_seed(0)
    model = kerasnets.create_model("lenet5", classes=10)
    training.set_bn_momentum(model, 0.9)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    training.fit(model, data.train, epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("lenet") / "digits.weights.h5"
    model.save_weights(path)
    calibration = np.concatenate([x.numpy() for x, _ in data.train.take(3)])
    check = np.concatenate([x.numpy() for x, _ in data.eval])
    return path, calibration, check


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_int8_export_reloads_agreeing_with_float32(tmp_path, digits_lenet, fmt):
    path, calibration, check = digits_lenet
    model = kerasnets.create_model("lenet5", classes=10, weights=str(path))
    result = E.export(model, tmp_path / "q", format=fmt, quantization="int8", log=None,
                      calibration_data=calibration, check_data=check, preprocessing="torch")
    assert result.agreement >= 0.97 and result.agreement_inputs == len(check) == 359
    assert os.path.getsize(result.artifact) < 0.45 * 4 * model.count_params()  # ~1/3 of float32
    meta = json.load(open(tmp_path / "q" / "export.json"))
    assert meta["quantization"] == "int8" and meta["calibration_images"] == len(calibration)
    assert meta["check"]["top1_agreement"] == result.agreement
    # Judged on the images where float32 is confident; the noise floor is stored beside it.
    check_result = result.check
    assert 0 < check_result.confident_images <= 359
    assert check_result.confident_agreement >= E.DEFAULT_AGREEMENT
    assert check_result.confident_agreement >= result.agreement
    assert 0.5 < check_result.float32_stability <= 1
    assert meta["check"]["top1_agreement_confident"] == check_result.confident_agreement
    assert meta["check"]["confident_images"] == check_result.confident_images
    assert meta["check"]["checked_on_calibration_images"] is False
    assert sorted(os.listdir(tmp_path / "q")) == ["export.json", os.path.basename(result.artifact)]
    # The weights really are int8, and a reload predicts what the check measured.
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        kinds = {d["op_name"] for d in Interpreter(model_path=result.artifact)._get_ops_details()}
        assert {"CONV_2D", "QUANTIZE", "DEQUANTIZE"} <= kinds
        tensors = Interpreter(model_path=result.artifact).get_tensor_details()
        assert any(t["dtype"] == np.int8 and len(t["shape"]) == 4 for t in tensors)
    else:
        import onnx

        graph = onnx.load(result.artifact).graph
        assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= {n.op_type for n in graph.node}
        assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)
    served = E.load_export(result.output)
    got = served.predict(check[:64])
    assert got.shape == (64, 10) and np.allclose(got.sum(-1), 1, atol=0.02)
    assert np.mean(got.argmax(-1) == np.asarray(model(check[:64])).argmax(-1)) >= 0.95


def test_int8_below_the_agreement_required_fails_and_writes_nothing(tmp_path, digits_lenet):
    path, calibration, check = digits_lenet
    model = kerasnets.create_model("lenet5", classes=10, weights=str(path))
    with pytest.raises(E.ExportError, match=r"agrees with the Keras model on the top-1 class"
                       r"(.|\n)*where float32's top-1 probability is >= 0.5"):
        E.export(model, tmp_path / "q", format="tflite", quantization="int8", log=None,
                 calibration_data=calibration, check_data=check, min_agreement=1.01)
    assert os.listdir(tmp_path) == []
    # A float32 model unsure of every check image (near-uniform outputs) cannot be judged:
    # refused, not passed.
    unsure = keras.Sequential([model, keras.layers.Rescaling(0.01), keras.layers.Softmax()])
    with pytest.raises(E.ExportError, match=r"on 0 of the 40 check image\(s\)"):
        E.export(unsure, tmp_path / "q", format="tflite", quantization="int8", log=None,
                 calibration_data=calibration, check_data=check[:40])
    assert os.listdir(tmp_path) == []


def test_stable_top1_marks_images_one_pixel_level_from_a_tie():
    """Class 0 wins when pixel 0 exceeds 100.5: pixel 0 at 100 flips under +-1 (about half of
    the copies, by the random sign), at 10 it never does."""
    inputs = keras.Input((2, 2, 1))
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.zeros((4, 2), "float32")
    kernel[0, 0] = 1.0
    dense.set_weights([kernel, np.array([-100.5, 0.0], "float32")])
    near = np.full((40, 2, 2, 1), 100, np.uint8)
    far = np.full((40, 2, 2, 1), 10, np.uint8)
    far[0] = 255  # the float32 step is (max - min) / 255 = 1 pixel level here too
    for dtype in ("uint8", "float32"):
        stable = E.stable_top1(model, np.concatenate([near, far]).astype(dtype),
                               input_dtype=dtype, preprocessing="raw")
        assert 5 < stable[:40].sum() < 35 and stable[40:].all()


def test_export_job_int8_calibrated_on_the_digits_pipeline(tmp_path, digits_lenet):
    """tools.export --quantization int8's job: images from pipelines.calibration.int8_data."""
    from kerasnets.deployment.export_job import export_model
    from pipelines.calibration import int8_data

    path, _, _ = digits_lenet
    lines = []
    name, result = export_model(
        str(tmp_path / "e"), model="lenet5", classes=10, weights=str(path), format="tflite",
        quantization="int8", input_dtype="uint8", log=lines.append,
        calibrate=functools.partial(int8_data, calibration_images=120, check_images=150))
    assert name == "lenet5" and result.check is not None
    assert lines[0] == ("int8: calibrating on 120 train images of digits, checking top-1 "
                        "agreement on 150 test images")
    meta = json.load(open(tmp_path / "e" / "export.json"))
    assert meta["input_dtype"] == "uint8" and meta["calibration_images"] == 120
    assert meta["check"]["agreement_images"] == 150 and meta["check"]["top1_agreement"] >= 0.95
    with pytest.raises(ValueError, match="at least 100"):
        export_model(str(tmp_path / "f"), model="lenet5", format="tflite", quantization="int8",
                     calibrate=functools.partial(int8_data, calibration_images=20), log=None)
    assert not (tmp_path / "f").exists()
    # Digits calibrate a digits model only: any other must name its calibration images.
    with pytest.raises(ValueError, match="needs --calibration_dataset"):
        export_model(str(tmp_path / "g"), model="lenet5", classes=5, format="tflite",
                     quantization="int8", calibrate=int8_data, log=None)
    assert not (tmp_path / "g").exists()


def test_default_calibration_source_digits_photos_or_a_clear_refusal():
    from pipelines.calibration import default_source

    yes, no = (lambda: True), (lambda: False)
    assert default_source(1000)[0] == "photos"      # scikit-image is in the test extra
    assert default_source(1000, photos_available=yes) == ("photos", "train", "validation")
    assert default_source(1001, photos_available=yes)[0] == "photos"
    assert default_source(10, photos_available=no) == ("digits", "train", "test")
    # explicit values win
    assert default_source(1000, "imagenette/320px", None, "validation", photos_available=no) == \
        ("imagenette/320px", "train", "validation")
    assert default_source(1000, None, "validation", "train", photos_available=yes) == \
        ("photos", "validation", "train")
    assert default_source(5, "digits", photos_available=no) == ("digits", "train", "test")
    with pytest.raises(ValueError, match=r"needs --calibration_dataset for lite0 \(1000 classes\)"
                                         r".*'photos'.*pip install scikit-image"):
        default_source(1000, model="lite0", photos_available=no)
    with pytest.raises(ValueError, match=r"needs --calibration_dataset for net \(5 classes\)"):
        default_source(5, model="net", photos_available=yes)


def test_serving_benchmark_int8_runtimes_report_agreement(tmp_path, digits_lenet):
    path, calibration, check = digits_lenet
    model = kerasnets.create_model("lenet5", classes=10, weights=str(path))
    rows = S.serving_benchmark(model, str(tmp_path), runtimes=("keras", "saved_model",
                                                               "onnx_int8"),
                               batch_sizes=(1, 4), steps=1, warmup=1, preprocessing="torch",
                               calibration_data=calibration, check_data=check[:100])
    by = {r["runtime"]: r for r in rows}
    assert list(by) == ["keras", "saved_model", "onnx_int8"]
    assert by["keras"]["top1_agreement"] == 1 and by["saved_model"]["top1_agreement"] == 1
    assert 0.95 <= by["onnx_int8"]["top1_agreement"] <= 1
    assert by["keras"]["top1_agreement_confident"] == 1
    assert 0.95 <= by["onnx_int8"]["top1_agreement_confident"] <= 1
    assert by["onnx_int8"]["size_mb"] < 0.45 * by["saved_model"]["size_mb"]
