"""Bias correction for int8 (kerasnets.deployment.quantization): the converters' weight grid is predicted
exactly, the correction cancels the mean shift it causes, and the float32 model is untouched."""

import json
import os

import keras
import numpy as np
import pytest

from kerasnets.deployment import export as E
from kerasnets.deployment import quantization as Q


def _toy(seed=0, padding="valid"):
    """conv + BN + ReLU, depthwise + BN + ReLU, then a 10-way head; BatchNorm statistics far from
    the identity, so folding makes per-channel ranges differ as in a trained network."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, padding=padding, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding=padding, depth_multiplier=2, name="dw")(x)
    x = keras.layers.BatchNormalization(name="dw_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name="toy")
    rng = np.random.default_rng(seed)
    for bn in (model.get_layer("conv_bn"), model.get_layer("dw_bn")):
        n = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.2, 3.0, n).astype("float32"))
        bn.beta.assign(rng.normal(0, 0.5, n).astype("float32"))
        bn.moving_mean.assign(rng.normal(0, 0.3, n).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.01, 4.0, n).astype("float32"))
    images = rng.normal(0.3, 1.0, (120, 12, 12, 3)).astype("float32")
    return model, images


def _folded(conv, bn):
    factor = Q._folding_factor(bn)
    kernel = conv.kernel.numpy().astype("float64")
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        return kernel * factor.reshape(1, 1, *kernel.shape[2:])
    return kernel * factor


def test_pairs_and_a_model_without_batch_norm():
    model, images = _toy()
    assert [(c.name, b.name) for c, b in Q.conv_bn_pairs(model)] == [("conv", "conv_bn"),
                                                                     ("dw", "dw_bn")]
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D()])
    fixed, correction = Q.bias_corrected(plain, np.zeros((4, 8, 8, 3), "float32"))
    assert correction.layers == () and "nothing corrected" in correction.describe()
    assert all(np.array_equal(a, b) for a, b in zip(fixed.get_weights(), plain.get_weights()))


def test_rounding_error_is_the_tflite_converters_int8_grid(tmp_path):
    """The int8 kernels the TFLite converter writes, dequantised, are w_f + e exactly."""
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model, images = _toy()
    result = E.export(model, tmp_path / "q", format="tflite", quantization="int8",
                      calibration_data=images, check_data=images, min_agreement=0,
                      bias_correction=False, log=None)
    interpreter = Interpreter(
        model_path=result.artifact,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    kernels = {}
    for t in interpreter.get_tensor_details():
        if t["dtype"] == np.int8 and len(t["shape"]) == 4 and t["shape"][1:3].tolist() == [3, 3]:
            q = t["quantization_parameters"]
            shape = [1, 1, 1, 1]
            shape[q["quantized_dimension"]] = -1      # per-channel scales along that axis
            kernels[tuple(t["shape"])] = interpreter.get_tensor(t["index"]).astype("float64") * \
                q["scales"].reshape(shape)
    conv, dw = model.get_layer("conv"), model.get_layer("dw")
    # TFLite: conv filters (out, kh, kw, in); depthwise (1, kh, kw, in * multiplier)
    written_conv = kernels[(8, 3, 3, 3)].transpose(1, 2, 3, 0)
    written_dw = kernels[(1, 3, 3, 16)][0].reshape(3, 3, 8, 2)
    for layer, written in ((conv, written_conv), (dw, written_dw)):
        bn = model.get_layer(f"{layer.name}_bn")
        predicted = _folded(layer, bn) + Q.folded_rounding_error(layer, bn)
        np.testing.assert_allclose(written, predicted, rtol=1e-5, atol=1e-7)
        assert np.abs(Q.folded_rounding_error(layer, bn)).max() > 1e-4   # rounding is real


def test_correction_cancels_the_mean_shift_and_leaves_the_model_alone():
    model, images = _toy()
    before = [w.copy() for w in model.get_weights()]
    fixed, correction = Q.bias_corrected(model, images)
    assert correction.layers == ("conv", "dw") and min(correction.max_shift) > 0
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    # Give the corrected copy the kernel int8 rounding produces (w_f + e, unfolded again): the
    # first BatchNorm's mean output over the images is then float32's (valid padding: exact).
    conv, bn = model.get_layer("conv"), model.get_layer("conv_bn")
    error = Q.folded_rounding_error(conv, bn)
    quantised = fixed.get_layer("conv")
    quantised.kernel.assign((conv.kernel.numpy() + error / Q._folding_factor(bn))
                            .astype("float32"))
    probe = lambda m: np.asarray(keras.Model(m.input, m.get_layer("conv_bn").output)(  # noqa
        images, training=False)).mean((0, 1, 2))
    reference, corrected = probe(model), probe(fixed)
    uncorrected = reference + Q.output_shift(conv, error, np.asarray(
        keras.Model(model.input, conv.input)(images)).mean((0, 1, 2)))
    np.testing.assert_allclose(corrected, reference, atol=1e-4)   # float32 sums
    assert np.abs(uncorrected - reference).max() > 10 * np.abs(corrected - reference).max()


def test_int8_export_converts_the_corrected_copy_and_records_it(tmp_path):
    model, images = _toy(seed=1, padding="same")
    result = E.export(model, tmp_path / "q", format="tflite", quantization="int8",
                      calibration_data=images, check_data=images, min_agreement=0, log=None)
    meta = json.load(open(os.path.join(result.output, "export.json")))
    assert meta["bias_correction"]["layers"] == 2 and meta["bias_correction"]["max_shift"] > 0
    off = E.export(model, tmp_path / "off", format="tflite", quantization="int8",
                   calibration_data=images, check_data=images, min_agreement=0,
                   bias_correction=False, log=None)
    assert json.load(open(os.path.join(off.output, "export.json")))["bias_correction"] is None
    # Different int8 graphs, both checked against the float32 model as given.
    on_out = E.load_export(result.output).predict(images[:16])
    off_out = E.load_export(off.output).predict(images[:16])
    assert not np.array_equal(on_out, off_out)
    reference = np.asarray(model(images[:16]))
    assert np.abs(on_out - reference).mean() < np.abs(off_out - reference).mean() * 1.5
