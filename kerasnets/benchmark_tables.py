"""The tables of `tools.benchmark`: models (kerasnets' default path against keras.applications,
with MFU), Keras' grouped convolution against `GroupedConv2D`, and serving runtimes. Each job
measures through `kerasnets.measurement.benchmark` / `kerasnets.deployment.serving`, shows a progress bar and returns a
`kerasnets.results.Table` whose header says how the figures were taken; the tool writes it.
"""

from __future__ import annotations

import os
import platform
import tempfile
from typing import Callable, Sequence

import keras
import tensorflow as tf

from kerasnets.zoo import registry
from kerasnets.measurement.benchmark import grouped_conv_models, machine_peaks, measure_interleaved, mfu
from kerasnets.experiments.default_paths import compare_default_paths
from kerasnets.measurement.precision import choose, cpu_info
from kerasnets.results import Table
from kerasnets.deployment.serving import serving_benchmark

MODEL_COLUMNS = ["model", "family", "input", "batch", "precision", "jit_compile", "params",
                 "gmacs", "infer_img_s", "train_img_s", "mfu", "infer_mfu", "peak_gflops",
                 "keras_model", "keras_infer_img_s", "keras_train_img_s", "infer_ratio",
                 "train_ratio"]


def _versions() -> str:
    return f"TensorFlow {tf.__version__}, Keras {keras.__version__}"


def entry_and_shape(name: str, input_size: int | None):
    """The registry entry of `name` and its square input shape at `input_size` (default: its
    own); a size below the model's minimum raises ValueError."""
    entry = registry.get_entry(name)
    size = input_size or entry.input_shape[0]
    if size < entry.min_size:
        raise ValueError(f"--input_size={size} is below {name}'s minimum {entry.min_size}.")
    return entry, (size, size, entry.input_shape[2])


def machine_report(peak_size: int, log=print):
    """The CPU, its relevant flags and the matmul peaks (GFLOP/s by dtype), logged."""
    cpu = cpu_info()
    flags_text = ", ".join(cpu.relevant_flags) or "none found"
    log(f"CPU: {cpu.model}, {os.cpu_count()} cores; flags: {flags_text}; native bf16: "
        f"{'yes' if cpu.native_bf16 else 'no'}")
    peaks = machine_peaks(n=peak_size) if peak_size else {}
    if peaks:
        log("matmul peaks " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())
            + f" ({peak_size}x{peak_size}, median of 3)")
    return cpu, flags_text, peaks


def grouped_conv_table(*, batch_size: int = 8, steps: int = 5, warmup: int = 2,
                       train: bool = True) -> Table:
    """Keras' Conv2D(groups=32) against kerasnets' GroupedConv2D on 56x56x128 maps."""
    models = grouped_conv_models()
    figures = measure_interleaved(models, batch_size=batch_size, steps=steps, warmup=warmup,
                                  train=train)
    rows = []
    for model, fig in zip(models, figures):
        row = {"layer": model.name, "input": "56x56x128, 128 filters, 3x3, groups=32",
               "batch": batch_size, **fig}
        for kind in ("infer", "train"):
            if f"{kind}_img_s" in fig:
                row[f"{kind}_speedup"] = fig[f"{kind}_img_s"] / figures[0][f"{kind}_img_s"]
        rows.append(row)
    header = (f"Grouped convolution: {_versions()}, {os.cpu_count()} CPUs; batch {batch_size}, "
              f"median of {steps} interleaved steps. Speed-ups are against Keras' "
              f"Conv2D(groups=32).")
    return Table(rows, ["layer", "input", "batch", "infer_img_s", "train_img_s",
                        "infer_speedup", "train_speedup"], header)


