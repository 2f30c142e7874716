"""Grow a network with Net2Net while it trains, and train its final architecture from scratch
for comparison: the experiment of Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via
Knowledge Transfer" (arXiv:1511.05641, section 3), at small scale.

    python -m tools.net2net --model lenet5 --model_options activation=relu,output=dense \\
        --dataset digits --image_size 32 --lr 0.01 \\
        --schedule "train:3,wider:stem_conv:2x,train:3,deeper:fc1_relu,train:3"

`--schedule` steps (comma-separated): `train:EPOCHS`, `wider:LAYER:WIDTH` (`2x`, `1.5x` or units),
`deeper:LAYER[:conv|dense][:KERNEL_SIZE]` (the kind follows the layer's output rank when
omitted); layer names are the model's (`stage2_out`, `stage1_block1_conv`, `fc1`, ...; inserted
layers are `{LAYER}_deeper{n}_*`). The whole schedule is tried on the untrained model first, so
a step that cannot apply fails before any training. Each growth step is checked on a validation
batch (largest output change) and saved as `--model_dir/step{i}_{op}_{layer}.keras`; the trained
result is `final.keras`. Then the final architecture is re-initialised at random and trained for
the same number of epochs. Data flags are the shared ones (`tools/flags.py`); the optimiser is
re-created after each growth (its variables change) with a constant learning rate.

Writes the per-epoch table (CSV at `--output`, Markdown beside it) and two PNGs:
`<output>.png` (validation accuracy, grown vs scratch) and `<output>_grown.png` (the grown run's
curves with the growth steps marked). The experiment is `kerasnets.experiments.net2net.grow`.
"""

from __future__ import annotations

import ast
import os
import platform
import shlex
import sys

from absl import flags

from kerasnets.results import ACCURACY
from kerasnets.utils import write_tables
from tools import flags as shared

shared.define_device_flags()
shared.define_data_flags()
flags.DEFINE_string("model", None, "Registry name of the starting model (e.g. lenet5, vgg11).")
flags.DEFINE_string("model_options", "", "Builder keywords, 'key=value,...' (e.g. "
                    "'activation=relu,output=dense' for LeNet-5, 'shortcut=\"B\"').")
flags.DEFINE_string("schedule", None, "Growth schedule, e.g. 'train:3,wider:stage1_block1_conv:"
                    "2x,train:3,deeper:stage2_out,train:3'.")
flags.DEFINE_enum("optimizer", "sgd", ["sgd", "adam", "adamw", "rmsprop", "nadam"],
                  "Optimizer (a fresh one after each growth step; constant learning rate).")
flags.DEFINE_float("lr", None, "Learning rate (default 0.05 for sgd, 1e-3 otherwise).")
flags.DEFINE_float("momentum", 0.9, "Momentum (sgd, rmsprop).")
flags.DEFINE_float("bn_momentum", 0.9, "BatchNorm moving-average momentum for this run (as "
                   "tools.train; 0 keeps the model's own).")
flags.DEFINE_integer("steps_per_epoch", None, "Cap the steps of an epoch.")
flags.DEFINE_float("noise", 0.0, "Net2WiderNet symmetry-breaking noise (x the kernel's std).")
flags.DEFINE_bool("scratch", True, "Also train the final architecture from random init.")
flags.DEFINE_string("output", "docs/results/net2net.csv", "CSV path; .md and .png beside it.")
flags.DEFINE_string("model_dir", None, "Where grown models are saved (.keras; default "
                    "runs/net2net_<model>).")
flags.mark_flags_as_required(["model", "schedule"])
FLAGS = flags.FLAGS

