"""Fine-tune a registry backbone on a dataset: a new head, the backbone frozen (schedule 2.A) or
warmed up frozen and then unfrozen with a much smaller learning rate (2.B).

    python -m tools.finetune --backbone resnet50 --freeze           # offline demo on digits
    python -m tools.finetune --backbone resnet50 --freeze --unfreeze_at_epoch 5 \\
        --unfreeze_from_stage 3 --fine_tune_lr 1e-4 --discriminative 0.5 --epochs 10
    python -m tools.finetune --backbone mobilenet_v2 --weights imagenet --dataset tf_flowers \\
        --freeze --image_size 160 --epochs 5

Weights (`--weights`): `imagenet` (Keras' published file for models marked keras.applications;
offline it fails within seconds and says how to pass the file), a local `.weights.h5` /
`.keras` / `.h5` file, `pretrain` (train the backbone first on `--source_classes` of the same
dataset, then transfer it to the target classes `--classes`), `none` (random), or `auto`
(the default: `imagenet` where the backbone has it and it is cached or downloadable, else
`pretrain`). On the built-in digits sets (`digits`, `mnist5k`) the source classes default to
0-4, the target classes to 5-9 and the image size to 32 (the 8x8 or 28x28 digits are resized and
made RGB by the pipeline).

Unless `--nobaseline`, the same head is also trained on the frozen features of a *randomly
initialised* backbone; `--scratch`, `--few_shot` and `--linear_probe` add further comparisons.
With the backbone frozen and no augmentation, its features are computed once and only the head
trains on them (`--cache_features`: frozen BatchNorm runs in inference mode, so this is exact).
`--dataset PATH` fine-tunes on a folder of your own images (`PATH/<class>/*.jpg`). The run
directory (`--model_dir`, default runs/finetune_<backbone>) receives the phases' checkpoints,
then `final.keras` with its model card, `metrics.json`, `curves.png`, `summary.{md,csv}` and, for
an image folder, the error report, all as soon as the target network is evaluated (rewritten
with the comparisons at the end; `kerasnets.experiments.transfer_report`). The experiment is
`kerasnets.experiments.transfer.finetune`; this tool parses flags and writes its results.
"""

from __future__ import annotations

import os
import time

from absl import flags

from tools import flags as shared

flags.DEFINE_string("backbone", "resnet50", "Registry model name (kerasnets.list_models()).")
flags.DEFINE_string("weights", "auto", "auto | imagenet | pretrain | none | a local weights file.")
flags.DEFINE_bool("freeze", False, "Freeze the backbone (2.A; with --unfreeze_at_epoch, 2.B).")
flags.DEFINE_string("freeze_upto", None, "Freeze only up to here instead of the whole backbone: "
                    "a number of stages (stage{s}_out) or a layer name. Implies --freeze.")
flags.DEFINE_integer("unfreeze_at_epoch", None, "Unfreeze after this many epochs (2.B).")
flags.DEFINE_integer("unfreeze_from_stage", 1, "Unfreeze stage S and later (1: everything).")
flags.DEFINE_float("fine_tune_lr", None, "Learning rate after unfreezing (default: --lr / 10).")
flags.DEFINE_float("discriminative", 1.0, "After unfreezing, each stage below the top trains at "
                   "this factor of the rate of the stage above (1: one rate).")
flags.DEFINE_enum("pooling", "avg", ["avg", "max", "flatten"], "Pooling of the new head.")
flags.DEFINE_float("dropout", 0.0, "Dropout before the new classifier.")
flags.DEFINE_list("source_classes", None, "Classes to pre-train on with --weights pretrain "
                  "(digits: 0-4).")
flags.DEFINE_integer("pretrain_epochs", 3, "Epochs of --weights pretrain on the source classes.")
flags.DEFINE_float("pretrain_lr", None, "Learning rate of the pre-training (default: --lr).")
flags.DEFINE_bool("baseline", True, "Also train the head on frozen random features.")
flags.DEFINE_bool("scratch", True, "Also train the same network from random initialisation, "
                  "whole, for as long as the target run took (wall time).")
flags.DEFINE_list("few_shot", ["5", "20"], "Few-shot rows: k training images per class, a "
                  "logistic regression on the frozen pooled features (mean of --few_shot_draws "
                  "draws); empty to skip.")
flags.DEFINE_integer("few_shot_draws", 5, "Random draws of the k images per class.")
flags.DEFINE_bool("cache_features", True, "Train a frozen backbone's head on features computed "
                  "once (only without augmentation).")
flags.DEFINE_bool("linear_probe", False, "Also fit a logistic regression on the pooled features "
                  "of every stage of the transferred and the random backbone (which depth "
                  "transfers?); table in probe.{md,csv}.")
