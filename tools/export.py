"""Export a model for serving: SavedModel, TFLite, ONNX or .keras, checked after reload.

    python -m tools.export --model resnet20_cifar --weights ckpt.weights.h5 --classes 10 \\
        --format saved_model --include_preprocessing --class_names names.txt --output export/r20
    python -m tools.export --keras_file model.keras --model resnet18 --format tflite \\
        --quantization float16 --output export/r18_tflite
    python -m tools.export --model mobilenet_x0_25 --input_size 128 --format onnx --dtype uint8 \\
        --weights w.weights.h5 --output export/mobilenet_onnx
    python -m tools.export --model efficientnet_lite0 --weights imagenet --format tflite \\
        --quantization int8 --calibration_dataset imagenette/320px --output export/lite0_int8

`--model` alone builds the registry model (at `--input_size`, `--classes`) and loads `--weights`;
with `--keras_file`, the model comes from the file, and its model card (`kerasnets.deployment.model_card`,
e.g. tools.finetune's `final.keras`) gives the normalisation, crop and class names, so
`--keras_file RUN/final.keras --include_preprocessing --dtype string` needs no other flag;
without a card, `--model` names the registry entry whose input normalisation image inputs need
(default: the entry named like the saved model).
The export is written to a temporary directory, reloaded, compared with the Keras model on random
inputs (the max abs difference is printed; over `--tolerance` fails), and only then moved to
`--output`. `--quantization int8` (tflite: full-integer post-training quantisation; onnx:
onnxruntime's static QDQ quantisation) calibrates on `--calibration_images` images drawn through
the evaluation pipeline from `--calibration_dataset` (images like the training data; by
default the built-in digits for 10-class models, the built-in `photos` -- views of scikit-image's
sample photographs, `train` to calibrate, `validation` to check -- for ImageNet-class ones;
`pipelines.calibration.default_source`) and is checked by its top-1 agreement with the float32
model on `--check_images` images of the evaluation split (at least
`--min_agreement` on those where float32's top-1 probability is >= 0.5; the agreement on all is
printed too). int8 converts a bias-corrected copy (`--bias_correction`, on by default:
`kerasnets.deployment.quantization`), checked against the float32 model. The job is
`kerasnets.deployment.export_job.export_model` (library: `kerasnets.deployment.export`).
"""

from __future__ import annotations

from absl import flags

from kerasnets.deployment.export import (FORMAT_QUANTIZATIONS, FORMATS, INPUT_DTYPES,
                                         QUANTIZATIONS)
from kerasnets.zoo.preprocessing import MODES
from pipelines.transforms import RECIPES
from tools import flags as shared

flags.DEFINE_string("model", None, "Registry name: the model to build (with --weights), or with "
                    "--keras_file the entry whose preprocessing image inputs use.")
flags.DEFINE_string("weights", None, "Weights file for --model (.weights.h5, .keras, .h5).")
flags.DEFINE_string("keras_file", None, "A saved .keras model to export instead of --model.")
flags.DEFINE_integer("classes", None, "Classes of --model (default: the registry's).")
flags.DEFINE_integer("input_size", None, "Square input size (default: the registry's, or the "
                     "saved model's).")
flags.DEFINE_enum("format", "saved_model", list(FORMATS),
                  "Export format.")
flags.DEFINE_string("output", None, "Output directory (replaced atomically).")
flags.DEFINE_enum("dtype", "float32", list(INPUT_DTYPES),
                  "serving_default input: model-ready float32 images, uint8 pixels (normalised "
                  "inside), or encoded image bytes (saved_model only).")
flags.DEFINE_bool("include_preprocessing", False, "saved_model: add the 'serving_bytes' "
                  "signature taking encoded JPEG/PNG bytes, decoded and normalised as the eval "
                  "recipe.")
flags.DEFINE_float("crop_fraction", None, "Eval recipe's centre crop for image bytes (shorter "
                   "side to size / crop_fraction, then the centre crop; default: the model "
                   "card's, else 0.875).")
flags.DEFINE_enum("preprocessing", None, list(MODES),
                  "Input normalisation (default: the --keras_file's model card's, else the "
                  "registry entry's).")
