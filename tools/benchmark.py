"""Benchmark registry models: parameters, FLOPs, inference and training images/s.

    python -m tools.benchmark --models 'resnet*' --input_size 64
    python -m tools.benchmark --models resnet50,vgg16 --input_size 224 --batch_size 8 --steps 5
    python -m tools.benchmark --pipeline --models resnet50 --batch_size 16 --steps 3 \
        --output docs/results/pipeline_resnet50_224.csv   # input pipeline vs training images/s
    python -m tools.benchmark --serving --models resnet20_cifar --steps 20 \
        --output docs/results/serving_32px.csv   # Keras vs SavedModel vs TFLite vs ONNX latency

One row per model, measured through kerasnets' default path: the precision and XLA setting
`--precision auto` / `--jit_compile auto` choose on this machine (`kerasnets.precision`, which
may probe the model once and cache the result), the training step of `kerasnets.training.fit`,
Keras' `predict` step. For models that keras.applications also has (same weights, same graph),
the keras model is measured in the same run with `model.fit` / `model.predict` defaults (float32,
Keras' jit_compile="auto") and the ratios kerasnets/keras are reported. The machine's matmul
peaks (float32, bfloat16) are measured first in the same run, its CPU flags printed, and each
row's MFU is the achieved FLOP/s (2 x multiply-adds per image, x3 for training) over the peak of
the precision used. gmacs are multiply-adds of one forward pass per image at the measured input
size. Writes a CSV and a Markdown table (default docs/results/benchmark.{csv,md}).
"""

from __future__ import annotations

import os
import platform

from absl import app, flags

from kerasnets.precision import PRECISIONS
from kerasnets.utils import write_tables
from tools import flags as shared
import kerasnets
from kerasnets.precision import choose, cpu_info
from pipelines import calibration

shared.define_model_selection("resnet*")
shared.define_device_flags()
flags.DEFINE_integer("input_size", None, "Square input size; default: each model's own.")
flags.DEFINE_integer("batch_size", 8, "Images per step.")
flags.DEFINE_integer("steps", 5, "Timed steps per measurement (the median is reported).")
flags.DEFINE_integer("warmup", 2, "Untimed steps first (tracing).")
flags.DEFINE_bool("train", True, "Also measure training steps.")
flags.DEFINE_bool("compare_keras", True, "Measure keras.applications' equivalent in the same run.")
flags.DEFINE_enum("precision", "auto", list(PRECISIONS),
                  "kerasnets' precision (auto: kerasnets.precision decides per machine and model).")
flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"], "XLA for kerasnets' step.")
flags.DEFINE_integer("peak_size", 4096, "Square matmul size for the machine's peaks (0: skip the "
                     "peaks and MFU).")
flags.DEFINE_bool("grouped_conv", False, "Instead of models: time Keras Conv2D(groups=32) against "
                  "kerasnets' GroupedConv2D on a batch of 56x56x128 maps (ResNeXt's grouped 3x3).")
flags.DEFINE_bool("pipeline", False, "Instead of models: images/s of the input pipeline "
                  "(decode + each recipe of --recipes) on a JPEG folder, against --models' "
                  "training images/s (pipelines.benchmark).")
flags.DEFINE_string("data_dir", None, "--pipeline: a folder of class sub-folders of JPEGs; "
                    "default: --pipeline_images random 300-500 px JPEGs in a temporary folder.")
flags.DEFINE_list("recipes", "alexnet,vgg,inception,cifar,none,inception+randaugment",
                  "--pipeline: recipe specs (a recipe, optionally +randaugment/+mixup/+cutmix).")
flags.DEFINE_integer("pipeline_images", 300, "--pipeline: random JPEGs to write.")
flags.DEFINE_integer("pipeline_batches", 10, "--pipeline: timed batches per recipe.")
flags.DEFINE_bool("serving", False, "Instead of training: serving latency (batch 1) and images/s "
                  "(larger batches) of each model in Keras against its verified SavedModel, "
                  "TFLite and ONNX exports (kerasnets.serving).")
flags.DEFINE_list("serving_runtimes", "keras,saved_model,tflite,onnx", "--serving: runtimes "
                  "(keras, saved_model, tflite, onnx, tflite_int8, onnx_int8).")
flags.DEFINE_string("weights", None, "--serving: weights of each model ('imagenet' or a file); "
                    "default: freshly initialised.")
flags.DEFINE_string("calibration_dataset", None, "--serving: images the int8 runtimes are "
                    "calibrated on and every runtime's top-1 agreement with Keras is measured on "
                    "(pipelines.calibration: digits, photos, a TFDS name, an image folder, "
                    "TFRecords; default as tools.export: digits for 10-class models, photos for "
                    "ImageNet-class ones).")
