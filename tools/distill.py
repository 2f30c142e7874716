"""Teacher-student distillation from flags: Hinton KD, ensemble teachers, FitNets hints.

    python -m tools.distill --dataset digits --teacher mlp_1200 --student mlp_800 \\
        --train_teacher_epochs 60 --epochs 60 --num_seeds 3 --omit_class 3 \\
        --model_dir runs/distill_digits --output docs/results/distillation_digits.csv
    python -m tools.distill --dataset digits --image_size 32 --teacher resnet20_cifar \\
        --teacher_weights a.weights.h5 --teacher_weights b.weights.h5 --student lenet5 \\
        --hint_layers stage2_out:stage1_out --epochs 20
    python -m tools.distill --dataset digits --image_size 32 --teacher efficientnet_lite0 \\
        --teacher_weights imagenet --train_teacher_epochs 30 --student lenet5 --epochs 30 \\
        --optimizer adam --lr 0.001             # docs/results/distillation_imagenet_teacher.md
    python -m tools.distill --benchmark --pairs mlp_1200:mlp_800,resnet20_cifar:lenet5
    python -m tools.distill --experiment hinton_mnist --output docs/results   # 3 seeds, real MNIST

Teachers and students are registry names (`mlp_1200`, `mlp_800`, ...). How each mode trains,
what it checks first and what it writes (the ImageNet teacher, `--experiment hinton_mnist`, the
run directory): `kerasnets.experiments.distillation.job`'s docstring. The experiment is
`kerasnets.experiments.distillation.experiment` on the datasets of `pipelines.distillation.prepare`.
"""

from __future__ import annotations

import functools
import os

from absl import app, flags

from kerasnets.experiments.distillation import experiment as E
from kerasnets.experiments.distillation import job
from kerasnets.results import write_table
from pipelines import distillation as P
from pipelines import strategy as S
from pipelines.sources import mnist5k_arrays
from pipelines.transforms import EVAL_CROP_FRACTION
from tools import flags as shared

RECIPES = ("none", "cifar", "alexnet", "vgg", "inception")

flags.DEFINE_list("teacher", None, "Teacher: a registry name (e.g. mlp_1200); several "
                  "comma-separated names give one per --teacher_weights.")
flags.DEFINE_multi_string("teacher_weights", [], "Teacher weights (.weights.h5 / .keras / .h5), "
                          "or imagenet: the teacher's ImageNet backbone, frozen, with a new head "
                          "trained --train_teacher_epochs epochs here; repeat for an ensemble.")
flags.DEFINE_integer("train_teacher_epochs", 0, "Without --teacher_weights: train the "
                     "teacher(s) first for this many epochs; with --teacher_weights imagenet: "
                     "epochs of the new head on the frozen ImageNet backbone.")
flags.DEFINE_integer("num_teachers", 1, "Teachers to train (seeded apart) for an ensemble.")
flags.DEFINE_enum("ensemble", "logits", ["logits", "probabilities"], "How an ensemble combines: "
                  "mean logits, or mean probabilities at --temperature.")
flags.DEFINE_string("student", None, "Student: a registry name (e.g. mlp_800).")
flags.DEFINE_float("temperature", 4.0, "Softmax temperature T of the soft targets.")
flags.DEFINE_float("alpha", 0.1, "Weight of the hard-label cross-entropy; the T^2-scaled soft "
                   "term gets 1 - alpha (Keras' student_loss_weight).")
flags.DEFINE_multi_string("hint_layers", [], "FitNets hint teacher_layer:student_layer, e.g. "
                          "stage2_out:stage1_out (repeatable); stage 1 trains on hints.")
flags.DEFINE_integer("hint_epochs", 0, "FitNets stage-1 epochs (default: half of --epochs when "
                     "--hint_layers is given); then --epochs of KD.")
flags.DEFINE_enum("transfer_recipe", "none", list(RECIPES), "Augmentation of the student's "
                  "transfer set (none: Hinton's, and the teacher's logits are cached).")
flags.DEFINE_bool("cache_teacher", True, "On a non-augmented transfer set, run the teacher "
                  "once and store its logits (model_dir/teacher_logits_seed*.npz).")
flags.DEFINE_integer("num_seeds", 1, "Repeat with seeds --seed, --seed + 1, ... (default 1; "
                     "3 with --experiment).")
flags.DEFINE_bool("compare", True, "Also train the student alone (same budget).")
flags.DEFINE_integer("omit_class", None, "Hinton's 'never saw a 3': also distil on a transfer "
                     "set without this class, then raise its bias (chosen on the train split).")
flags.DEFINE_string("output", None, "Also write the comparison table to this CSV (and .md).")
flags.DEFINE_integer("verbose", 0, "Keras progress output of each fit.")
flags.DEFINE_enum("experiment", None, ["hinton_mnist"], "Instead of --teacher / --student: "
                  "Hinton et al.'s MNIST experiments on mnist5k; --output is a directory.")
flags.DEFINE_bool("benchmark", False, "Instead of training: median step times of a plain "
                  "student step and KD steps (cached / live teacher) on one random batch.")