flags.DEFINE_enum("quantization", "none", list(QUANTIZATIONS),
                  "tflite: dynamic_range, float16 or int8 (full integer); onnx: int8 (static, "
                  "QDQ). int8 calibrates on --calibration_dataset.")
shared.define_int8_data_flags("--quantization int8")
flags.DEFINE_string("data_dir", None, "TFDS data_dir for --calibration_dataset.")
flags.DEFINE_enum("calibration_recipe", None, list(RECIPES),
                  "Evaluation geometry of the calibration images (default: none, a square "
                  "resize, for digits; inception, a 0.875 centre crop, otherwise).")
flags.DEFINE_float("min_agreement", None, "int8: minimum top-1 agreement with float32 (default "
                   "kerasnets.deployment.export.DEFAULT_AGREEMENT).")
flags.DEFINE_bool("bias_correction", True, "int8: cancel the mean output shift that int8 "
                  "weight rounding causes in each convolution + BatchNorm, measured on the "
                  "calibration images (kerasnets.deployment.quantization).")
flags.DEFINE_string("class_names", None, "Text file with one class name per line (default: the "
                    "--keras_file's model card's).")
flags.DEFINE_integer("top_k", 5, "Classes in the top_k outputs.")
flags.DEFINE_float("tolerance", None, "Max abs difference allowed after reload (default by "
                   "quantization: 1e-4, float16 1e-2, dynamic_range 0.1).")
flags.DEFINE_integer("num_checks", 4, "Random check inputs per signature.")
flags.mark_flag_as_required("output")
FLAGS = flags.FLAGS


@flags.multi_flags_validator(["format", "dtype", "include_preprocessing", "quantization"],
                             message="Encoded image bytes (--dtype string, "
                             "--include_preprocessing) need the saved_model format (the only one "
                             "with image decoding ops; use --dtype uint8 for pixels in), and "
                             "--quantization is a tflite option (dynamic_range, float16, int8) "
                             "or, for int8 only, an onnx one.")
def _format_options(values):  # checked at parse time, before TensorFlow is imported
    image_bytes = values["dtype"] == "string" or values["include_preprocessing"]
    return not ((image_bytes and values["format"] != "saved_model")
                or values["quantization"] not in FORMAT_QUANTIZATIONS.get(values["format"],
                                                                          ("none",)))


def main(argv):
    del argv
    from kerasnets.deployment.export import MIN_CALIBRATION
    from kerasnets.deployment.export_job import export_model
    if FLAGS.quantization == "int8" and (FLAGS.calibration_images < MIN_CALIBRATION
                                         or FLAGS.check_images < 1):
        raise ValueError(f"--calibration_images must be at least {MIN_CALIBRATION} and "
                         f"--check_images at least 1.")
    name, result = export_model(
        FLAGS.output, model=FLAGS.model, weights=FLAGS.weights, keras_file=FLAGS.keras_file,
        classes=FLAGS.classes, input_size=FLAGS.input_size, preprocessing=FLAGS.preprocessing,
        crop_fraction=FLAGS.crop_fraction, class_names_file=FLAGS.class_names,
        input_dtype=FLAGS.dtype, format=FLAGS.format,
        include_preprocessing=FLAGS.include_preprocessing, top_k=FLAGS.top_k,
        quantization=FLAGS.quantization, tolerance=FLAGS.tolerance, num_checks=FLAGS.num_checks,
        min_agreement=FLAGS.min_agreement, bias_correction=FLAGS.bias_correction,
        calibrate=shared.int8_data(FLAGS, data_dir=FLAGS.data_dir,
                                   recipe=FLAGS.calibration_recipe))
    agreement = (f"; top-1 agreement with float32 {result.check.describe()}"
                 if result.check is not None else "")
    print(f"Exported {name} ({FLAGS.format}, signatures: {', '.join(result.signatures)}) "
          f"to {result.artifact}; max abs difference after reload {result.max_abs_diff:.3g} "
          f"(tolerance {result.tolerance:g}){agreement}.")


if __name__ == "__main__":
    shared.run(main)
