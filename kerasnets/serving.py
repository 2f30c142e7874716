"""Serving latency of a Keras classifier against its exports, as `python -m tools.benchmark
--serving` reports it.

Each runtime is called the way a server calls it, numpy in and numpy out: the Keras model as a
compiled `tf.function` (the fastest way to call it in TensorFlow), the SavedModel's
`serving_default` signature after `tf.saved_model.load`, the TFLite flatbuffer through
ai-edge-litert's interpreter (XNNPACK, `threads` threads), the ONNX file through onnxruntime
(CPU provider). Every export is written and verified by `kerasnets.deployment.export.export` first. Like
`kerasnets.measurement.benchmark` (whose `interleaved_times` it uses), warm-up calls come first, then the
runtimes' calls are interleaved (keras, saved_model, tflite, onnx, keras, ...) so that load on
the machine hits them alike, and each figure is a median: latency in ms per call at batch 1,
images/s at larger batches.
"""

from __future__ import annotations

import os
import statistics
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from kerasnets.measurement.benchmark import interleaved_times  # the one interleaved timing loop

RUNTIMES = ("keras", "saved_model", "tflite", "onnx", "tflite_int8", "onnx_int8")
DEFAULT_RUNTIMES = ("keras", "saved_model", "tflite", "onnx")


def keras_predictor(model) -> Callable[[np.ndarray], np.ndarray]:
    """`model` as a compiled tf.function over any batch size, numpy in and out."""
    import tensorflow as tf

    spec = tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32)
    function = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return lambda x: function(x).numpy()


def measure_serving(predictors: Mapping[str, Callable[[np.ndarray], Any]], input_shape,
                    *, batch_sizes: Sequence[int] = (1, 32), steps: int = 20, warmup: int = 3,
                    seed: int = 0) -> dict[str, dict[str, float]]:
    """Per predictor and batch size b: `b{b}_ms` (median ms per call), `b{b}_p90_ms` and
    `b{b}_img_s` (b / median), on random float32 inputs of `input_shape` (without batch)."""
    rng = np.random.default_rng(seed)
    figures: dict[str, dict[str, float]] = {name: {} for name in predictors}
    for batch in batch_sizes:
        x = rng.uniform(-1, 1, size=(batch,) + tuple(input_shape)).astype("float32")
        times = interleaved_times({name: (lambda p=p: p(x)) for name, p in predictors.items()},
                                  steps=steps, warmup=warmup)
        for name, t in times.items():
            median = statistics.median(t)
            figures[name].update({f"b{batch}_ms": 1e3 * median,
                                  f"b{batch}_p90_ms": 1e3 * float(np.percentile(t, 90)),
                                  f"b{batch}_img_s": batch / median})
    return figures


def _size_mb(path) -> float:
    if os.path.isfile(path):
        return os.path.getsize(path) / 2**20
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files) / 2**20


def _predict_all(predict, images, batch_size: int = 32) -> np.ndarray:
    return np.concatenate([np.asarray(predict(images[i:i + batch_size]))
                           for i in range(0, len(images), batch_size)])


def serving_benchmark(model, workdir, *, runtimes: Sequence[str] = DEFAULT_RUNTIMES,
                      preprocessing: str | None = None, batch_sizes: Sequence[int] = (1, 32),
                      steps: int = 20, warmup: int = 3, threads: int | None = None,
                      calibration_data=None, check_data=None,
                      log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Export `model` to every runtime of `runtimes` but keras (under `workdir`, verified),
    reload, and measure them interleaved with the Keras model. One row per runtime: `runtime`,
    `size_mb` (artifact), the `measure_serving` figures and `b{b}_speedup` (Keras' median time
    over the runtime's; > 1: faster than Keras).

    `tflite_int8` / `onnx_int8` are the int8 exports (`kerasnets.deployment.export`, quantization="int8"),
    calibrated on `calibration_data` (model-ready float32 images). With `check_data` (model-ready
    images), every row also gets `top1_agreement`: the fraction of them whose top-1 class the
    runtime shares with the float32 Keras model, and `top1_agreement_confident`: the same on
    those where float32's top-1 probability is at least `kerasnets.deployment.export.CONFIDENT` (the export
    check itself is not enforced here: a benchmark reports, the export tool refuses)."""
    from kerasnets.deployment.export import export, load_export

    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown or not runtimes:
        raise ValueError(f"Unknown serving runtime(s) {unknown or runtimes}; expected some of "
                         f"{', '.join(RUNTIMES)}.")
    threads = threads or os.cpu_count()
    predictors, sizes = {}, {}
    for runtime in runtimes:
        if runtime == "keras":
            predictors[runtime] = keras_predictor(model)
            sizes[runtime] = None
            continue
        quantized = runtime.endswith("_int8")
        fmt = runtime.removesuffix("_int8")
        int8 = dict(quantization="int8", calibration_data=calibration_data,
                    check_data=check_data, min_agreement=0.0) if quantized else {}
        result = export(model, os.path.join(workdir, runtime), format=fmt,
                        preprocessing=preprocessing, log=log, **int8)
        served = load_export(result.output, threads=threads)
        predictors[runtime] = served.predict
        sizes[runtime] = _size_mb(result.artifact)
    agreement, confident_agreement = {}, {}
    if check_data is not None:
        from kerasnets.deployment.export import CONFIDENT

        check = np.asarray(check_data, "float32")
        reference = _predict_all(predictors.get("keras") or keras_predictor(model), check)
        confident = reference.max(-1) >= CONFIDENT
        for runtime, predict in predictors.items():
            same = _predict_all(predict, check).argmax(-1) == reference.argmax(-1)
            agreement[runtime] = float(np.mean(same))
            confident_agreement[runtime] = (float(np.mean(same[confident])) if confident.any()
                                            else float("nan"))
    figures = measure_serving(predictors, model.input_shape[1:], batch_sizes=batch_sizes,
                              steps=steps, warmup=warmup)
    rows = []
    for runtime in runtimes:
        row = {"runtime": runtime, "size_mb": sizes[runtime], **figures[runtime]}
        if agreement:
            row["top1_agreement"] = agreement[runtime]
            row["top1_agreement_confident"] = confident_agreement[runtime]
        if "keras" in figures:
            for b in batch_sizes:
                row[f"b{b}_speedup"] = figures["keras"][f"b{b}_ms"] / figures[runtime][f"b{b}_ms"]
        rows.append(row)
    return rows
