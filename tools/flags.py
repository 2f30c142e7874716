"""Flags shared by several tools. Library code never parses flags; tools call `define_*` here
and read the values through `tools.flag_values` (re-exported)."""

from absl import flags

from kerasnets.zoo.info import resolve_models  # noqa: F401  (the tools' --models)
from tools import run  # noqa: F401  (tools.flags.run: every tool's entry point)
from tools.flag_values import (data_from_flags, int8_data, start_strategy,  # noqa: F401
                               training_settings)

flags.DEFINE_string("weights_dir", None, "An offline weights bundle (tools.weights download): "
                    "weights='imagenet' resolves from it, each file checked against its lock "
                    "(sets KERASNETS_WEIGHTS_DIR).")


def define_model_selection(default_pattern="resnet*"):
    flags.DEFINE_string("models", default_pattern,
                        "Registry pattern (fnmatch, e.g. 'resnet*') or comma-separated names.")


def define_device_flags():
    flags.DEFINE_integer("threads", 0, "Intra-op threads for TensorFlow (0 = TensorFlow's default).")


def define_data_flags(default_dataset="digits", default_recipe=None):
    """Where the images come from and how they are prepared (pipelines.sources / transforms);
    choices come from the library's tables."""
    from pipelines.transforms import RECIPES

    flags.DEFINE_string("dataset", default_dataset,
                        "'digits' or 'mnist5k' (built in, offline), a TFDS name ('cifar10', "
                        "'imagenette/320px'), an image-folder path (your own images: "
                        "PATH/<class>/*.jpg) or TFRecord files.")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (prepared TFDS datasets only; a folder "
                        "of your own images is --dataset PATH).")
    flags.DEFINE_string("train_split", "train", "Split to train on.")
    flags.DEFINE_string("eval_split", "test", "Split to validate / evaluate on.")
    flags.DEFINE_enum("on_error", "raise", ["raise", "skip"], "Bad files in an image folder "
                      "(corrupt, truncated, not an image, empty class folder): fail naming "
                      "them, or leave them out with one counted warning.")
    flags.DEFINE_list("classes", None, "Keep only these class indices (remapped to 0..k-1).")
    flags.DEFINE_enum("recipe", default_recipe, list(RECIPES), "Augmentation recipe (default: "
                      "the preset's, else none).")
    flags.DEFINE_integer("image_size", None, "Square input size (default: the model's).")
    flags.DEFINE_integer("batch_size", 64, "Global batch size (split across replicas).")
    flags.DEFINE_integer("seed", 0, "Seed for weights, shuffling and augmentation.")
    flags.DEFINE_bool("cache", True, "Cache decoded images in memory.")
    flags.DEFINE_float("mixup", 0.0, "MixUp alpha (0 = off).")
    flags.DEFINE_float("cutmix", 0.0, "CutMix alpha (0 = off).")
    flags.DEFINE_bool("randaugment", False, "RandAugment (Keras' layer).")


def define_strategy_flags():
    """tf.distribute strategy and precision (pipelines.strategy, kerasnets.measurement.precision)."""
    from kerasnets.measurement.precision import JIT_CHOICES, PRECISIONS
    from pipelines.strategy import STRATEGIES

    flags.DEFINE_enum("strategy", "auto", list(STRATEGIES),
                      "Distribution strategy; multi_worker reads TF_CONFIG.")
    flags.DEFINE_string("tpu", None, "TPU name or grpc:// address ('' for a local TPU VM).")
    flags.DEFINE_integer("num_gpus", None, "Use the first N GPUs (mirrored).")
    flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into N logical devices (mirrored on "
                         "a CPU-only machine, for testing).")
    flags.DEFINE_enum("precision", "auto", list(PRECISIONS),
                      "Precision. auto: float16 on GPU, bfloat16 on TPU; on CPU bfloat16 "
                      "(Keras' mixed_bfloat16 policy, or TensorFlow's oneDNN bf16 graph rewrite "
                      "under a float32 policy: onednn_bfloat16) only where the CPU has native "
                      "bf16 (AVX512_BF16 / AMX) and a short probe of the model (cached per "
                      "machine) trains faster with it, else float32 (kerasnets.measurement.precision).")
    flags.DEFINE_alias("mixed_precision", "precision")
    flags.DEFINE_enum("jit_compile", "auto", list(JIT_CHOICES),
                      "XLA-compile the train step. auto: on for GPU, off on CPU (measured "
                      "0.13-0.64x there: kerasnets.measurement.precision).")


def define_int8_data_flags(when: str) -> None:
    """The images int8 runtimes are calibrated and checked on (`pipelines.calibration.int8_data`,
    the same defaults in both tools): `tools.export --quantization int8` and `tools.benchmark
    --serving`. `when` opens each help text."""
    flags.DEFINE_string("calibration_dataset", None, f"{when}: where calibration and check images "
                        "come from ('digits', 'photos', a TFDS name, an image folder or "
                        "TFRecords; pipelines.sources): images like the model's training data. "
                        "Default: digits for 10-class models, photos (needs scikit-image) for "
                        "ImageNet-class ones; others must name one.")
    flags.DEFINE_string("calibration_split", None, f"{when}: split the calibration images come "
                        "from (default: train).")
    flags.DEFINE_string("check_split", None, f"{when}: split the top-1 agreement is checked on "
                        "(default: validation for photos, test otherwise).")
    flags.DEFINE_integer("calibration_images", 200, f"{when}: calibration images (tools.export "
                         "needs at least 100).")
    flags.DEFINE_integer("check_images", 200, f"{when}: images the top-1 agreement is measured "
                         "on.")


def define_training_flags(default_epochs=10, *, bn_momentum=False):
    """Optimiser, schedule and run directory (kerasnets.training's tables)."""
    from kerasnets.training import OPTIMIZERS, PRESETS, SCHEDULES

    flags.DEFINE_string("model_dir", None, "Run directory: checkpoints, logs, metrics.json, "
                        "curves.png (default: runs/<model>).")
    flags.DEFINE_integer("epochs", default_epochs, "Epochs.")
    flags.DEFINE_integer("steps_per_epoch", None, "Cap the steps of an epoch.")
    flags.DEFINE_enum("preset", None, list(PRESETS),
                      "A paper's recipe: optimizer, lr schedule, weight decay, augmentation "
                      "(flags given explicitly win).")
    flags.DEFINE_enum("optimizer", "sgd", list(OPTIMIZERS),
                      "Optimizer.")
    flags.DEFINE_float("lr", None, "Learning rate (default: the preset's scaled to the batch, "
                       "else 0.05 for sgd, 1e-3 otherwise).")
    flags.DEFINE_enum("schedule", "cosine", list(SCHEDULES), "Learning-rate schedule.")
    flags.DEFINE_float("weight_decay", 0.0, "Decoupled weight decay.")
    flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing.")
    flags.DEFINE_float("momentum", 0.9, "Momentum (sgd, rmsprop).")
    if bn_momentum:  # the tools whose job applies it (train); the others keep the model's
        flags.DEFINE_float("bn_momentum", 0.9, "BatchNorm moving-average momentum for this run "
                           "(Keras' 0.99 needs hundreds of steps before evaluation is "
                           "meaningful; 0.9 is PyTorch's default). 0 keeps the model's own.")
