"""Train a registry model on a dataset, under any tf.distribute strategy.

    python -m tools.train --model resnet20_cifar --dataset digits --epochs 3
    python -m tools.train --model resnet50 --dataset imagenette/320px --preset resnet \\
        --epochs 30 --batch_size 128 --strategy mirrored --model_dir runs/r50
    TF_CONFIG='{...}' python -m tools.train --strategy multi_worker ...   # on every worker

The run directory (`--model_dir`, default runs/<model>) receives per-epoch checkpoints
(`checkpoints/`), resume state (`backup/`: a killed run started again with the same flags goes
on from its last finished epoch), TensorBoard logs (`logs/`), `history.csv`, the best model by
validation accuracy (`best.keras`), the final model (`final.keras`), `metrics.json` and
`curves.png`. A preset (`--preset resnet`) sets the paper's optimiser, schedule, weight decay
and augmentation and prints what it set; flags given explicitly win. The job is
`kerasnets.training.job.train`.
"""

from __future__ import annotations

import os

from absl import flags

from tools import flags as shared

flags.DEFINE_string("model", "resnet20_cifar", "Registry model name (kerasnets.list_models()).")
flags.DEFINE_string("weights", None, "Initial weights: a local .weights.h5 / .keras / .h5 file.")
shared.define_data_flags()
shared.define_strategy_flags()
shared.define_training_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    strategy, policy = shared.start_strategy(FLAGS)   # before TensorFlow touches a device
    import keras

    import kerasnets
    from kerasnets import training
    from kerasnets.training.job import train
    from pipelines import strategy as S

    entry = kerasnets.get_entry(FLAGS.model)
    keras.utils.set_random_seed(FLAGS.seed)
    settings = shared.training_settings(FLAGS)
    if FLAGS.preset:
        print(training.describe(FLAGS.preset, {k: settings[k] for k in (
            "optimizer", "lr", "schedule", "weight_decay", "label_smoothing", "recipe")}))
    data = shared.data_from_flags(FLAGS, entry, recipe=settings["recipe"],
                                  randaugment=settings["randaugment"],
                                  label_smoothing=settings["label_smoothing"])
    settings["steps_per_epoch"] = FLAGS.steps_per_epoch or data.steps_per_epoch or 100
    model_dir = FLAGS.model_dir or os.path.join("runs", entry.name)
    print(f"{entry.name} on {data.info.name} ({data.info.num_classes} classes, "
          f"{data.image_size}px, recipe {settings['recipe']}); strategy "
          f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}, {policy}; "
          f"run directory {model_dir}")

    result = train(entry.name, data, strategy=strategy, settings=settings, epochs=FLAGS.epochs,
                   model_dir=model_dir, weights=FLAGS.weights, bn_momentum=FLAGS.bn_momentum,
                   steps_per_epoch=FLAGS.steps_per_epoch, jit_compile=FLAGS.jit_compile,
                   precision=policy, batch_size=FLAGS.batch_size, chief=S.is_chief())
    if result.results is None:   # a non-chief worker writes nothing
        return
    print(f"final {FLAGS.eval_split} accuracy {result.accuracy:.4f} (chance "
          f"{1 / data.info.num_classes:.3f}); results in {os.path.join(model_dir, 'metrics.json')}")


if __name__ == "__main__":
    shared.run(main)