flags.DEFINE_string("calibration_split", None, "--serving: split to calibrate on (default train).")
flags.DEFINE_string("check_split", None, "--serving: split to measure agreement on (default: "
                    "validation of photos, test otherwise).")
flags.DEFINE_integer("calibration_images", 200, "--serving: int8 calibration images.")
flags.DEFINE_integer("check_images", 200, "--serving: images for top1_agreement (measured when "
                     "an int8 runtime is asked for or this flag is given).")
flags.DEFINE_list("serving_batches", "1,32", "--serving: batch sizes.")
flags.DEFINE_string("output", "docs/results/benchmark.csv", "CSV path; a .md table is written "
                    "beside it.")
FLAGS = flags.FLAGS

COLUMNS = ["model", "family", "input", "batch", "precision", "jit_compile", "params", "gmacs",
           "infer_img_s", "train_img_s", "mfu", "infer_mfu", "peak_gflops", "keras_model",
           "keras_infer_img_s", "keras_train_img_s", "infer_ratio", "train_ratio"]


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def grouped_conv(output):
    import keras
    import tensorflow as tf

    from kerasnets.benchmark import grouped_conv_models, measure_interleaved

    models = grouped_conv_models()
    figures = measure_interleaved(models, batch_size=FLAGS.batch_size, steps=FLAGS.steps,
                                  warmup=FLAGS.warmup, train=FLAGS.train)
    columns = ["layer", "input", "batch", "infer_img_s", "train_img_s", "infer_speedup",
               "train_speedup"]
    rows = []
    for model, fig in zip(models, figures):
        row = {"layer": model.name, "input": "56x56x128, 128 filters, 3x3, groups=32",
               "batch": FLAGS.batch_size, **fig}
        for kind in ("infer", "train"):
            if f"{kind}_img_s" in fig:
                row[f"{kind}_speedup"] = fig[f"{kind}_img_s"] / figures[0][f"{kind}_img_s"]
        rows.append(row)
    header = (f"Grouped convolution: TensorFlow {tf.__version__}, Keras {keras.__version__}, "
              f"{os.cpu_count()} CPUs; batch {FLAGS.batch_size}, median of {FLAGS.steps} "
              f"interleaved steps. Speed-ups are against Keras' Conv2D(groups=32).")
    _write_tables(rows, columns, header, output)


def pipeline(output):
    import keras
    import tensorflow as tf

    from pipelines.benchmark import benchmark_pipeline

    names = shared.resolve_models(FLAGS.models) if FLAGS["models"].present else ["resnet50"]
    if len(names) != 1:
        raise app.UsageError(f"--pipeline compares with one model; --models gives {names}.")
    progress = keras.utils.Progbar(len(FLAGS.recipes), unit_name="recipe")
    rows = benchmark_pipeline(
        FLAGS.data_dir, model_name=names[0], recipes=FLAGS.recipes, image_size=FLAGS.input_size,
        batch_size=FLAGS.batch_size, batches=FLAGS.pipeline_batches, warmup=FLAGS.warmup,
        model_steps=FLAGS.steps, model_warmup=FLAGS.warmup, num_images=FLAGS.pipeline_images,
        callback=lambda i, row: progress.update(i + 1, [("img_s", row["pipeline_img_s"])]))
    columns = ["recipe", "model", "input", "batch", "pipeline_img_s", "model_precision",
               "model_train_img_s", "ratio", "images", "seconds"]
    source = FLAGS.data_dir or f"{FLAGS.pipeline_images} random JPEGs of 300-500 px"
    header = (f"Input pipeline: TensorFlow {tf.__version__}, Keras {keras.__version__}, "
              f"{platform.machine()} with {os.cpu_count()} CPUs; {source}. pipeline_img_s = "
              f"read + decode + recipe + normalise + batch {FLAGS.batch_size} (tf.data, "
              f"AUTOTUNE), {FLAGS.pipeline_batches} batches after {FLAGS.warmup}; "
              f"model_train_img_s = {names[0]}'s training step on random data (median of "
              f"{FLAGS.steps}); ratio = pipeline / model (target >= 10).")
    if not FLAGS["output"].present:
        size = rows[0]["input"]
        output = f"docs/results/pipeline_{names[0]}_{size}.csv"
    _write_tables(rows, columns, header, output)


def _entry_and_shape(name):
    """The registry entry and the `--input_size` input shape of `name`, checked against the
    model's minimum."""
    entry = kerasnets.get_entry(name)
    size = FLAGS.input_size or entry.input_shape[0]
    if size < entry.min_size:
        raise app.UsageError(f"--input_size={size} is below {name}'s minimum {entry.min_size}.")
    return entry, (size, size, entry.input_shape[2])


