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
  (`kerasnets.zoo.preprocessing.to_channels`, `center_crop_resize`, `normalize` with the registry
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
model by default (`kerasnets.deployment.quantization.bias_corrected`: each convolution + BatchNorm's mean
output shift from int8 weight rounding, measured on the calibration images, is cancelled in
the BatchNorm's beta); the check compares with the model as given.
The calibration images come from the caller (`tools.export` draws them from a pipeline):
kerasnets never imports `pipelines`.

The package, by concern (every name is re-exported here, so `from kerasnets.deployment.export import ...`
and `kerasnets.deployment.export.export(...)` work as before):

- `formats`: the formats, input dtypes, quantisations, artifact names, tolerances, thresholds
  and errors;
- `graph`: the serving graph (softmax, uint8 normalisation, image-bytes decoding, top-k);
- `writers`: one writer per format;
- `runtimes`: `Served` / `load_export`, the four-runtime loader that `kerasnets.deployment.serving` reuses;
- `checks`: the reload check (`verify_export`) and int8's top-1 agreement (`AgreementCheck`);
- `exporter`: `export`, the one entry point.
"""

from kerasnets.deployment.export.checks import (AgreementCheck, check_inputs, model_ready, stable_top1,
                                     top1_agreement, verify_export)
from kerasnets.deployment.export.exporter import ExportResult, export
from kerasnets.deployment.export.formats import (ARTIFACTS, BYTES_SIGNATURE, CONFIDENT, DEFAULT_AGREEMENT,
                                      DEFAULT_TOLERANCE, FORMAT_QUANTIZATIONS, FORMATS,
                                      INPUT_DTYPES, METADATA, MIN_CALIBRATION, MIN_CONFIDENT,
                                      QUANTIZATIONS, ExportError, UnsupportedOpError)
from kerasnets.deployment.export.graph import (decode_images, ends_in_softmax, serving_model,
                                    split_grouped_convolutions)
from kerasnets.deployment.export.runtimes import Served, load_export
from kerasnets.zoo.preprocessing import MODES as PREPROCESSING_MODES

__all__ = [
    "ARTIFACTS", "BYTES_SIGNATURE", "CONFIDENT", "DEFAULT_AGREEMENT", "DEFAULT_TOLERANCE",
    "FORMAT_QUANTIZATIONS", "FORMATS", "INPUT_DTYPES", "METADATA", "MIN_CALIBRATION",
    "MIN_CONFIDENT", "PREPROCESSING_MODES", "QUANTIZATIONS", "AgreementCheck", "ExportError",
    "ExportResult", "Served", "UnsupportedOpError", "check_inputs", "decode_images",
    "ends_in_softmax", "export", "load_export", "model_ready", "serving_model",
    "split_grouped_convolutions", "stable_top1", "top1_agreement", "verify_export",
]