def model_table(names: Sequence[str], *, input_size: int | None = None, batch_size: int = 8,
                steps: int = 5, warmup: int = 2, train: bool = True, compare_keras: bool = True,
                precision: str = "auto", jit_compile: str = "auto", peak_size: int = 4096,
                log=print) -> Table:
    """One row per model through kerasnets' default path (precision and XLA as
    `kerasnets.measurement.precision.choose` picks them, `training.fit`'s step), its keras.applications
    twin interleaved with it, and MFU against the matmul peak of the precision used."""
    cpu, flags_text, peaks = machine_report(peak_size, log)
    rows = []
    progress = keras.utils.Progbar(len(names), unit_name="model")
    for i, name in enumerate(names):
        entry, shape = entry_and_shape(name, input_size)
        choice = choose(precision, jit_compile, model=name, input_shape=shape,
                        batch_size=batch_size, log=lambda line: log(f"{name}: {line}"))
        ref_builder = None
        if compare_keras and entry.keras_equivalent:
            keras_cls = getattr(keras.applications, entry.keras_equivalent)
            ref_builder = lambda: keras_cls(weights=None, input_shape=shape)  # noqa: E731
        measured = compare_default_paths(
            lambda: registry.create_model(name, input_shape=shape), ref_builder, choice=choice,
            batch_size=batch_size, steps=steps, warmup=warmup, train=train,
            peak_n=peak_size or None)
        ours = measured["ours"]
        row = {"model": name, "family": entry.family, "input": shape[0], "batch": batch_size,
               "precision": choice.precision, "jit_compile": choice.jit_compile,
               "params": ours["params"], "gmacs": ours["flops"] / 1e9,
               "infer_img_s": ours["infer_img_s"], "train_img_s": ours.get("train_img_s")}
        # The peak of the precision used, measured in the same interleaved rounds as the steps.
        peak = measured.get("peak", {}).get("gflops")
        if peak:
            row["peak_gflops"] = peak
            row["infer_mfu"] = mfu(ours["infer_img_s"], ours["flops"], peak, train=False)
            if train:
                row["mfu"] = mfu(ours["train_img_s"], ours["flops"], peak, train=True)
        if "keras" in measured:
            ref = measured["keras"]
            row.update(keras_model=f"keras.applications.{entry.keras_equivalent}",
                       keras_infer_img_s=ref["infer_img_s"],
                       keras_train_img_s=ref.get("train_img_s"),
                       infer_ratio=ours["infer_img_s"] / ref["infer_img_s"])
            if train:
                row["train_ratio"] = ours["train_img_s"] / ref["train_img_s"]
        rows.append(row)
        keras.backend.clear_session(free_memory=True)
        progress.update(i + 1, values=[("infer_img_s", row["infer_img_s"])])
    peak_text = ("; matmul peaks " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())
                 + f" ({peak_size}^2, same run)") if peaks else ""
    header = (f"Benchmark: {_versions()}, {platform.machine()} with {os.cpu_count()} CPUs "
              f"({cpu.model}; flags {flags_text}){peak_text}. Batch {batch_size}, median of "
              f"{steps} timed steps after {warmup} warm-up, a keras.applications equivalent "
              f"interleaved step by step with ours. kerasnets runs its default path: precision "
              f"and jit_compile as `--precision {precision} --jit_compile {jit_compile}` chose "
              f"them (kerasnets.measurement.precision), the step of kerasnets.training.fit; "
              f"keras.applications runs model.fit / model.predict's steps with Keras' defaults "
              f"(float32; both SGD). gmacs = multiply-adds per image (forward, counted once); "
              f"mfu (training) and infer_mfu = achieved FLOP/s (2 x gmacs x img/s, x3 for "
              f"training) / peak_gflops, the {peak_size}^2 matmul peak of the precision "
              f"used, measured in every round of the same interleaved loop (so a shared "
              f"machine's load hits both). Ratios are kerasnets / "
              f"keras.applications (> 1: kerasnets faster).")
    return Table(rows, MODEL_COLUMNS, header)


def serving_table(names: Sequence[str], *, input_size: int | None = None,
                  weights: str | None = None,
                  runtimes: Sequence[str] = ("keras", "saved_model", "tflite", "onnx"),
                  batch_sizes: Sequence[int] = (1, 32), steps: int = 5, warmup: int = 2,
                  threads: int | None = None, calibrate: Callable | None = None) -> Table:
    """Serving latency and images/s of each model in Keras against its verified exports.
    `calibrate(classes, size=, channels=, preprocessing=, model=)` returns the int8 data of a
    model (`pipelines.calibration.int8_data`: calibration_data, check_data and their source);
    with it, every runtime's top-1 agreement with Keras is measured too."""
    threads = threads or os.cpu_count()
    rows, calibrated = [], {}
    progress = keras.utils.Progbar(len(names), unit_name="model")
    for i, name in enumerate(names):
        entry, shape = entry_and_shape(name, input_size)
        model = registry.create_model(name, input_shape=shape, weights=weights)
        data = {}
        if calibrate is not None:
            found = calibrate(model.output_shape[-1], size=shape[0], channels=shape[2],
                              preprocessing=entry.preprocessing, model=name)
            calibrated[name] = (found.dataset, found.calibration_split, found.check_split,
                                len(found.calibration_data), len(found.check_data))
            data = dict(calibration_data=found.calibration_data, check_data=found.check_data)
        with tempfile.TemporaryDirectory() as workdir:
            rows += [{"model": name, "input": shape[0], **row} for row in serving_benchmark(
                model, workdir, runtimes=runtimes, batch_sizes=batch_sizes,
                preprocessing=entry.preprocessing, steps=steps, warmup=warmup,
                threads=threads, log=None, **data)]
        del model
        keras.backend.clear_session(free_memory=True)
        progress.update(i + 1)
    columns = ["model", "input", "runtime", "size_mb"] + [
        f"b{b}_{k}" for b in batch_sizes for k in ("ms", "img_s", "speedup")]
    if any("top1_agreement" in row for row in rows):
        columns += ["top1_agreement", "top1_agreement_confident"]
    sources = "; ".join(f"{', '.join(m for m in calibrated if calibrated[m] == source)}: "
                        f"{source[3]} {source[1]} images of {source[0]}, "
                        f"checked on {source[4]} {source[2]} images"
                        for source in dict.fromkeys(calibrated.values()))
    header = (f"Serving: {_versions()}, {platform.machine()} with {os.cpu_count()} CPUs; numpy "
              f"in, numpy out: keras = tf.function over the model, saved_model = its "
              f"serving_default signature after tf.saved_model.load, tflite = ai-edge-litert's "
              f"interpreter ({threads} threads), onnx = onnxruntime (CPU provider); every "
              f"export verified after reload. Median of {steps} interleaved calls after "
              f"{warmup} warm-up; b1_ms = latency at batch 1, b{batch_sizes[-1]}_img_s = "
              f"images/s at batch {batch_sizes[-1]}; speedup = Keras' time / the runtime's "
              f"(> 1: faster than Keras). Weights: {weights or 'freshly initialised'}."
              + (f" *_int8 = full-integer TFLite / onnxruntime static QDQ int8 ({sources}); "
                 f"top1_agreement = share of the check images whose top-1 class the "
                 f"runtime shares with the float32 Keras model; top1_agreement_confident = the "
                 f"same on those where float32's top-1 probability is >= 0.5."
                 if "top1_agreement" in columns else ""))
    return Table(rows, columns, header,
                 output=f"docs/results/serving_{input_size or 'default'}px.csv")
