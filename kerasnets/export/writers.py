"""One writer per format: SavedModel (Keras' `ExportArchive`), TFLite (float, dynamic range,
float16, int8) and ONNX (float, onnxruntime's static int8 in QDQ form). An op a format cannot
express raises `UnsupportedOpError` naming it."""

from __future__ import annotations

import logging
import os
import re

import keras

from kerasnets.deployment.export.formats import BYTES_SIGNATURE, UnsupportedOpError
from kerasnets.deployment.export.graph import _named_outputs, decode_images, serving_model


def _write_saved_model(model, path, *, input_dtype, preprocessing, include_preprocessing,
                       crop_fraction, class_names, top_k):
    import tensorflow as tf

    size, channels = model.input_shape[1], model.input_shape[3]
    float_net = serving_model(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    bytes_spec = tf.TensorSpec((None,), tf.string, name="image_bytes")

    def from_bytes(image_bytes):
        x = decode_images(image_bytes, size, channels, preprocessing, crop_fraction)
        return _named_outputs(float_net(x), top_k, class_names)

    if input_dtype == "string":
        archive.add_endpoint("serving_default", from_bytes, input_signature=[bytes_spec])
    else:
        net = float_net if input_dtype == "float32" else serving_model(model, input_dtype,
                                                                       preprocessing)
        archive.add_endpoint(
            "serving_default", lambda images: _named_outputs(net(images), top_k, class_names),
            input_signature=[tf.TensorSpec((None,) + tuple(model.input_shape[1:]),
                                           tf.as_dtype(input_dtype), name="images")])
        if include_preprocessing:
            archive.add_endpoint(BYTES_SIGNATURE, from_bytes, input_signature=[bytes_spec])
    archive.write_out(path, verbose=False)


_TFLITE_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")


_TFLITE_INT8_OP = re.compile(r"Quantization not yet supported for op: '(\w+)'")


def _write_tflite(model, path, *, input_dtype, preprocessing, quantization, calibration=None):
    import tensorflow as tf

    options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantization != "none":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
    if quantization == "int8":
        # Full integer: only int8 kernels; the converter fails naming an op that has none.
        options["target_spec"]["supported_ops"] = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        options["representative_dataset"] = lambda: ([calibration[i:i + 1]]
                                                     for i in range(len(calibration)))
    net = serving_model(model, input_dtype, preprocessing)
    try:
        net.export(path, format="litert", verbose=False, **options)
    except Exception as error:  # the converter's error lists the ops without builtin kernels
        ops = sorted(set(_TFLITE_OP.findall(str(error))))
        if ops:
            raise UnsupportedOpError("tflite", ops, " (no TFLite built-in kernel; ai-edge-litert "
                                                   "has no Flex delegate for TensorFlow ops)") \
                from None
        ops = sorted(set(_TFLITE_INT8_OP.findall(str(error))))
        if ops:
            raise UnsupportedOpError("tflite int8", ops, " (no int8 TFLite kernel)") from None
        raise


def _write_onnx(model, path, *, input_dtype, preprocessing, quantization="none",
                calibration=None):
    if quantization == "int8":
        return _write_onnx_int8(model, path, input_dtype=input_dtype,
                                preprocessing=preprocessing, calibration=calibration)
    import onnx
    import tensorflow as tf

    net = serving_model(model, input_dtype, preprocessing)
    spec = tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.as_dtype(input_dtype),
                         name="images")
    logger = logging.getLogger("tf2onnx")  # its INFO lines would flood a tool's output
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        net.export(path, format="onnx", verbose=False, input_signature=[spec])
    finally:
        logger.setLevel(level)
    # tf2onnx only logs ops it cannot map and leaves them in the graph as TensorFlow ops.
    graph = onnx.load(path, load_external_data=False).graph
    bad = {}
    for node in graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, node.domain):
            bad.setdefault(node.op_type, node.name)
    if bad:
        raise UnsupportedOpError("onnx", sorted(bad), " (no ONNX equivalent in tf2onnx; at "
                                 + ", ".join(f"{n!r}" for n in bad.values()) + ")")


def _write_onnx_int8(model, path, *, input_dtype, preprocessing, calibration):
    """The float32 ONNX graph, then onnxruntime's static quantisation in QDQ form: per-channel
    int8 weights and uint8 activations whose ranges are calibrated (min-max) on `calibration`.
    uint8 activations x int8 weights is the pair onnxruntime's x86 kernels run fastest
    (measured on EfficientNet-Lite0, batch 1: 2.3 ms, against 4.5 ms with int8 activations and
    3.7 ms in float32). The intermediate float files are written beside `path` and removed."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    stem = os.path.splitext(path)[0]
    float_path, prepared_path = stem + ".float.onnx", stem + ".prepared.onnx"

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(range(len(calibration)))

        def get_next(self):
            i = next(self.batches, None)
            return None if i is None else {"images": calibration[i:i + 1]}

    try:
        _write_onnx(model, float_path, input_dtype=input_dtype, preprocessing=preprocessing)
        # Shape inference and graph clean-up first, as onnxruntime recommends for quantisation.
        quant_pre_process(float_path, prepared_path, skip_symbolic_shape=True)
        quantize_static(prepared_path, path, Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
    finally:
        for leftover in (float_path, prepared_path):
            if os.path.exists(leftover):
                os.remove(leftover)
