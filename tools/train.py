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
and augmentation and prints what it set; flags given explicitly win.
"""

from __future__ import annotations

import csv
import os
import time

from absl import flags

from kerasnets.utils import save_model
from tools import flags as shared

flags.DEFINE_string("model", "resnet20_cifar", "Registry model name (kerasnets.list_models()).")
flags.DEFINE_string("weights", None, "Initial weights: a local .weights.h5 / .keras / .h5 file.")
shared.define_data_flags()
shared.define_strategy_flags()
shared.define_training_flags()
FLAGS = flags.FLAGS


def read_history(path) -> dict[str, list[float]]:
    """The whole run's history from `history.csv` (it spans resumed runs)."""
    if not os.path.exists(path):
        return {}
    history: dict[str, list[float]] = {}
    for row in csv.DictReader(open(path)):
        for key, value in row.items():
            if key != "epoch" and value not in ("", None):
                history.setdefault(key, []).append(float(value))
    return history


def main(argv):
    del argv
    strategy, policy = shared.start_strategy(FLAGS)   # before TensorFlow touches a device
    import keras

    import kerasnets
    from kerasnets import training
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

    with strategy.scope():
        model = kerasnets.create_model(
            entry.name, classes=data.info.num_classes, weights=FLAGS.weights,
            input_shape=(data.image_size, data.image_size, data.channels))
        if FLAGS.bn_momentum:
            training.set_bn_momentum(model, FLAGS.bn_momentum)
        optimizer, schedule_callbacks = training.optimizer_from_settings(settings, FLAGS.epochs)
        model.compile(optimizer=optimizer, loss=data.loss, metrics=data.metrics)
    callbacks = schedule_callbacks + training.run_callbacks(model_dir, chief=S.is_chief())
    start = time.time()
    training.fit(model, data.train, epochs=FLAGS.epochs, validation_data=data.eval,
                 strategy=strategy, callbacks=callbacks, steps_per_epoch=FLAGS.steps_per_epoch,
                 jit_compile=FLAGS.jit_compile)
    final = training.evaluate(model, data.eval, strategy=strategy, verbose=0)
    if not S.is_chief():
        return
    save_model(model, os.path.join(model_dir, "final.keras"))
    history = read_history(os.path.join(model_dir, "history.csv"))
    results = {"model": entry.name, "dataset": data.info.name,
               "classes": data.info.num_classes, "image_size": data.image_size,
               "strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync,
               "precision": policy, "epochs": FLAGS.epochs, "batch_size": FLAGS.batch_size,
               "settings": settings, "seconds_this_run": round(time.time() - start, 1),
               "final": final,
               "best_val_accuracy": max(history.get("val_accuracy", [0.0]) or [0.0]),
               "chance_accuracy": 1.0 / data.info.num_classes}
    training.write_results(model_dir, results, history, title=f"{entry.name} on {data.info.name}")
    acc = final.get("accuracy", final.get("categorical_accuracy"))
    print(f"final {FLAGS.eval_split} accuracy {acc:.4f} (chance {1 / data.info.num_classes:.3f}); "
          f"results in {os.path.join(model_dir, 'metrics.json')}")


if __name__ == "__main__":
    shared.run(main)
