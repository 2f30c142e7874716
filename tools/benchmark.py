"""Benchmark registry models: parameters, FLOPs, inference and training images/s.

    python -m tools.benchmark --models 'resnet*' --input_size 64
    python -m tools.benchmark --models resnet50,vgg16 --input_size 224 --batch_size 8 --steps 5
    python -m tools.benchmark --pipeline --models resnet50 --batch_size 16 --steps 3 \
        --output docs/results/pipeline_resnet50_224.csv   # input pipeline vs training images/s
    python -m tools.benchmark --serving --models resnet20_cifar --steps 20 \
        --output docs/results/serving_32px.csv   # Keras vs SavedModel vs TFLite vs ONNX latency

One row per model, measured through kerasnets' default path: the precision and XLA setting
`--precision auto` / `--jit_compile auto` choose on this machine (`kerasnets.measurement.precision`, which
may probe the model once and cache the result), the training step of `kerasnets.training.fit`,
Keras' `predict` step. For models that keras.applications also has (same weights, same graph),
the keras model is measured in the same run with `model.fit` / `model.predict` defaults (float32,
Keras' jit_compile="auto") and the ratios kerasnets/keras are reported. The machine's matmul
peaks (float32, bfloat16) are measured first in the same run, its CPU flags printed, and each
row's MFU is the achieved FLOP/s (2 x multiply-adds per image, x3 for training) over the peak of
the precision used. gmacs are multiply-adds of one forward pass per image at the measured input
size. Writes a CSV and a Markdown table (default docs/results/benchmark.{csv,md}). The jobs are
`kerasnets.experiments.benchmark_tables` and `pipelines.benchmark.pipeline_table`; `kerasnets.results`
writes their tables.
"""

from __future__ import annotations

from absl import app, flags

from kerasnets.measurement.precision import PRECISIONS
from tools import flags as shared

shared.define_model_selection("resnet*")
shared.define_device_flags()
flags.DEFINE_integer("input_size", None, "Square input size; default: each model's own.")
flags.DEFINE_integer("batch_size", 8, "Images per step.")
flags.DEFINE_integer("steps", 5, "Timed steps per measurement (the median is reported).")
flags.DEFINE_integer("warmup", 2, "Untimed steps first (tracing).")
flags.DEFINE_bool("train", True, "Also measure training steps.")
flags.DEFINE_bool("compare_keras", True, "Measure keras.applications' equivalent in the same run.")
flags.DEFINE_enum("precision", "auto", list(PRECISIONS),
                  "kerasnets' precision (auto: kerasnets.measurement.precision decides per machine and model).")
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
                  "TFLite and ONNX exports (kerasnets.deployment.serving).")
flags.DEFINE_list("serving_runtimes", "keras,saved_model,tflite,onnx", "--serving: runtimes "
                  "(keras, saved_model, tflite, onnx, tflite_int8, onnx_int8).")
flags.DEFINE_string("weights", None, "--serving: weights of each model ('imagenet' or a file); "
                    "default: freshly initialised.")
shared.define_int8_data_flags("--serving, int8 runtimes and top-1 agreement")
flags.DEFINE_list("serving_batches", "1,32", "--serving: batch sizes.")
flags.DEFINE_string("output", "docs/results/benchmark.csv", "CSV path; a .md table is written "
                    "beside it.")
FLAGS = flags.FLAGS

def main(argv):
    del argv
    import tensorflow as tf

    from kerasnets.experiments import benchmark_tables as B
    from kerasnets.results import write_table

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    timing = dict(batch_size=FLAGS.batch_size, steps=FLAGS.steps, warmup=FLAGS.warmup)
    if FLAGS.grouped_conv:
        table = B.grouped_conv_table(train=FLAGS.train, **timing)
    elif FLAGS.pipeline:
        from pipelines.benchmark import pipeline_table

        names = shared.resolve_models(FLAGS.models) if FLAGS["models"].present else ["resnet50"]
        if len(names) != 1:
            raise app.UsageError(f"--pipeline compares with one model; --models gives {names}.")
        table = pipeline_table(FLAGS.data_dir, model_name=names[0], recipes=FLAGS.recipes,
                               image_size=FLAGS.input_size, batches=FLAGS.pipeline_batches,
                               model_steps=FLAGS.steps, num_images=FLAGS.pipeline_images,
                               batch_size=FLAGS.batch_size, warmup=FLAGS.warmup)
    elif FLAGS.serving:
        calibrate = None
        if any(r.endswith("_int8") for r in FLAGS.serving_runtimes) or \
                FLAGS["check_images"].present:   # the same images and defaults as tools.export
            calibrate = shared.int8_data(FLAGS)
        table = B.serving_table(shared.resolve_models(FLAGS.models), input_size=FLAGS.input_size,
                                weights=FLAGS.weights, runtimes=FLAGS.serving_runtimes,
                                batch_sizes=[int(b) for b in FLAGS.serving_batches],
                                steps=FLAGS.steps, warmup=FLAGS.warmup, threads=FLAGS.threads,
                                calibrate=calibrate)
    else:
        table = B.model_table(shared.resolve_models(FLAGS.models), input_size=FLAGS.input_size,
                              train=FLAGS.train, compare_keras=FLAGS.compare_keras,
                              precision=FLAGS.precision, jit_compile=FLAGS.jit_compile,
                              peak_size=FLAGS.peak_size, **timing)
    use_flag = FLAGS["output"].present or not table.output
    markdown, where = write_table(table, FLAGS.output if use_flag else None)
    print("\n" + markdown)
    print(where)


if __name__ == "__main__":
    shared.run(main)