def serving(output):
    import tempfile

    import keras
    import tensorflow as tf

    from kerasnets.serving import serving_benchmark

    names = shared.resolve_models(FLAGS.models)
    batches = [int(b) for b in FLAGS.serving_batches]
    threads = FLAGS.threads or os.cpu_count()
    rows, calibrated = [], {}
    progress = keras.utils.Progbar(len(names), unit_name="model")
    for i, name in enumerate(names):
        entry, shape = _entry_and_shape(name)
        size = shape[0]
        model = kerasnets.create_model(name, input_shape=shape, weights=FLAGS.weights)
        data = {}
        if any(r.endswith("_int8") for r in FLAGS.serving_runtimes) or \
                FLAGS["check_images"].present:
            try:   # the same default as tools.export's
                dataset, calibration_split, check_split = calibration.default_source(
                    model.output_shape[-1], FLAGS.calibration_dataset, FLAGS.calibration_split,
                    FLAGS.check_split, model=name)
            except ValueError as e:
                raise app.UsageError(str(e)) from None
            calibrated[name] = (dataset, calibration_split, check_split)
            common = dict(size=size, channels=shape[2], preprocessing=entry.preprocessing)
            data = dict(calibration_data=calibration.images(
                dataset, calibration_split, FLAGS.calibration_images, **common),
                check_data=calibration.images(dataset, check_split, FLAGS.check_images,
                                              **common))
        with tempfile.TemporaryDirectory() as workdir:
            rows += [{"model": name, "input": size, **row} for row in serving_benchmark(
                model, workdir, runtimes=FLAGS.serving_runtimes, batch_sizes=batches,
                preprocessing=entry.preprocessing, steps=FLAGS.steps, warmup=FLAGS.warmup,
                threads=threads, log=None, **data)]
        del model
        keras.backend.clear_session(free_memory=True)
        progress.update(i + 1)
    columns = ["model", "input", "runtime", "size_mb"] + [
        f"b{b}_{k}" for b in batches for k in ("ms", "img_s", "speedup")]
    if any("top1_agreement" in row for row in rows):
        columns += ["top1_agreement", "top1_agreement_confident"]
    sources = "; ".join(f"{', '.join(m for m in calibrated if calibrated[m] == source)}: "
                        f"{FLAGS.calibration_images} {source[1]} images of {source[0]}, "
                        f"checked on {FLAGS.check_images} {source[2]} images"
                        for source in dict.fromkeys(calibrated.values()))
    header = (f"Serving: TensorFlow {tf.__version__}, Keras {keras.__version__}, "
              f"{platform.machine()} with {os.cpu_count()} CPUs; numpy in, numpy out: keras = "
              f"tf.function over the model, saved_model = its serving_default signature after "
              f"tf.saved_model.load, tflite = ai-edge-litert's interpreter ({threads} threads), "
              f"onnx = onnxruntime (CPU provider); every export verified after reload. Median "
              f"of {FLAGS.steps} interleaved calls after {FLAGS.warmup} warm-up; b1_ms = "
              f"latency at batch 1, b{batches[-1]}_img_s = images/s at batch {batches[-1]}; "
              f"speedup = Keras' time / the runtime's (> 1: faster than Keras). "
              f"Weights: {FLAGS.weights or 'freshly initialised'}."
              + (f" *_int8 = full-integer TFLite / onnxruntime static QDQ int8 ({sources}); "
                 f"top1_agreement = share of the check images whose top-1 class the "
                 f"runtime shares with the float32 Keras model; top1_agreement_confident = the "
                 f"same on those where float32's top-1 probability is >= 0.5."
                 if "top1_agreement" in columns else ""))
    if not FLAGS["output"].present:
        output = f"docs/results/serving_{FLAGS.input_size or 'default'}px.csv"
    _write_tables(rows, columns, header, output)


def _write_tables(rows, columns, header, output):
    markdown = write_tables(output, rows, columns, header=header, fmt=_fmt)
    print("\n" + markdown)
    print(f"Wrote {output} and {os.path.splitext(output)[0]}.md")


