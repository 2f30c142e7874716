"""The transfer experiment of Yosinski, Clune, Bengio & Lipson, "How transferable are features in
deep neural networks?" (NeurIPS 2014, arXiv:1411.1792), on any registry model and dataset.

    python -m tools.transfer                                        # resnet20_cifar on digits
    python -m tools.transfer --model vgg11 --epochs 6 --output docs/results/transfer_digits.md
    python -m tools.transfer --model resnet18 --dataset imagenette/320px --image_size 160 \\
        --split_a 0,1,2,3,4 --split_b 5,6,7,8,9 --epochs 20
    python -m tools.transfer --model efficientnet_lite0 --weights imagenet   # offline: packaged

The dataset's classes are split into A and B (default: the first and the second half). baseA
and baseB are trained on A and B. Then for n = 1..N (the model's stages, `stage{n}_out`; the
paper's layers) four networks are trained on B, each a fresh network whose stem and first n
stages are copied from a base network and whose later layers are re-initialised:
BnB (copied from baseB, frozen), BnB+ (from baseB, fine-tuned), AnB (from baseA, frozen) and
AnB+ (from baseA, fine-tuned). Every network trains with the same optimiser and epochs; a frozen
network trains only the layers after stage n, on the copied stages' outputs computed once
(`--cache_features`, without augmentation). BatchNorm statistics of each trained network are
re-estimated over its training set afterwards (`transfer.recalibrate_batchnorm`).

`--weights imagenet` (or a local weights file; `none`, the default, is the paper's experiment
alone) adds a third base network, baseP: the *pre-trained* backbone, frozen, with a new head
trained on task A (so its accuracy on A says how well the frozen features serve A; the head is
not transferred). Its stages are never trained here, so they are exactly the ImageNet ones,
and the kinds PnB (the first n ImageNet stages copied and frozen, the rest re-initialised and
trained on B) and PnB+ (fine-tuned) join the table beside AnB / AnB+: per stage n, how
ImageNet features transfer to B compared with features learnt on task A. P plays the role of
the paper's baseA with ImageNet as task A. `--kinds` picks the columns (default: all four, plus
PnB and PnB+ with --weights); base networks no kind needs are not trained. The data pipeline
normalises for the model's ImageNet weights (`entry.preprocessing`) in every case.

Writes `transfer.{md,csv,png}` (the accuracy table and the paper's Figure-2-style plot: accuracy
on B against n for the four kinds, baseB as a line) to `--output` (default
`<model_dir>/transfer.md`), and to the run directory (`--model_dir`, default
runs/transfer_<model>) the base networks' weights and `runs.json`, one entry per finished
network: a killed run started again with the same flags goes on with the next network. The
experiment is `kerasnets.experiments.transfer.yosinski`, its table and plot
`kerasnets.experiments.transfer_report.yosinski_report`; this tool parses flags and prepares the data.
"""

from __future__ import annotations

import os

from absl import flags

from tools import flags as shared

flags.DEFINE_string("model", "resnet20_cifar", "Registry model name (kerasnets.list_models()).")
flags.DEFINE_list("split_a", None, "Classes of task A (default: the first half).")
flags.DEFINE_list("split_b", None, "Classes of task B (default: the second half).")
flags.DEFINE_list("stages", None, "Values of n (default: 1..number of stages).")
flags.DEFINE_string("weights", "none", "none (base networks trained on A and B only) | imagenet "
                    "| a local weights file: the pre-trained network P whose first n stages the "
                    "PnB / PnB+ networks copy (its backbone frozen, a new head trained on A).")
flags.DEFINE_list("kinds", None, "Columns of the table, of BnB, BnB+, AnB, AnB+, PnB, PnB+ "
                  "(default: the first four, plus PnB and PnB+ with --weights).")
flags.DEFINE_float("dropout", 0.0, "Dropout before the classifier.")
flags.DEFINE_bool("cache_features", True, "Train frozen networks on the copied stages' outputs "
                  "computed once (only without augmentation).")
flags.DEFINE_string("output", None, "Markdown table path; CSV and PNG are written beside it "
                    "(default: <model_dir>/transfer.md).")