flags.DEFINE_list("pairs", None, "Benchmark teacher:student pairs (default --teacher:--student).")
flags.DEFINE_integer("steps", 20, "Benchmark: timed steps per variant (median).")
flags.DEFINE_integer("warmup", 3, "Benchmark: untimed steps first.")
shared.define_data_flags()
shared.define_strategy_flags()
shared.define_training_flags(default_epochs=10)
FLAGS = flags.FLAGS


def _check_flags():
    problem = job.usage_problem(FLAGS.teacher, FLAGS.student, FLAGS.label_smoothing,
                                num_seeds=FLAGS.num_seeds, epochs=FLAGS.epochs)
    if problem:
        raise app.UsageError(problem)
    hints = E.parse_hints(FLAGS.hint_layers)
    E.check_setup(FLAGS.teacher, FLAGS.student, teacher_weights=FLAGS.teacher_weights,
                  num_teachers=FLAGS.num_teachers, train_teacher_epochs=FLAGS.train_teacher_epochs,
                  hints=hints, temperature=FLAGS.temperature, alpha=FLAGS.alpha)
    return hints


def main(argv):
    del argv
    if FLAGS.benchmark:
        table = job.step_table(
            FLAGS.pairs or [f"{FLAGS.teacher[0] if FLAGS.teacher else ''}:{FLAGS.student or ''}"],
            image_size=FLAGS.image_size, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
            temperature=FLAGS.temperature, alpha=FLAGS.alpha, steps=FLAGS.steps,
            warmup=FLAGS.warmup, output=FLAGS.output or "docs/results/distillation_step.csv")
        markdown, where = write_table(table)
        return print("\n" + markdown + "\n" + where)
    if FLAGS.experiment:
        if FLAGS["dataset"].present and FLAGS.dataset != "mnist5k":
            raise ValueError("--experiment hinton_mnist runs on mnist5k only; drop --dataset.")
        paths = job.hinton_mnist(
            mnist5k_arrays("train"), mnist5k_arrays("test"), first_seed=FLAGS.seed,
            num_seeds=FLAGS.num_seeds if FLAGS["num_seeds"].present else 3,
            output=FLAGS.output or os.path.join("runs", FLAGS.experiment))
        return print("\n" + open(paths[1]).read() + "\nWrote " + ", ".join(paths))
    hints = _check_flags()
    size = E.default_input_size(FLAGS.student, FLAGS.image_size)
    sources = E.teacher_sources(      # ImageNet files checked before anything trains
        FLAGS.teacher, FLAGS.teacher_weights, num_teachers=FLAGS.num_teachers, input_size=size)
    # Before TensorFlow touches a device; a student that reads the dataset's own image size
    # (an MLP without --image_size) has no input shape to probe precision at yet.
    strategy, policy = shared.start_strategy(FLAGS, probe=size is not None)
    setup = E.Setup(teachers=FLAGS.teacher, student=FLAGS.student, sources=sources,
                    epochs=FLAGS.epochs, temperature=FLAGS.temperature, alpha=FLAGS.alpha,
                    train_teacher_epochs=FLAGS.train_teacher_epochs, ensemble=FLAGS.ensemble,
                    hints=hints, compare=FLAGS.compare, cache_teacher=FLAGS.cache_teacher,
                    hint_epochs=FLAGS.hint_epochs or (max(1, FLAGS.epochs // 2) if hints else 0),
                    omit_class=FLAGS.omit_class)
    prepare = functools.partial(
        P.prepare, FLAGS.dataset, FLAGS.student, train_split=FLAGS.train_split,
        eval_split=FLAGS.eval_split, data_dir=FLAGS.data_dir, on_error=FLAGS.on_error,
        classes=[int(c) for c in FLAGS.classes] if FLAGS.classes else None,
        image_size=FLAGS.image_size, batch_size=FLAGS.batch_size, recipe=FLAGS.recipe,
        transfer_recipe=FLAGS.transfer_recipe, mixup=FLAGS.mixup, cutmix=FLAGS.cutmix,
        randaugment=FLAGS.randaugment)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"distill_{FLAGS.student}")
    result = job.run(
        setup, shared.training_settings(FLAGS), prepare=lambda seed: prepare(seed=seed),
        seeds=list(range(FLAGS.seed, FLAGS.seed + FLAGS.num_seeds)), model_dir=model_dir,
        strategy=strategy, policy=policy, chief=S.is_chief(), batch_size=FLAGS.batch_size,
        dataset=FLAGS.dataset, recipe=FLAGS.recipe, transfer_recipe=FLAGS.transfer_recipe,
        eval_split=FLAGS.eval_split, hint_layers=FLAGS.hint_layers,
        crop_fractions=EVAL_CROP_FRACTION, verbose=FLAGS.verbose)
    if result is None:
        return
    markdown, _ = write_table(result.table)
    if FLAGS.output:
        write_table(result.table, FLAGS.output)
    print("\n" + markdown)
    print(f"Wrote {model_dir}/student.keras, metrics.json, curves.png, comparison.(csv|md|png)")


if __name__ == "__main__":
    shared.run(main)