def machine_report(peak_size):
    """The CPU, its relevant flags and the matmul peaks (GFLOP/s by dtype), printed."""
    from kerasnets.benchmark import machine_peaks

    cpu = cpu_info()
    flags_text = ", ".join(cpu.relevant_flags) or "none found"
    print(f"CPU: {cpu.model}, {os.cpu_count()} cores; flags: {flags_text}; native bf16: "
          f"{'yes' if cpu.native_bf16 else 'no'}")
    peaks = machine_peaks(n=peak_size) if peak_size else {}
    if peaks:
        print("matmul peaks " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())
              + f" ({peak_size}x{peak_size}, median of 3)")
    return cpu, flags_text, peaks


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from kerasnets.benchmark import mfu
    from kerasnets.default_paths import compare_default_paths

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    if FLAGS.grouped_conv:
        return grouped_conv(FLAGS.output)
    if FLAGS.pipeline:
        return pipeline(FLAGS.output)
    if FLAGS.serving:
        return serving(FLAGS.output)
    names = shared.resolve_models(FLAGS.models)
    cpu, flags_text, peaks = machine_report(FLAGS.peak_size)
    rows, calibrated = [], {}
    progress = keras.utils.Progbar(len(names), unit_name="model")
    for i, name in enumerate(names):
        entry, shape = _entry_and_shape(name)
        size = shape[0]
        choice = choose(FLAGS.precision, FLAGS.jit_compile, model=name, input_shape=shape,
                        batch_size=FLAGS.batch_size, log=lambda line: print(f"{name}: {line}"))
        ref_builder = None
        if FLAGS.compare_keras and entry.keras_equivalent:
            keras_cls = getattr(keras.applications, entry.keras_equivalent)
            ref_builder = lambda: keras_cls(weights=None, input_shape=shape)  # noqa: E731
        measured = compare_default_paths(
            lambda: kerasnets.create_model(name, input_shape=shape), ref_builder, choice=choice,
            batch_size=FLAGS.batch_size, steps=FLAGS.steps, warmup=FLAGS.warmup,
            train=FLAGS.train, peak_n=FLAGS.peak_size or None)
        ours = measured["ours"]
        row = {"model": name, "family": entry.family, "input": size, "batch": FLAGS.batch_size,
               "precision": choice.precision, "jit_compile": choice.jit_compile,
               "params": ours["params"], "gmacs": ours["flops"] / 1e9,
               "infer_img_s": ours["infer_img_s"], "train_img_s": ours.get("train_img_s")}
        # The peak of the precision used, measured in the same interleaved rounds as the steps.
        peak = measured.get("peak", {}).get("gflops")
        if peak:
            row["peak_gflops"] = peak
            row["infer_mfu"] = mfu(ours["infer_img_s"], ours["flops"], peak, train=False)
            if FLAGS.train:
                row["mfu"] = mfu(ours["train_img_s"], ours["flops"], peak, train=True)
        if "keras" in measured:
            ref = measured["keras"]
            row.update(keras_model=f"keras.applications.{entry.keras_equivalent}",
                       keras_infer_img_s=ref["infer_img_s"],
                       keras_train_img_s=ref.get("train_img_s"),
                       infer_ratio=ours["infer_img_s"] / ref["infer_img_s"])
            if FLAGS.train:
                row["train_ratio"] = ours["train_img_s"] / ref["train_img_s"]
        rows.append(row)
        keras.backend.clear_session(free_memory=True)
        progress.update(i + 1, values=[("infer_img_s", row["infer_img_s"])])

    peak_text = ("; matmul peaks " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())
                 + f" ({FLAGS.peak_size}^2, same run)") if peaks else ""
    header = (f"Benchmark: TensorFlow {tf.__version__}, Keras {keras.__version__}, "
              f"{platform.machine()} with {os.cpu_count()} CPUs ({cpu.model}; flags "
              f"{flags_text}){peak_text}. Batch {FLAGS.batch_size}, median of {FLAGS.steps} timed "
              f"steps after {FLAGS.warmup} warm-up, a keras.applications equivalent interleaved "
              f"step by step with ours. kerasnets runs its default path: precision and "
              f"jit_compile as `--precision {FLAGS.precision} --jit_compile {FLAGS.jit_compile}` "
              f"chose them (kerasnets.precision), the step of kerasnets.training.fit; "
              f"keras.applications runs model.fit / model.predict's steps with Keras' defaults "
              f"(float32; both SGD). gmacs = multiply-adds per image (forward, counted once); "
              f"mfu (training) and infer_mfu = achieved FLOP/s (2 x gmacs x img/s, x3 for "
              f"training) / peak_gflops, the {FLAGS.peak_size}^2 matmul peak of the precision "
              f"used, measured in every round of the same interleaved loop (so a shared "
              f"machine's load hits both). Ratios are kerasnets / "
              f"keras.applications (> 1: kerasnets faster).")
    _write_tables(rows, COLUMNS, header, FLAGS.output)


if __name__ == "__main__":
    shared.run(main)
