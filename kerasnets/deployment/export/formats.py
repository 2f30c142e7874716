"""What an export can be: formats, input dtypes, quantisations, artifact names, the default
tolerances and int8 thresholds, and the errors an export raises."""

from __future__ import annotations

from typing import Sequence


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
