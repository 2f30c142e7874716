"""Flags shared by several tools. Library code never parses flags; tools call `define_*` here."""

from absl import flags

from kerasnets.zoo.info import resolve_models  # noqa: F401  (the tools' --models)
from pipelines import strategy
from tools import run  # noqa: F401  (tools.flags.run: every tool's entry point)

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


def define_training_flags(default_epochs=10):
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
    flags.DEFINE_float("bn_momentum", 0.9, "BatchNorm moving-average momentum for this run "
                       "(Keras' 0.99 needs hundreds of steps before evaluation is meaningful; "
                       "0.9 is PyTorch's default). 0 keeps the model's own.")


def start_strategy(FLAGS, *, model: str | None = None, image_size: int | None = None,
                   classes: int | None = None, probe: bool = True):
    """`pipelines.strategy.start` from the strategy flags; call before building anything.
    `--precision auto` may probe `model` (default: the tool's --model / --backbone / --student)
    at `image_size` (default: --image_size, else the model's) and --batch_size. `probe=False`:
    the model's input is not known yet, nothing is probed (auto keeps float32 on CPU)."""
    name = model or next((FLAGS[f].value for f in ("model", "backbone", "student")
                          if f in FLAGS and isinstance(FLAGS[f].value, str)), None)
    return strategy.start(
        FLAGS.strategy, tpu=FLAGS.tpu, num_gpus=FLAGS.num_gpus, logical_cpus=FLAGS.logical_cpus,
        precision=FLAGS.precision, jit_compile=FLAGS.jit_compile,
        model=name if probe else None, classes=classes,
        image_size=image_size or (FLAGS.image_size if "image_size" in FLAGS else None),
        batch_size=FLAGS.batch_size if "batch_size" in FLAGS else None)


def training_settings(FLAGS) -> dict:
    """`kerasnets.training.resolve_settings` of the training flags and --preset (flags given
    explicitly win). Returns the settings (printed by the tool and stored in metrics.json)."""
    from kerasnets import training

    names = training.SETTINGS_FROM_PRESET
    return training.resolve_settings({name: FLAGS[name].value for name in names},
                                     preset=FLAGS.preset, batch_size=FLAGS.batch_size,
                                     given=[name for name in names if FLAGS[name].present])


def data_from_flags(FLAGS, entry, **overrides):
    """`pipelines.data.prepare` with the data flags (keywords override them)."""
    from pipelines.data import prepare

    options = dict(train_split=FLAGS.train_split, eval_split=FLAGS.eval_split,
                   data_dir=FLAGS.data_dir, on_error=FLAGS.on_error,
                   classes=[int(c) for c in FLAGS.classes] if FLAGS.classes else None,
                   image_size=FLAGS.image_size, batch_size=FLAGS.batch_size,
                   recipe=FLAGS.recipe or "none", seed=FLAGS.seed, cache=FLAGS.cache,
                   mixup=FLAGS.mixup, cutmix=FLAGS.cutmix, randaugment=FLAGS.randaugment)
    options.update(overrides)
    return prepare(FLAGS.dataset, entry, **options)