def parse_options(text: str) -> dict:
    """'a=1,b=relu' -> {'a': 1, 'b': 'relu'} (Python literals where they parse)."""
    options = {}
    for item in [s.strip() for s in text.split(",") if s.strip()]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--model_options item {item!r} is not key=value.")
        try:
            options[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            options[key.strip()] = value.strip()
    return options


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    import kerasnets
    from kerasnets import net2net
    from kerasnets.experiments import net2net as N
    from kerasnets.plots import plot_history, plot_lines

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    steps = net2net.parse_schedule(FLAGS.schedule)
    if not sum(s.epochs for s in steps):
        raise ValueError("--schedule has no train:EPOCHS step.")
    entry = kerasnets.get_entry(FLAGS.model)
    options = parse_options(FLAGS.model_options)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"net2net_{entry.name}")
    data = shared.data_from_flags(FLAGS, entry)
    size, channels, info = data.image_size, data.channels, data.info

    keras.utils.set_random_seed(FLAGS.seed)
    model = kerasnets.create_model(FLAGS.model, input_shape=(size, size, channels),
                                   classes=info.num_classes, **options)
    N.check_schedule(model, steps)   # fail fast: every growth step must apply
    print(f"{FLAGS.model} ({model.count_params():,} parameters) on {info.name} "
          f"({info.num_classes} classes) at {size}x{size}x{channels}; schedule: "
          + ",".join(map(str, steps)))
    lr = FLAGS.lr if FLAGS.lr is not None else 0.05 if FLAGS.optimizer == "sgd" else 1e-3
    result = N.grow(model, steps, data.train, data.eval, loss=data.loss, lr=lr,
                    model_dir=model_dir, optimizer=FLAGS.optimizer, momentum=FLAGS.momentum,
                    bn_momentum=FLAGS.bn_momentum, steps_per_epoch=FLAGS.steps_per_epoch,
                    noise=FLAGS.noise, seed=FLAGS.seed, scratch=FLAGS.scratch, check=False)
    rows, model = result.rows, result.model

    stem = os.path.splitext(FLAGS.output)[0]
    header = (
        f"Net2Net on {info.name}: `{FLAGS.model}`"
        + (f" ({FLAGS.model_options})" if FLAGS.model_options else "")
        + f" at {size}x{size}x{channels}, {info.num_classes} classes, schedule "
        f"`{','.join(map(str, steps))}`; batch {FLAGS.batch_size}, {FLAGS.optimizer} lr {lr} "
        f"(a fresh optimiser after each growth step), recipe {FLAGS.recipe or 'none'}, noise "
        f"{FLAGS.noise}, seed {FLAGS.seed}. `grown`: trained while growing (epoch 0: before "
        f"training; `then_grown`: the steps applied after that epoch, with the parameters before "
        f"-> after, and `max_abs_diff` the largest change of any output on a validation batch); "
        f"`scratch`: the final architecture ({model.count_params():,} parameters) from random "
        f"init for the same {result.epochs} epochs. Wall time {result.seconds['grown']:.0f} s "
        f"grown, {result.seconds['scratch']:.0f} s scratch; TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__}, {platform.machine()} with {os.cpu_count()} CPUs.\n\n"
        f"    python -m tools.net2net {' '.join(shlex.quote(a) for a in sys.argv[1:])}")
    markdown = write_tables(FLAGS.output, rows, N.COLUMNS, header=header, fmt=ACCURACY)

    epochs = [r["epoch"] for r in rows]
    series = {"Net2Net (grown)": (epochs, [r.get("grown_val_accuracy") for r in rows])}
    if FLAGS.scratch:
        series["random init (final architecture)"] = (
            epochs, [r.get("scratch_val_accuracy") for r in rows])
    plot_lines(series, stem + ".png", xlabel="epoch", ylabel="validation accuracy",
               title=f"Net2Net: {FLAGS.model} on {info.name}")
    plot_history(result.history, stem + "_grown.png",
                 title=f"{FLAGS.model} grown while training", marks=result.marks)
    print("\n" + markdown)
    print(f"Wrote {FLAGS.output}, {stem}.md, {stem}.png, {stem}_grown.png; models in "
          f"{os.path.dirname(result.final_path)}")


if __name__ == "__main__":
    shared.run(main)
