"""Export a kerasnets classifier for serving, verified after reload.

Formats (`FORMATS`), each written into a temporary directory beside `output` and moved into place
only once the artifact has been reloaded and its outputs match the Keras model's, so a server
never sees a half-written or wrong export:

- `saved_model` -- a TensorFlow SavedModel written by Keras' `keras.export.ExportArchive` (what
  `Model.export` uses) with named signatures returning `probabilities`, `top_k_classes`,
  `top_k_probabilities` and, when class names are given, `top_k_class_names`:
  `serving_default` takes the model's input (`input_dtype`: model-ready float32 images, uint8
  pixels normalised inside, or encoded image bytes) and, with `include_preprocessing`,
  `serving_bytes` takes a string tensor of encoded JPEG / PNG / GIF / BMP images and decodes,
  converts channels, resizes and normalises them exactly as the evaluation pipeline
  (`kerasnets.preprocessing.to_channels`, `center_crop_resize`, `normalize` with the registry
  entry's `preprocessing`, which `pipelines.transforms` re-exports).
- `tflite` -- LiteRT flatbuffer by Keras' `Model.export(format="litert")`, built-in ops only (no
  Flex delegate in ai-edge-litert), float32, `dynamic_range` / `float16` quantised, or `int8`:
  full-integer post-training quantisation (every op an int8 built-in kernel, activations
  calibrated on `calibration_data`; float32 / uint8 in and float32 probabilities out, quantised
  at the edges); checked with ai-edge-litert's interpreter (`tf.lite.Interpreter` is
  deprecated).
- `onnx` -- by Keras' `Model.export(format="onnx")` (tf2onnx 1.17), checked with onnxruntime;
  `int8` is onnxruntime's static quantisation in QDQ form (`onnxruntime.quantization`:
  per-channel int8 weights, uint8 activations calibrated on `calibration_data`), which
  onnxruntime fuses into integer kernels when it loads the file.
- `keras` -- the `.keras` file, reloaded with `keras.saving.load_model`.

TFLite and ONNX hold the probabilities only (one input, one output). Every grouped convolution
(`kerasnets.layers.GroupedConv2D`) is traced on its split route whatever the device, so exports
are the same everywhere and ONNX never sees Keras' native grouped convolution (tf2onnx cannot map
it and onnxruntime rejects the result as INVALID_GRAPH). An op a format cannot express raises
`UnsupportedOpError` naming the op(s).

The output directory holds the artifact (`saved_model`: the directory itself; otherwise
`model.tflite` / `model.onnx` / `model.keras`) and `export.json` (input, preprocessing,
signatures, class names, the verification's max abs difference). `load_export` reloads any
export as a `Served` predictor.

An int8 model is not expected to match float32 to 1e-4: it is checked by its top-1 agreement
with the float32 Keras model on `check_data` (real images the calibration did not see; by
default, and then said so, the calibration images). The agreement on all of them is reported
with its noise floor (the share whose float32 top-1 survives a one pixel-level change of the
input, `stable_top1`); at least `min_agreement` (`DEFAULT_AGREEMENT`) is required on those where
float32's top-1 probability is at least `CONFIDENT`: elsewhere the float32 answer is near a tie
(measured on photo views: EfficientNet-Lite0's float32 top-1 survives one pixel level on
~86-89%; bias-corrected int8 agrees on ~93% of all views and on 100% of the confident ones).
All of it is stored in `export.json`. int8 is converted from a bias-corrected copy of the
model by default (`kerasnets.quantization.bias_corrected`: each convolution + BatchNorm's mean
output shift from int8 weight rounding, measured on the calibration images, is cancelled in
the BatchNorm's beta); the check compares with the model as given.
The calibration images come from the caller (`tools.export` draws them from a pipeline):
kerasnets never imports `pipelines`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
from typing import Callable, Sequence

import keras
import numpy as np

from kerasnets.preprocessing import MODES as PREPROCESSING_MODES

FORMATS = ("saved_model", "tflite", "onnx", "keras")
INPUT_DTYPES = ("float32", "uint8", "string")
QUANTIZATIONS = ("none", "dynamic_range", "float16", "int8")
# Quantisations each format offers.
FORMAT_QUANTIZATIONS = {"tflite": QUANTIZATIONS, "onnx": ("none", "int8")}
ARTIFACTS = {"saved_model": ".", "tflite": "model.tflite", "onnx": "model.onnx",
             "keras": "model.keras"}
METADATA = "export.json"
BYTES_SIGNATURE = "serving_bytes"
# Max abs difference of probabilities (raw outputs for `keras`) between reload and Keras.
# int8 is judged by top-1 agreement instead (its probabilities need only be finite and in range).
DEFAULT_TOLERANCE = {"none": 1e-4, "float16": 1e-2, "dynamic_range": 0.1, "int8": 1.0}
# int8: minimum top-1 agreement with float32 Keras on the check images where float32's top-1
# probability is at least CONFIDENT; the agreement on all of them is reported beside it.
DEFAULT_AGREEMENT = 0.98
CONFIDENT = 0.5
MIN_CONFIDENT = 20  # int8: fewer confident check images (or half of them) judge nothing
MIN_CALIBRATION = 100        # int8: calibration images at least


class ExportError(RuntimeError):
    """The artifact could not be written, reloaded, or does not match the Keras model."""


class UnsupportedOpError(ExportError):
    """The model uses ops the target format cannot express; `ops` names them."""

    def __init__(self, fmt: str, ops: Sequence[str], detail: str = ""):
        self.format, self.ops = fmt, tuple(ops)
        super().__init__(f"Cannot export to {fmt}: unsupported op(s) {', '.join(self.ops)}"
                         f"{detail}.")


@dataclasses.dataclass(frozen=True)
class ExportResult:
    output: str                  # the export directory
    artifact: str                # the SavedModel directory or the model file
    format: str
    signatures: tuple[str, ...]  # checked signatures (one for formats without named signatures)
    max_abs_diff: float          # largest over every checked signature and batch size
    tolerance: float
    checked_inputs: int
    agreement: float | None = None   # int8: top-1 agreement with float32 Keras on check_data
    agreement_inputs: int = 0
    check: "AgreementCheck | None" = None   # int8: the agreement check in full


@dataclasses.dataclass(frozen=True)
class AgreementCheck:
    """An int8 export's top-1 agreement with float32 Keras on real check images.
    `confident_*`: on the images where float32 gives its top class at least `CONFIDENT`
    probability; `min_agreement` is required there. Elsewhere the float32 answer is close to a
    tie and flips under noise far smaller than int8's: `float32_stability` is the share of images
    whose float32 top-1 survives a one pixel-level change of the input (`stable_top1`), the
    noise floor that the agreement on all images is to be read against."""
    agreement: float
    images: int
    confident_agreement: float
    confident_images: int
    float32_stability: float
    float32_median_top1: float

    def describe(self) -> str:
        confident = (f"{self.confident_agreement:.1%} of the {self.confident_images} where "
                     f"float32's top-1 probability is >= {CONFIDENT:g}" if self.confident_images
                     else f"float32's top-1 probability is below {CONFIDENT:g} on all of them")
        return (f"{self.agreement:.1%} of {self.images} image(s); {confident} (float32 itself "
                f"keeps its top-1 under a one pixel-level change on {self.float32_stability:.1%};"
                f" median float32 top-1 probability {self.float32_median_top1:.2f})")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# Building the serving graph.

def ends_in_softmax(model) -> bool:
    """Whether the model's last layer applies softmax (else its outputs are taken as logits)."""
    last = model.layers[-1]
    return (isinstance(last, keras.layers.Softmax)
            or getattr(getattr(last, "activation", None), "__name__", "") == "softmax")


