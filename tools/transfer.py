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
network: a killed run started again with the same flags goes on with the next network.
"""

from __future__ import annotations

import json
import os
import time

from absl import app, flags

from tools import flags as shared

KINDS = ("BnB", "BnB+", "AnB", "AnB+")   # transfer.YOSINSKI_KINDS; PnB / PnB+ with --weights

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


def table(rows: dict, stages, base: dict, kinds=KINDS) -> tuple[str, str]:
    """Markdown and CSV of the accuracies: one row per n, one column per kind."""
    from kerasnets.utils import tables

    table_rows = [{"n": n, **{k: f"{rows[f'{k} n={n}']['accuracy']:.4f}" for k in kinds},
                   "baseB": f"{base['baseB']['accuracy']:.4f}"} for n in stages]
    md, csv_text = tables(table_rows, ["n", *kinds, "baseB"], markdown_columns=["n", *kinds])
    notes = [f"baseB (trained on B): **{base['baseB']['accuracy']:.4f}**"]
    if any(k.startswith("A") for k in kinds):
        notes.append(f"baseA on A: {base['baseA']['accuracy']:.4f}")
    if any(k.startswith("P") for k in kinds):
        notes.append(f"baseP (pre-trained backbone frozen, head trained on A) on A: "
                     f"{base['baseP']['accuracy']:.4f}")
    md += "\n" + "; ".join(notes) + ". Accuracy on B's test split.\n"
    return md, csv_text


def main(argv):
    del argv
    import kerasnets
    from kerasnets import transfer

    entry = kerasnets.get_entry(FLAGS.model)
    digits = FLAGS.dataset == "digits"
    image_size = FLAGS.image_size or (32 if digits else entry.input_shape[0])
    # ImageNet files are checked (or fetched) before anything runs, the precision probe included.
    weights_kind, weights_arg = transfer.choose_weights(entry.name, FLAGS.weights,
                                                        input_size=image_size)
    pretrained = weights_kind != "none"
    kinds = FLAGS.kinds or list(KINDS) + (list(transfer.PRETRAINED_KINDS) if pretrained else [])
    if any(k in transfer.PRETRAINED_KINDS for k in kinds) and not pretrained:
        raise app.UsageError(f"--kinds {','.join(kinds)}: PnB / PnB+ copy from a pre-trained "
                             f"network; give --weights imagenet or a weights file.")
    strategy, policy = shared.start_strategy(FLAGS)   # before TensorFlow touches a device
    import keras

    from kerasnets import training
    from kerasnets import weights as W
    from kerasnets.plots import plot_lines
    from kerasnets.utils import atomic_write_text
    from pipelines import sources
    from pipelines import strategy as S

    _, info = sources.load(FLAGS.dataset, FLAGS.train_split, data_dir=FLAGS.data_dir,
                           on_error=FLAGS.on_error)
    half = info.num_classes // 2
    split_a = [int(c) for c in FLAGS.split_a] if FLAGS.split_a else list(range(half))
    split_b = [int(c) for c in FLAGS.split_b] if FLAGS.split_b else \
        list(range(half, info.num_classes))
    if set(split_a) & set(split_b):
        raise app.UsageError(f"--split_a {split_a} and --split_b {split_b} overlap.")
    settings = shared.training_settings(FLAGS)
    if FLAGS.lr is None and not FLAGS.preset:
        settings["lr"] = 3e-3 if settings["optimizer"] == "adam" else settings["lr"]
    cache = FLAGS.cache_features and settings["recipe"] == "none" and \
        not (FLAGS.mixup or FLAGS.cutmix or settings["randaugment"])

    def data_for(classes):
        return shared.data_from_flags(FLAGS, entry, classes=classes, image_size=image_size,
                                      recipe=settings["recipe"],
                                      randaugment=settings["randaugment"],
                                      label_smoothing=settings["label_smoothing"])

    data = {"A": data_for(split_a), "B": data_for(split_b)}
    shape = (image_size, image_size, data["B"].channels)
    probe = transfer.build_classifier(entry.name, 2, input_shape=shape)
    taps = transfer.stage_taps(probe)
    del probe
    stages = [int(n) for n in FLAGS.stages] if FLAGS.stages else list(range(1, len(taps) + 1))
    if not taps or not all(1 <= n <= len(taps) for n in stages):
        raise app.UsageError(f"{entry.name} has {len(taps)} stages; --stages {stages} is out "
                             f"of range.")
    jobs = transfer.experiment_jobs(stages, kinds)
    kinds = [k for k in KINDS + transfer.PRETRAINED_KINDS if k in kinds]   # the table's order
    model_dir = FLAGS.model_dir or os.path.join("runs", f"transfer_{entry.name}")
    output = FLAGS.output or os.path.join(model_dir, "transfer.md")
    base_out = output[:-3] if output.endswith(".md") else output
    os.makedirs(model_dir, exist_ok=True)
    state_path = os.path.join(model_dir, "runs.json")
    config = {"model": entry.name, "dataset": info.name, "split_a": split_a,
              "split_b": split_b, "image_size": image_size, "epochs": FLAGS.epochs,
              "batch_size": FLAGS.batch_size, "seed": FLAGS.seed, "settings": settings}
    if pretrained:   # runs of another pre-trained network are not this one's
        config["weights"] = FLAGS.weights if weights_kind == "imagenet" else \
            {"file": weights_arg, "sha256": W.sha256sum(weights_arg)}
    state = json.load(open(state_path)) if os.path.exists(state_path) else {}
    if state.get("config") != json.loads(json.dumps(config, default=str)):
        state = {"config": config, "runs": {}}
    print(f"{entry.name} on {info.name}: A = classes {split_a}, B = {split_b}, {image_size}px, "
          f"n in {stages}, {FLAGS.epochs} epochs each"
          + (f", P = {weights_kind} weights" if pretrained else "")
          + f"; run directory {model_dir}")

    def build(task, weights=None):
        keras.utils.set_random_seed(FLAGS.seed)
        with strategy.scope():
            return transfer.build_classifier(entry.name, data[task].info.num_classes,
                                             input_shape=shape, dropout=FLAGS.dropout,
                                             weights=weights)

    optimizer_for = training.PhaseOptimizers(
        settings, FLAGS.steps_per_epoch or data["B"].steps_per_epoch or 100)

    def train(model, task, freeze_upto):
        d = data[task]
        transfer.fine_tune(model, d.train, d.eval, epochs=FLAGS.epochs, lr=settings["lr"],
                           make_optimizer=optimizer_for, loss=d.loss, metrics=d.metrics,
                           freeze_upto=freeze_upto, cache_features=cache, strategy=strategy,
                           callbacks=lambda phase: optimizer_for.callbacks(),
                           steps_per_epoch=FLAGS.steps_per_epoch, verbose=0, seed=FLAGS.seed)
        transfer.recalibrate_batchnorm(model, d.train)
        return training.evaluate(model, d.eval, strategy=strategy, verbose=0)

    def record(key, logs, seconds):
        state["runs"][key] = {"accuracy": float(logs["accuracy"]), "loss": float(logs["loss"]),
                              "seconds": round(seconds, 1)}
        if S.is_chief():
            atomic_write_text(state_path, json.dumps(state, indent=2, default=str) + "\n")

    progress = keras.utils.Progbar(len(jobs), unit_name="network")
    bases = {}
    for i, key in enumerate(jobs):
        t = time.time()
        if key.startswith("base"):
            source = key[-1]           # A, B, or P: the pre-trained backbone, head on A
            task = "A" if source == "P" else source
            path = os.path.join(model_dir, f"{key}.weights.h5")
            done = key in state["runs"] and os.path.exists(path)
            model = build(task, weights_arg if source == "P" and not done else None)
            if done:
                W.load_weights(model, path)
            else:
                logs = train(model, task, transfer.BACKBONE_OUT if source == "P" else None)
                if S.is_chief():
                    transfer.save_model(model, path)
                record(key, logs, time.time() - t)
            bases[source] = model
        elif key not in state["runs"]:
            kind, n = key.split(" n=")
            n = int(n)
            model = transfer.transferred(lambda: build("B"), bases[kind[0]], n,
                                         fine_tune=kind.endswith("+"))
            logs = train(model, "B", None if kind.endswith("+") else n)
            record(key, logs, time.time() - t)
            del model
        progress.update(i + 1, [("accuracy", state["runs"][key]["accuracy"])])
    runs = state["runs"]
    md, csv_text = table(runs, stages, runs, kinds)
    series = {k: (stages, [runs[f"{k} n={n}"]["accuracy"] for n in stages]) for k in kinds}
    series["baseB"] = (stages, [runs["baseB"]["accuracy"]] * len(stages))
    png = plot_lines(series, base_out + ".png", xlabel="stages copied from the base network (n)",
                     ylabel="accuracy on B (test)",
                     title=f"{entry.name} on {info.name}: A={split_a}, B={split_b}")
    head = (f"# Yosinski et al. transfer experiment: {entry.name} on {info.name}\n\n"
            f"A = classes {split_a}, B = classes {split_b}; {image_size}px; "
            f"{FLAGS.epochs} epochs per network ({settings['optimizer']}, lr {settings['lr']:g}, "
            f"{settings['schedule']}), batch {FLAGS.batch_size}, seed {FLAGS.seed}; "
            f"n = stages copied (stem included). XnY: copied from baseX and frozen; XnY+: "
            f"fine-tuned."
            + (f" P: {entry.name} with {'ImageNet' if weights_kind == 'imagenet' else 'file'} "
               f"weights{'' if weights_kind == 'imagenet' else ' ' + weights_arg}, backbone "
               f"frozen, new head trained on A (its stages are the pre-trained ones)."
               if pretrained else "")
            + f" Training the {len(jobs)} networks took "
            f"{round(sum(runs[k]['seconds'] for k in jobs if k in runs))} s.\n\n")
    atomic_write_text(base_out + ".md", head + md)
    atomic_write_text(base_out + ".csv", csv_text)
    print(md, end="")
    print(f"table {base_out}.md, {base_out}.csv; plot {png}")


if __name__ == "__main__":
    shared.run(main)
