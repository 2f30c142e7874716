"""The shared flags' values handed to the library: the strategy, the training settings, the
prepared data and the int8 images (`tools.flags` defines the flags and re-exports these)."""

import functools

from pipelines import calibration, strategy


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


def int8_data(FLAGS, **options):
    """`pipelines.calibration.int8_data` bound to the values of `define_int8_data_flags` (and a
    tool's own `options`: `data_dir`, `recipe`): the `calibrate` a job takes."""
    return functools.partial(
        calibration.int8_data, dataset=FLAGS.calibration_dataset,
        calibration_split=FLAGS.calibration_split, check_split=FLAGS.check_split,
        calibration_images=FLAGS.calibration_images, check_images=FLAGS.check_images, **options)