@contextlib.contextmanager
def split_grouped_convolutions(model):
    """Trace every `GroupedConv2D` of `model` (nested models included) on its split route, then
    restore each layer's `implementation`."""
    from kerasnets.layers import GroupedConv2D

    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, GroupedConv2D)]
    saved = [layer.implementation for layer in layers]
    try:
        for layer in layers:
            layer.implementation = "split"
        yield layers
    finally:
        for layer, implementation in zip(layers, saved):
            layer.implementation = implementation


class _Normalize(keras.layers.Layer):
    """uint8 / float pixels in [0, 255] -> model input, by the registry's preprocessing mode
    (`kerasnets.preprocessing.normalize`). Used only inside exported graphs, never saved."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, pixels):
        from kerasnets.preprocessing import normalize

        return normalize(keras.ops.cast(pixels, "float32"), self.mode)


def serving_model(model, input_dtype: str = "float32", preprocessing: str | None = None):
    """A functional wrapper: `images` (model-ready float32, or uint8 pixels normalised inside)
    -> probabilities (softmax added when the model outputs logits)."""
    shape = tuple(model.input_shape[1:])
    inputs = keras.Input(shape, dtype=input_dtype, name="images")
    x = _Normalize(preprocessing, name="normalize")(inputs) if input_dtype == "uint8" else inputs
    y = model(x, training=False)
    if not ends_in_softmax(model):
        y = keras.layers.Softmax(name="probabilities")(y)
    return keras.Model(inputs, y, name=f"{model.name}_serving")


def decode_images(image_bytes, size: int, channels: int, preprocessing: str,
                  crop_fraction: float | None = 0.875):
    """Encoded images (string tensor [N]) -> model input [N, size, size, channels], exactly as
    the evaluation pipeline: decode as RGB, convert to `channels`, centre crop + resize
    (`center_crop_resize`; `crop_fraction=None`: a square resize), normalise (`normalize`)."""
    import tensorflow as tf

    from kerasnets.preprocessing import normalize
    from kerasnets.preprocessing import center_crop_resize, to_channels

    def one(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image = center_crop_resize(to_channels(image, channels), size, crop_fraction)
        return tf.cast(image, tf.float32)

    images = tf.map_fn(one, image_bytes,
                       fn_output_signature=tf.TensorSpec((size, size, channels), tf.float32))
    return normalize(images, preprocessing)


def _named_outputs(probabilities, top_k: int, class_names):
    import tensorflow as tf

    top = tf.math.top_k(probabilities, k=top_k)
    out = {"probabilities": probabilities, "top_k_classes": top.indices,
           "top_k_probabilities": top.values}
    if class_names:
        out["top_k_class_names"] = tf.gather(tf.constant(list(class_names)), top.indices)
    return out


# ---------------------------------------------------------------------------------------------
# Writers, one per format.

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


# ---------------------------------------------------------------------------------------------
# Reloading.

class Served:
    """A reloaded export. `predict(inputs, signature)` returns the probabilities (raw model
    outputs for the `keras` format) as numpy; `outputs` returns every named output of a
    SavedModel signature."""

    def __init__(self, path, *, threads: int | None = None):
        self.path = os.fspath(path)
        meta_path = os.path.join(self.path, METADATA)
        if not os.path.exists(meta_path):
            raise FileNotFoundError(f"{self.path!r} is not a kerasnets export (no {METADATA}).")
        with open(meta_path) as f:
            self.metadata = json.load(f)
        self.format = self.metadata["format"]
        artifact = os.path.join(self.path, ARTIFACTS[self.format])
        if self.format == "saved_model":
            import tensorflow as tf

            self._loaded = tf.saved_model.load(artifact)
            self.signatures = tuple(self._loaded.signatures)
        elif self.format == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=artifact, num_threads=threads)
            self._runner = self._interpreter.get_signature_runner("serving_default")
            self._input = self._interpreter.get_signature_list()["serving_default"]["inputs"][0]
            self.signatures = ("serving_default",)
        elif self.format == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self._session = ort.InferenceSession(artifact, options,
                                                 providers=["CPUExecutionProvider"])
            self._input = self._session.get_inputs()[0].name
            self.signatures = ("serving_default",)
        else:
            import kerasnets.applications  # noqa: F401  (registers every custom layer)

            self._model = keras.saving.load_model(artifact, compile=False)
            self.signatures = ("serving_default",)

    def outputs(self, inputs, signature: str = "serving_default") -> dict[str, np.ndarray]:
        if self.format != "saved_model":
            return {"probabilities": self.predict(inputs, signature)}
        import tensorflow as tf

        function = self._loaded.signatures[signature]
        (name,) = function.structured_input_signature[1]
        return {k: v.numpy() for k, v in function(**{name: tf.constant(inputs)}).items()}

    def predict(self, inputs, signature: str = "serving_default") -> np.ndarray:
        if signature not in self.signatures:
            raise ValueError(f"{self.path!r} has no signature {signature!r}; it has "
                             f"{', '.join(self.signatures)}.")
        if self.format == "saved_model":
            return self.outputs(inputs, signature)["probabilities"]
        if self.format == "tflite":
            (out,) = self._runner(**{self._input: np.asarray(inputs)}).values()
            return out
        if self.format == "onnx":
            return self._session.run(None, {self._input: np.asarray(inputs)})[0]
        return np.asarray(self._model(np.asarray(inputs), training=False))


def load_export(path, *, threads: int | None = None) -> Served:
    """Reload an export written by `export` (any format)."""
    return Served(path, threads=threads)


# ---------------------------------------------------------------------------------------------
# Checking inputs and the export itself.

def check_inputs(model, *, preprocessing=None, num=4, seed=0, crop_fraction=0.875
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Inputs for the reload check by input dtype, each with the model-ready float32 images they
    stand for: random pixels (`uint8`), the same normalised (`float32`; in [-1, 1] when
    `preprocessing` is unknown) and, with `preprocessing`, encoded images (`string`: PNG and
    JPEG files of another, non-square size, alternating)."""
    import tensorflow as tf

    from kerasnets.preprocessing import normalize

    height, width, channels = model.input_shape[1:]
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(num, height, width, channels), dtype=np.uint8)
    if preprocessing is None:  # unknown normalisation: inputs in [-1, 1]
        model_ready = pixels.astype("float32") / 127.5 - 1.0
    else:
        model_ready = normalize(pixels.astype("float32"), preprocessing).numpy()
    kinds = {"float32": (model_ready, model_ready), "uint8": (pixels, model_ready)}
    if preprocessing is not None:
        big = rng.integers(0, 256, size=(num, height * 5 // 4 + 3, width * 3 // 2, 3),
                           dtype=np.uint8)
        encoded = np.array([(tf.io.encode_png if i % 2 == 0 else tf.io.encode_jpeg)(image)
                            .numpy() for i, image in enumerate(big)], dtype=object)
        decoded = decode_images(tf.constant(encoded), height, channels, preprocessing,
                                crop_fraction).numpy()
        kinds["string"] = (encoded, decoded)
    return kinds


def _reference(model, images) -> np.ndarray:
    out = np.asarray(model(images, training=False))
    return out if ends_in_softmax(model) else np.asarray(keras.ops.softmax(out))


def model_ready(images, input_dtype: str, preprocessing: str | None) -> np.ndarray:
    """What the Keras model sees for serving inputs `images`: uint8 pixels normalised by
    `preprocessing`, float32 inputs as they are."""
    if input_dtype != "uint8":
        return np.asarray(images, "float32")
    from kerasnets.preprocessing import normalize

    return normalize(np.asarray(images).astype("float32"), preprocessing).numpy()


def _top1_matches(served, model, images, *, input_dtype="float32", preprocessing=None,
                  batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per image of `images` (serving inputs): whether `served` and the Keras model pick the same
    most probable class, and the Keras model's probabilities."""
    images = np.asarray(images)
    same, expected_all = [], []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        got = served.predict(chunk)
        expected = _reference(model, model_ready(chunk, input_dtype, preprocessing))
        if not np.all(np.isfinite(got)):
            raise ExportError(f"The reloaded {served.format} model returns non-finite values.")
        same.append(got.argmax(-1) == expected.argmax(-1))
        expected_all.append(expected)
    return np.concatenate(same), np.concatenate(expected_all)


def top1_agreement(served, model, images, *, input_dtype="float32", preprocessing=None,
                   batch_size: int = 32, return_confidence: bool = False):
    """Fraction of `images` (serving inputs) whose most probable class is the same from the
    reloaded export `served` as from the Keras model (with `return_confidence`, also the
    median top-1 probability of the Keras model on them)."""
    same, expected = _top1_matches(served, model, images, input_dtype=input_dtype,
                                   preprocessing=preprocessing, batch_size=batch_size)
    agreement = float(np.mean(same))
    return ((agreement, float(np.median(expected.max(-1)))) if return_confidence
            else agreement)


def stable_top1(model, images, *, input_dtype="float32", preprocessing=None, seed: int = 0,
                batch_size: int = 32) -> np.ndarray:
    """Per image of `images` (serving inputs): whether the float32 Keras model keeps its most
    probable class when every input value moves by one pixel level, up or down at random
    (uint8 pixels by 1, clipped to [0, 255]; float32 inputs by (max - min) / 255 of `images`).

    An int8 model's input step is about one pixel level and its activations are far coarser, so
    where one pixel level already changes the float32 model's answer, the answer is noise and a
    disagreement says nothing about the quantisation. On real photographs that are not quite
    ImageNet (measured: views of scikit-image's photos), EfficientNet-Lite0's float32 top-1
    survives this on only ~88% of images, and every int8 disagreement measured fell among the
    others (docs/results/serving_int8_lite0_224.md)."""
    images = np.asarray(images)
    rng = np.random.default_rng(seed)
    sign = rng.choice(np.array([-1.0, 1.0], "float32"), size=images.shape)
    if input_dtype == "uint8":
        moved = np.clip(images.astype("float32") + sign, 0, 255).astype("uint8")
    else:
        values = images.astype("float32")
        step = (float(values.max()) - float(values.min())) / 255.0
        moved = values + step * sign
    keep = []
    for start in range(0, len(images), batch_size):
        part = slice(start, start + batch_size)
        before = _reference(model, model_ready(images[part], input_dtype, preprocessing))
        after = _reference(model, model_ready(moved[part], input_dtype, preprocessing))
        keep.append(before.argmax(-1) == after.argmax(-1))
    return np.concatenate(keep)


def verify_export(path, model, *, input_dtype="float32", preprocessing=None, tolerance=1e-4,
                  num=4, seed=0, crop_fraction=0.875, agreement_data=None,
                  min_agreement: float | None = None,
                  log: Callable[[str], None] | None = print
                  ) -> tuple[float, tuple[str, ...]] | tuple[float, tuple[str, ...],
                                                          AgreementCheck]:
    """Reload the export at `path`, run every signature on `num` check inputs (as one batch and
    as a batch of one) and compare with the Keras model. Returns (max abs difference, checked
    signatures); raises ExportError above `tolerance`. With `agreement_data` (serving inputs,
    real images), also the top-1 agreement with the Keras model on them as a third value (an
    `AgreementCheck`); raises ExportError when the agreement on the images where float32's
    top-1 probability is at least `CONFIDENT` is below `min_agreement`, or when there are fewer
    than `MIN_CONFIDENT` of them (with a `min_agreement` of 0 or None, nothing is enforced)."""
    try:
        served = load_export(path)
    except Exception as error:
        raise ExportError(f"The exported {_format_of(path)} artifact cannot be reloaded: "
                          f"{str(error).strip()[:2000]}") from error
    kinds = check_inputs(model, preprocessing=preprocessing, num=num, seed=seed,
                         crop_fraction=crop_fraction)
    plan = {"serving_default": input_dtype}
    if BYTES_SIGNATURE in served.signatures:
        plan[BYTES_SIGNATURE] = "string"
    worst = 0.0
    for signature, kind in plan.items():
        inputs, model_ready = kinds[kind]
        expected = (np.asarray(model(model_ready, training=False)) if served.format == "keras"
                    else _reference(model, model_ready))
        diffs = []
        for batch in (slice(None), slice(0, 1)):
            got = served.predict(inputs[batch], signature)
            if got.shape != expected[batch].shape:
                raise ExportError(f"{signature}: the reloaded {served.format} model returns shape "
                                  f"{got.shape}, the Keras model {expected[batch].shape}.")
            diffs.append(float(np.max(np.abs(got - expected[batch]))))
            if not diffs[-1] <= tolerance:  # also catches NaN
                raise ExportError(f"{signature}: the reloaded {served.format} model differs from "
                                  f"the Keras model by {diffs[-1]:.3g} (max abs, tolerance "
                                  f"{tolerance:g}) on {len(got)} check input(s).")
        if served.format == "saved_model":
            named = served.outputs(inputs, signature)
            best = np.take_along_axis(named["probabilities"], named["top_k_classes"][:, :1], -1)
            if not np.array_equal(best[:, 0], named["probabilities"].max(-1)):
                raise ExportError(f"{signature}: top_k_classes does not start at the most "
                                  f"probable class.")
        worst = max([worst] + diffs)
        if log:
            log(f"  {signature}: max abs difference {max(diffs):.3g} (tolerance {tolerance:g}) "
                f"on {num} {kind} input(s), batches of {num} and 1")
    if agreement_data is None:
        return worst, tuple(plan)
    same, expected = _top1_matches(served, model, agreement_data, input_dtype=input_dtype,
                                   preprocessing=preprocessing)
    stable = stable_top1(model, agreement_data, input_dtype=input_dtype,
                         preprocessing=preprocessing, seed=seed)
    confident = expected.max(-1) >= CONFIDENT
    check = AgreementCheck(
        agreement=float(np.mean(same)), images=len(same),
        confident_agreement=float(np.mean(same[confident])) if confident.any() else float("nan"),
        confident_images=int(confident.sum()), float32_stability=float(np.mean(stable)),
        float32_median_top1=float(np.median(expected.max(-1))))
    if log:
        log(f"  top-1 agreement with the float32 Keras model: {check.describe()}"
            + (f" (at least {min_agreement:.1%} required on the confident ones)"
               if min_agreement is not None else ""))
    needed = min(MIN_CONFIDENT, max(1, check.images // 2))
    if min_agreement:
        if check.confident_images < needed:
            raise ExportError(
                f"The float32 Keras model gives its top class {CONFIDENT:g} probability or more "
                f"on {check.confident_images} of the {check.images} check image(s) (median "
                f"top-1 probability {check.float32_median_top1:.2f}; at least {needed} "
                f"needed), so they cannot show whether the "
                f"{served.format} model agrees with it ({check.describe()}): check on images "
                f"like the model's training data, or skip the check with min_agreement=0 "
                f"(tools.export --min_agreement 0).")
        if check.confident_agreement < min_agreement:
            raise ExportError(
                f"The reloaded {served.format} model agrees with the Keras model on the top-1 "
                f"class of {check.describe()}: below the {min_agreement:.1%} required on the "
                f"confident ones. Calibration images unlike the model's training data are the "
                f"usual cause (measured: EfficientNet-Lite0 calibrated on upscaled digits "
                f"agrees on 79% of the confident photo views, on 100% when calibrated on "
                f"photos): calibrate on images like the training data "
                f"(tools.export --calibration_dataset), or accept a lower --min_agreement.")
    return worst, tuple(plan), check


def _format_of(path):
    try:
        with open(os.path.join(path, METADATA)) as f:
            return json.load(f)["format"]
    except (OSError, ValueError, KeyError):
        return "model"


# ---------------------------------------------------------------------------------------------
# The one entry point.

# Python modules each format needs to be written and checked, and the extra that installs them.
_RUNTIME_MODULES = {"tflite": (("ai_edge_litert", "ai-edge-litert"), "tflite"),
                    "onnx": (("tf2onnx", "tf2onnx"), ("onnxruntime", "onnxruntime"), "onnx")}


def _require(fmt):
    import importlib.util

    *modules, extra = _RUNTIME_MODULES.get(fmt, ("",))
    missing = [package for module, package in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise ExportError(f"Format {fmt!r} needs {', '.join(missing)}: pip install "
                          f"'kerasnets[{extra}]'.")


def _validate(model, fmt, input_dtype, preprocessing, include_preprocessing, quantization,
              class_names, top_k, crop_fraction, calibration_data=None, check_data=None):
    def choice(name, value, allowed):
        if value not in allowed:
            raise ValueError(f"Unknown {name} {value!r}; expected one of {', '.join(allowed)}.")

    choice("format", fmt, FORMATS)
    _require(fmt)
    choice("input dtype", input_dtype, INPUT_DTYPES)
    choice("quantization", quantization, QUANTIZATIONS)
    if preprocessing is not None:
        choice("preprocessing mode", preprocessing, PREPROCESSING_MODES)
    shape = tuple(model.input_shape)
    if len(shape) != 4 or None in shape[1:]:
        raise ValueError(f"export needs one image input of known size (batch, height, width, "
                         f"channels); {model.name} takes {shape}. Rebuild it with a fixed "
                         f"input_shape.")
    if len(model.output_shape) != 2:
        raise ValueError(f"export needs a classifier with outputs (batch, classes); "
                         f"{model.name} returns {model.output_shape} (include_top=False?).")
    classes = model.output_shape[-1]
    if fmt != "saved_model" and (input_dtype == "string" or include_preprocessing):
        raise ValueError(f"Encoded image bytes (--dtype string / --include_preprocessing) need "
                         f"image decoding ops, which only the saved_model format has; for "
                         f"{fmt}, use --dtype uint8 to take pixels and normalise inside.")
    if fmt == "keras" and input_dtype != "float32":
        raise ValueError("The keras format saves the model as it is: input dtype float32 only.")
    if quantization not in FORMAT_QUANTIZATIONS.get(fmt, ("none",)):
        offered = [q for q in FORMAT_QUANTIZATIONS.get(fmt, ()) if q != "none"]
        raise ValueError(f"Quantization {quantization!r} is not offered for format {fmt!r}"
                         + (f" (it offers {', '.join(offered)})" if offered else
                            f"; {fmt} exports float32") + ".")
    if quantization == "int8":
        _check_images("calibration_data", calibration_data, model, input_dtype,
                      minimum=MIN_CALIBRATION)
        if check_data is not None:
            _check_images("check_data", check_data, model, input_dtype, minimum=1)
    elif calibration_data is not None:
        raise ValueError(f"calibration_data is for quantization='int8', not {quantization!r}.")
    needs_mode = input_dtype != "float32" or include_preprocessing
    if needs_mode and preprocessing is None:
        raise ValueError("Pixels or image bytes in need the model's input normalisation: pass "
                         f"preprocessing= (one of {', '.join(PREPROCESSING_MODES)}; a registry "
                         f"entry's .preprocessing).")
    if class_names is not None and len(class_names) != classes:
        raise ValueError(f"{len(class_names)} class names given, the model has {classes} "
                         f"classes.")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
    if crop_fraction is not None and not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1] or None (square resize), got "
                         f"{crop_fraction}.")


def _check_images(what, images, model, input_dtype, *, minimum):
    """Images given for int8 calibration / checking: serving inputs of the model's shape."""
    if images is None:
        raise ValueError(f"quantization='int8' needs {what}: at least {minimum} images as the "
                         f"export's input takes them (model-ready float32, or uint8 pixels "
                         f"with input_dtype='uint8'), e.g. from the training pipeline.")
    shape = tuple(getattr(images, "shape", ()))
    want = tuple(model.input_shape[1:])
    if len(shape) != 4 or shape[1:] != want:
        raise ValueError(f"{what} must be a batch of images of shape (n,) + {want}, got "
                         f"{shape or type(images).__name__}.")
    if shape[0] < minimum:
        raise ValueError(f"{what} holds {shape[0]} image(s); int8 calibration needs at least "
                         f"{minimum} (a few hundred are better).")
    dtype = str(images.dtype)
    if (input_dtype == "uint8") != (dtype == "uint8"):
        raise ValueError(f"{what} is {dtype} but the export takes {input_dtype} inputs; pass "
                         f"images as the export's input takes them.")


def export(model, output, *, format: str = "saved_model", input_dtype: str = "float32",
           preprocessing: str | None = None, include_preprocessing: bool = False,
           crop_fraction: float | None = 0.875, class_names: Sequence[str] | None = None,
           top_k: int = 5, quantization: str = "none", tolerance: float | None = None,
           num_checks: int = 4, seed: int = 0, calibration_data=None, check_data=None,
           min_agreement: float | None = None, bias_correction: bool = True,
           log: Callable[[str], None] | None = print) -> ExportResult:
    """Export a classifier to `output` (a directory), reload it, check it, move it into place.

    `preprocessing` is a `kerasnets.preprocessing.MODES` mode (a registry entry's, or a model
    card's), needed for uint8 / string inputs and `include_preprocessing`; `crop_fraction` is
    the eval recipe's centre crop for image bytes (None: a square resize). `tolerance` (default
    `DEFAULT_TOLERANCE[quantization]`) bounds the max abs difference of probabilities on
    `num_checks` random inputs per signature.
    `quantization="int8"` (tflite or onnx) calibrates on `calibration_data` (at least
    `MIN_CALIBRATION` real images as the export takes them: model-ready float32, or uint8 pixels
    with `input_dtype="uint8"`) and is checked by its top-1 agreement with the Keras model on
    `check_data` (default: the calibration images), at least `min_agreement` (default
    `DEFAULT_AGREEMENT`) on the images where float32's top-1 probability is at least `CONFIDENT`
    (the result's `check` holds every figure). With `bias_correction` (int8 only, the default)
    the quantised graph is converted from a copy whose BatchNorm betas cancel the mean output
    shift of int8 weight rounding (`kerasnets.quantization`); the check compares with `model`.
    Raises ValueError for bad arguments, UnsupportedOpError naming ops a format cannot express,
    ExportError when the reloaded artifact fails or differs; `output` is then left as it was.
    """
    from kerasnets.utils import atomic_directory

    _validate(model, format, input_dtype, preprocessing, include_preprocessing, quantization,
              class_names, top_k, crop_fraction, calibration_data, check_data)
    int8 = quantization == "int8"
    if int8:
        calibration_data = np.asarray(calibration_data)
        check_on_calibration = check_data is None
        check_data = calibration_data if check_on_calibration else np.asarray(check_data)
        min_agreement = DEFAULT_AGREEMENT if min_agreement is None else float(min_agreement)
    tolerance = DEFAULT_TOLERANCE[quantization] if tolerance is None else float(tolerance)
    top_k = min(top_k, model.output_shape[-1])
    class_names = [str(n) for n in class_names] if class_names is not None else None
    output = os.path.abspath(os.fspath(output))
    written, correction = model, None
    if int8 and bias_correction:
        from kerasnets.quantization import bias_corrected

        written, correction = bias_corrected(
            model, model_ready(calibration_data, input_dtype, preprocessing))
        if log:
            log(f"  {correction.describe()}")
    with atomic_directory(output) as tmp:
        artifact = os.path.join(tmp, ARTIFACTS[format])
        with split_grouped_convolutions(written):
            if format == "saved_model":
                _write_saved_model(model, tmp, input_dtype=input_dtype,
                                   preprocessing=preprocessing,
                                   include_preprocessing=include_preprocessing,
                                   crop_fraction=crop_fraction, class_names=class_names,
                                   top_k=top_k)
            elif format == "tflite":
                _write_tflite(written, artifact, input_dtype=input_dtype,
                              preprocessing=preprocessing, quantization=quantization,
                              calibration=calibration_data)
            elif format == "onnx":
                _write_onnx(written, artifact, input_dtype=input_dtype,
                            preprocessing=preprocessing, quantization=quantization,
                            calibration=calibration_data)
            else:
                model.save(artifact)
        metadata = _metadata(model, format, input_dtype, preprocessing, include_preprocessing,
                             crop_fraction, class_names, top_k, quantization)
        with open(os.path.join(tmp, METADATA), "w") as f:
            json.dump(metadata, f, indent=1)
        if log:
            log(f"Wrote {format} export of {model.name}; checking it after reload:")
            if int8 and check_on_calibration:
                log("  (top-1 agreement measured on the calibration images themselves: pass "
                    "check_data the calibration did not see for an unbiased check)")
        worst, signatures, *agreement = verify_export(
            tmp, model, input_dtype=input_dtype, preprocessing=preprocessing,
            tolerance=tolerance, num=num_checks, seed=seed, crop_fraction=crop_fraction,
            agreement_data=check_data if int8 else None,
            min_agreement=min_agreement if int8 else None, log=log)
        check = agreement[0] if agreement else None
        agreement = check.agreement if check else None
        metadata["check"] = {"max_abs_diff": worst, "tolerance": tolerance,
                             "inputs_per_signature": num_checks, "signatures": list(signatures)}
        if int8:
            metadata["check"].update(top1_agreement=agreement, min_agreement=min_agreement,
                                     agreement_images=len(check_data),
                                     top1_agreement_confident=(
                                         None if check.confident_images == 0
                                         else check.confident_agreement),
                                     confident_images=check.confident_images,
                                     float32_stability=check.float32_stability,
                                     checked_on_calibration_images=check_on_calibration)
            metadata["calibration_images"] = len(calibration_data)
            metadata["bias_correction"] = None if correction is None else {
                "layers": len(correction.layers),
                "max_shift": max(correction.max_shift, default=0.0)}
        with open(os.path.join(tmp, METADATA), "w") as f:
            json.dump(metadata, f, indent=1)
    return ExportResult(output=output, artifact=os.path.normpath(os.path.join(
        output, ARTIFACTS[format])), format=format, signatures=signatures, max_abs_diff=worst,
        tolerance=tolerance, checked_inputs=num_checks, agreement=agreement,
        agreement_inputs=len(check_data) if int8 else 0, check=check)


def _metadata(model, fmt, input_dtype, preprocessing, include_preprocessing, crop_fraction,
              class_names, top_k, quantization) -> dict:
    import tensorflow as tf

    import kerasnets

    signatures = {}
    if fmt == "saved_model":
        outputs = ["probabilities", "top_k_classes", "top_k_probabilities"] + (
            ["top_k_class_names"] if class_names else [])
        signatures["serving_default"] = {
            "input": "image_bytes" if input_dtype == "string" else "images",
            "dtype": input_dtype, "outputs": outputs}
        if include_preprocessing and input_dtype != "string":
            signatures[BYTES_SIGNATURE] = {"input": "image_bytes", "dtype": "string",
                                           "outputs": outputs}
    else:
        signatures["serving_default"] = {"input": "images", "dtype": input_dtype, "outputs": [
            "probabilities" if fmt != "keras" or ends_in_softmax(model) else "logits"]}
    return {
        "model": model.name, "format": fmt, "artifact": ARTIFACTS[fmt],
        "input_shape": list(model.input_shape[1:]), "classes": int(model.output_shape[-1]),
        "input_dtype": input_dtype, "preprocessing": preprocessing,
        "crop_fraction": crop_fraction if (input_dtype == "string" or include_preprocessing)
        else None,
        "quantization": quantization, "top_k": top_k, "class_names": class_names,
        "signatures": signatures,
        "versions": {"kerasnets": kerasnets.__version__, "tensorflow": tf.__version__,
                     "keras": keras.__version__},
    }
