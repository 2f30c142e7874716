"""The one entry point, `export`: arguments validated, the artifact written into a temporary
directory, reloaded and checked, then moved into place with its `export.json`."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Sequence

import keras
import numpy as np

from kerasnets.deployment.export.checks import AgreementCheck, model_ready, verify_export
from kerasnets.deployment.export.formats import (ARTIFACTS, BYTES_SIGNATURE, DEFAULT_AGREEMENT,
                                      DEFAULT_TOLERANCE, FORMAT_QUANTIZATIONS, FORMATS,
                                      INPUT_DTYPES, METADATA, MIN_CALIBRATION, QUANTIZATIONS,
                                      ExportError)
from kerasnets.deployment.export.graph import ends_in_softmax, split_grouped_convolutions
from kerasnets.deployment.export.writers import _write_onnx, _write_saved_model, _write_tflite
from kerasnets.zoo.preprocessing import MODES as PREPROCESSING_MODES


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

    `preprocessing` is a `kerasnets.zoo.preprocessing.MODES` mode (a registry entry's, or a model
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
    shift of int8 weight rounding (`kerasnets.deployment.quantization`); the check compares with `model`.
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
        from kerasnets.deployment.quantization import bias_corrected

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