flags.DEFINE_string("output", None, "Also write the summary table here (Markdown; CSV beside).")
shared.define_data_flags(default_dataset="digits")
shared.define_strategy_flags()
shared.define_training_flags(default_epochs=10)
flags.FLAGS.set_default("optimizer", "adam")
flags.FLAGS.set_default("batch_size", 32)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    start = time.time()
    import kerasnets
    from kerasnets import transfer
    from kerasnets.experiments import transfer as X
    from kerasnets.experiments import transfer_report as R
    from pipelines import sources

    entry = kerasnets.get_entry(FLAGS.backbone)
    folder = sources.check_data_dir(FLAGS.dataset, FLAGS.data_dir)[0] == "folder"
    target, source = R.finetune_classes(FLAGS.dataset, FLAGS.classes, FLAGS.source_classes)
    image_size = FLAGS.image_size or R.default_image_size(FLAGS.dataset, entry)
    # weights first: an unavailable file fails in seconds, before any precision probe
    kind, weights_path = transfer.choose_weights(entry.name, FLAGS.weights,
                                                 can_pretrain=bool(source),
                                                 input_size=image_size)
    strategy, policy = shared.start_strategy(FLAGS, image_size=image_size)  # before any device
    import keras

    from pipelines import strategy as S
    from pipelines.transforms import EVAL_CROP_FRACTION

    keras.utils.set_random_seed(FLAGS.seed)
    settings = shared.training_settings(FLAGS)
    mixing = FLAGS.mixup > 0 or FLAGS.cutmix > 0
    cache = FLAGS.cache_features and settings["recipe"] == "none" and not mixing and \
        not settings["randaugment"]

    def task(classes):
        d = shared.data_from_flags(
            FLAGS, entry, classes=[int(c) for c in classes] if classes else None,
            image_size=image_size, recipe=settings["recipe"], randaugment=settings["randaugment"],
            label_smoothing=settings["label_smoothing"])
        return d, X.Task(d.train, d.eval, d.info.num_classes, d.loss, d.metrics,
                         d.steps_per_epoch, tuple(classes), d.train_once)

    data, target_task = task(target)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"finetune_{entry.name}")
    chief = S.is_chief()
    freeze_upto, schedule = R.finetune_schedule(FLAGS.freeze, FLAGS.freeze_upto,
                                                FLAGS.unfreeze_at_epoch)
    print(f"{entry.name} on {data.info.name} classes {','.join(data.info.class_names)} "
          f"({data.image_size}px), weights {kind}{' ' + weights_path if weights_path else ''}, "
          f"schedule {schedule}; strategy {type(strategy).__name__} "
          f"x{strategy.num_replicas_in_sync}, {policy}; run directory {model_dir}")
    write = R.finetune_writer(
        model_dir, name=entry.name, data=data, dataset=FLAGS.dataset, kind=kind,
        weights_path=weights_path, source=source, schedule=schedule, freeze_upto=freeze_upto,
        settings=settings, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
        crop_fraction=EVAL_CROP_FRACTION[settings["recipe"]],
        strategy_name=type(strategy).__name__, precision=policy,
        unfreeze_at_epoch=FLAGS.unfreeze_at_epoch, unfreeze_from_stage=FLAGS.unfreeze_from_stage,
        fine_tune_lr=FLAGS.fine_tune_lr, discriminative=FLAGS.discriminative,
        output=FLAGS.output, folder=folder, start=start)
    result = X.finetune(
        entry.name, target_task, input_shape=(image_size, image_size, data.channels),
        settings=settings, epochs=FLAGS.epochs, model_dir=model_dir, weights=weights_path,
        source=task(source)[1] if kind == "pretrain" else None,
        pretrain_epochs=FLAGS.pretrain_epochs, pretrain_lr=FLAGS.pretrain_lr,
        freeze_upto=freeze_upto, unfreeze_at_epoch=FLAGS.unfreeze_at_epoch,
        unfreeze_from_stage=FLAGS.unfreeze_from_stage, fine_tune_lr=FLAGS.fine_tune_lr,
        discriminative=FLAGS.discriminative, pooling=FLAGS.pooling, dropout=FLAGS.dropout,
        cache_features=cache, shots=[int(k) for k in FLAGS.few_shot],
        few_shot_draws=FLAGS.few_shot_draws, baseline=FLAGS.baseline, scratch=FLAGS.scratch,
        linear_probe=FLAGS.linear_probe, strategy=strategy,
        steps_per_epoch=FLAGS.steps_per_epoch, seed=FLAGS.seed, chief=chief,
        on_target=(lambda r: write(r, False)) if chief else None)
    if chief:
        write(result, True)


if __name__ == "__main__":
    shared.run(main)