shared.define_data_flags(default_dataset="digits")
shared.define_strategy_flags()
shared.define_training_flags(default_epochs=4)
flags.FLAGS.set_default("optimizer", "adam")
flags.FLAGS.set_default("schedule", "constant")
flags.FLAGS.set_default("batch_size", 32)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import kerasnets
    from kerasnets import transfer
    from kerasnets.experiments import transfer as X

    entry = kerasnets.get_entry(FLAGS.model)
    digits = FLAGS.dataset == "digits"
    image_size = FLAGS.image_size or (32 if digits else entry.input_shape[0])
    # ImageNet files are checked (or fetched) before anything runs, the precision probe included.
    weights_kind, weights_arg = transfer.choose_weights(entry.name, FLAGS.weights,
                                                        input_size=image_size)
    pretrained = weights_kind != "none"
    kinds = X.table_kinds(FLAGS.kinds, pretrained=pretrained)
    strategy, policy = shared.start_strategy(FLAGS)   # before TensorFlow touches a device
    from kerasnets import weights as W
    from kerasnets.results import write_table
    from kerasnets.experiments.transfer_report import yosinski_report
    from pipelines import sources
    from pipelines import strategy as S

    _, info = sources.load(FLAGS.dataset, FLAGS.train_split, data_dir=FLAGS.data_dir,
                           on_error=FLAGS.on_error)
    split_a, split_b = X.split_classes(info.num_classes, FLAGS.split_a, FLAGS.split_b)
    settings = shared.training_settings(FLAGS)
    if FLAGS.lr is None and not FLAGS.preset:
        settings["lr"] = 3e-3 if settings["optimizer"] == "adam" else settings["lr"]
    cache = FLAGS.cache_features and settings["recipe"] == "none" and \
        not (FLAGS.mixup or FLAGS.cutmix or settings["randaugment"])
    tasks = {}
    for task, classes in (("A", split_a), ("B", split_b)):
        d = shared.data_from_flags(FLAGS, entry, classes=classes, image_size=image_size,
                                   recipe=settings["recipe"], randaugment=settings["randaugment"],
                                   label_smoothing=settings["label_smoothing"])
        tasks[task] = X.Task(d.train, d.eval, d.info.num_classes, d.loss, d.metrics,
                             d.steps_per_epoch)
    shape = (image_size, image_size, d.channels)
    stages = X.stages_of(entry.name, shape, FLAGS.stages)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"transfer_{entry.name}")
    output = FLAGS.output or os.path.join(model_dir, "transfer.md")
    base_out = output[:-3] if output.endswith(".md") else output
    config = {"model": entry.name, "dataset": info.name, "split_a": split_a,
              "split_b": split_b, "image_size": image_size, "epochs": FLAGS.epochs,
              "batch_size": FLAGS.batch_size, "seed": FLAGS.seed, "settings": settings}
    if pretrained:   # runs of another pre-trained network are not this one's
        config["weights"] = FLAGS.weights if weights_kind == "imagenet" else \
            {"file": weights_arg, "sha256": W.sha256sum(weights_arg)}
    print(f"{entry.name} on {info.name}: A = classes {split_a}, B = {split_b}, {image_size}px, "
          f"n in {stages}, {FLAGS.epochs} epochs each"
          + (f", P = {weights_kind} weights" if pretrained else "")
          + f"; run directory {model_dir}")
    result = X.yosinski(entry.name, tasks, input_shape=shape, model_dir=model_dir,
                        settings=settings, epochs=FLAGS.epochs, stages=stages, kinds=kinds,
                        config=config, pretrained=weights_arg if pretrained else None,
                        dropout=FLAGS.dropout, cache_features=cache, strategy=strategy,
                        steps_per_epoch=FLAGS.steps_per_epoch, seed=FLAGS.seed,
                        chief=S.is_chief())
    table, png = yosinski_report(
        result, name=entry.name, dataset=info.name, split_a=split_a, split_b=split_b,
        stages=stages, kinds=kinds, image_size=image_size, epochs=FLAGS.epochs,
        settings=settings, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
        weights_kind=weights_kind, weights_path=weights_arg, plot_path=base_out + ".png")
    write_table(table, base_out + ".md")
    print(table.markdown(), end="")
    print(f"table {base_out}.md, {base_out}.csv; plot {png}")


if __name__ == "__main__":
    shared.run(main)
