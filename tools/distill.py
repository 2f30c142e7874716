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

Teachers and students are registry names, e.g. Hinton et al.'s MNIST nets `mlp_1200` (the
regularised teacher: dropout, max-norm, jitter) and `mlp_800` (the plain student; both read the
dataset's images at their own size unless --image_size). Given `--teacher_weights` (repeated:
an ensemble), the teachers are loaded; else `--train_teacher_epochs` trains `--num_teachers` of
them first (on the data flags' `--recipe` / `--mixup` / ...).

`--teacher_weights imagenet` (a registry teacher with published ImageNet weights; may be mixed
with files in an ensemble) builds that teacher from its ImageNet backbone, *frozen*, with a new
head for the dataset's classes trained `--train_teacher_epochs` epochs (required) on the
training split -- transfer schedule 2.A, `kerasnets.distillation.pretrained_teacher`; the
backbone's features are computed once when the teacher's training set is not augmented. The
pipeline normalises for the student; a `Renormalize` layer in front of the teacher gives it its
own normalisation and channels (e.g. EfficientNet-Lite's (x - 127) / 128 in RGB behind LeNet-5's
gray torch normalisation). Its trained weights go to `seed*/teacher*.weights.h5`. The ImageNet
file is checked before anything is trained: offline, a teacher whose weights are not here
fails within seconds (`error: ...`); EfficientNet-Lite0-2's ship in an installed package.

For each seed the tool then trains the student alone and
the student distilled, from the same initial weights, with the same optimiser and budget, on the
transfer set (`--transfer_recipe`, by default none: Hinton's "no dropout, no jitter"). On a
non-augmented transfer set the teacher's logits are computed once and cached
(`teacher_logits_seed*.npz`); on an augmented one the teacher runs on every augmented batch.

Writes to `--model_dir`: the distilled student of the first seed with its softmax
(`student.keras`), trained teachers (`seed*/teacher*.weights.h5`), `metrics.json`,
`curves.png` (the distilled student's curves), `comparison.png` (validation accuracy of
teacher, student alone and distilled) and `comparison.{csv,md}` (test errors, mean ± standard
deviation over seeds); `--output` writes the table there too. `--benchmark` instead times a KD
step against a plain student step (cached and live teacher) and writes
`docs/results/distillation_step.{csv,md}`.

The experiment is `kerasnets.distillation.experiment` (`run_seed`, `comparison_rows`) on the
datasets of `pipelines.distillation.prepare`; the step benchmark `kerasnets.distillation.timing`.
"""


from __future__ import annotations

import json
import os
import platform
import time

from absl import app, flags

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
flags.DEFINE_integer("num_seeds", 1, "Repeat with seeds --seed, --seed + 1, ...")
flags.DEFINE_bool("compare", True, "Also train the student alone (same budget).")
flags.DEFINE_integer("omit_class", None, "Hinton's 'never saw a 3': also distil on a transfer "
                     "set without this class, then raise its bias (chosen on the train split).")
flags.DEFINE_string("output", None, "Also write the comparison table to this CSV (and .md).")
flags.DEFINE_integer("verbose", 0, "Keras progress output of each fit.")
flags.DEFINE_bool("benchmark", False, "Instead of training: median step times of a plain "
                  "student step and KD steps (cached / live teacher) on one random batch.")
flags.DEFINE_list("pairs", None, "Benchmark teacher:student pairs (default --teacher:--student).")
flags.DEFINE_integer("steps", 20, "Benchmark: timed steps per variant (median).")
flags.DEFINE_integer("warmup", 3, "Benchmark: untimed steps first.")
shared.define_data_flags()
shared.define_strategy_flags()
shared.define_training_flags(default_epochs=10)
FLAGS = flags.FLAGS


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_table(rows, columns, header, path) -> None:
    from kerasnets.utils import write_tables

    write_tables(path, rows, columns, header=header, fmt=_fmt)


def benchmark(output):
    import keras
    import tensorflow as tf

    from kerasnets.distillation import timing

    pairs = timing.parse_pairs(FLAGS.pairs or [
        f"{FLAGS.teacher[0] if FLAGS.teacher else ''}:{FLAGS.student or ''}"])
    rows = []
    progress = keras.utils.Progbar(len(pairs), unit_name="pair")
    for i, (teacher, student) in enumerate(pairs):
        rows.append(timing.step_benchmark(
            teacher, student, image_size=FLAGS.image_size, batch_size=FLAGS.batch_size,
            temperature=FLAGS.temperature, alpha=FLAGS.alpha, steps=FLAGS.steps,
            warmup=FLAGS.warmup, seed=FLAGS.seed))
        progress.update(i + 1)
    header = (f"Distillation step time: TensorFlow {tf.__version__}, Keras {keras.__version__}, "
              f"{platform.machine()} with {os.cpu_count()} CPUs; one random batch of "
              f"{FLAGS.batch_size}, SGD, median of {FLAGS.steps} interleaved steps after "
              f"{FLAGS.warmup} warm-up. Ratios are against the plain student step (hard labels); "
              f"teacher_share_live = (live - cached) / live, the part of a live KD step the "
              f"teacher costs; teacher_forward_ms is the teacher's inference alone.")
    write_table(rows, list(rows[0]), header, output)
    print("\n" + open(os.path.splitext(output)[0] + ".md").read())
    print(f"Wrote {output} and {os.path.splitext(output)[0]}.md")


def _check_flags():
    from kerasnets.distillation import experiment as E

    if not FLAGS.teacher or not FLAGS.student:
        raise app.UsageError("Give --teacher and --student (registry names, e.g. mlp_1200 and "
                             "mlp_800).")
    if FLAGS.label_smoothing:
        raise app.UsageError("--label_smoothing is not used with distillation: the soft targets "
                             "take its place.")
    if FLAGS.num_seeds < 1 or FLAGS.epochs < 1:
        raise app.UsageError("--num_seeds and --epochs must be >= 1.")
    hints = E.parse_hints(FLAGS.hint_layers)
    E.check_setup(FLAGS.teacher, FLAGS.student, teacher_weights=FLAGS.teacher_weights,
                  num_teachers=FLAGS.num_teachers, train_teacher_epochs=FLAGS.train_teacher_epochs,
                  hints=hints, temperature=FLAGS.temperature, alpha=FLAGS.alpha)
    return hints


def main(argv):
    del argv
    if FLAGS.benchmark:
        return benchmark(FLAGS.output or "docs/results/distillation_step.csv")
    from kerasnets.distillation import experiment as E

    hints = _check_flags()
    names = FLAGS.teacher
    sources = E.teacher_sources(      # ImageNet files checked before anything trains
        names, FLAGS.teacher_weights, num_teachers=FLAGS.num_teachers,
        input_size=E.default_input_size(FLAGS.student, FLAGS.image_size))
    hint_epochs = FLAGS.hint_epochs or (max(1, FLAGS.epochs // 2) if hints else 0)
    # Before TensorFlow touches a device; a student that reads the dataset's own image size
    # (an MLP without --image_size) has no input shape to probe precision at yet.
    strategy, policy = shared.start_strategy(
        FLAGS, probe=E.default_input_size(FLAGS.student, FLAGS.image_size) is not None)
    import keras
    import tensorflow as tf

    from kerasnets.benchmark import trainable_params
    from kerasnets.plots import plot_history, plot_lines
    from kerasnets import model_card
    from kerasnets.utils import atomic_write_text
    from pipelines import distillation as P
    from pipelines.transforms import EVAL_CROP_FRACTION
    from pipelines import strategy as S

    settings = shared.training_settings(FLAGS)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"distill_{FLAGS.student}")
    setup = E.Setup(teachers=names, student=FLAGS.student, sources=sources, epochs=FLAGS.epochs,
                    temperature=FLAGS.temperature, alpha=FLAGS.alpha,
                    train_teacher_epochs=FLAGS.train_teacher_epochs, ensemble=FLAGS.ensemble,
                    hints=hints, hint_epochs=hint_epochs, compare=FLAGS.compare,
                    cache_teacher=FLAGS.cache_teacher, omit_class=FLAGS.omit_class)
    teacher_label = E.teacher_label(setup)
    start = time.time()
    seeds = list(range(FLAGS.seed, FLAGS.seed + FLAGS.num_seeds))
    per_seed, first = [], None
    progress = keras.utils.Progbar(len(seeds), unit_name="seed")
    for i, seed in enumerate(seeds):
        data = P.prepare(FLAGS.dataset, FLAGS.student, seed=seed, train_split=FLAGS.train_split,
                         eval_split=FLAGS.eval_split, data_dir=FLAGS.data_dir,
                         classes=[int(c) for c in FLAGS.classes] if FLAGS.classes else None,
                         on_error=FLAGS.on_error, image_size=FLAGS.image_size,
                         batch_size=FLAGS.batch_size, recipe=FLAGS.recipe,
                         transfer_recipe=FLAGS.transfer_recipe, mixup=FLAGS.mixup,
                         cutmix=FLAGS.cutmix, randaugment=FLAGS.randaugment)
        out = E.run_seed(data, setup, settings, batch_size=FLAGS.batch_size, seed=seed,
                         model_dir=model_dir, strategy=strategy, save=S.is_chief(),
                         verbose=FLAGS.verbose)
        row = out.row
        per_seed.append(row)
        first = first or (data, out)
        progress.update(i + 1, values=[("distilled_errors", row["distilled_errors"])])
        print(f"  seed {seed}: test errors of {row['test_examples']}: teacher "
              f"{row['teacher_errors']}, student alone {row['alone_errors']}, distilled "
              f"{row['distilled_errors']}"
              + (f"; without class {row['omit']['class_name']}: its accuracy "
                 f"{row['omit']['class_accuracy_before']:.3f} -> "
                 f"{row['omit']['class_accuracy_after']:.3f} after bias "
                 f"+{row['omit']['bias_shift']}" if row["omit"] else ""))
    if not S.is_chief():
        return

    data, out = first
    result, student = out.result, out.result["student"]
    n_test = per_seed[0]["test_examples"]
    rows, columns = E.comparison_rows(
        per_seed, teacher_label=teacher_label,
        teacher_params=E.params_without_bn_statistics(out.teachers.model),
        student=FLAGS.student, student_params=trainable_params(student),
        temperature=FLAGS.temperature, alpha=FLAGS.alpha,
        hint_layers=FLAGS.hint_layers if hints else ())
    header = (f"Distillation on {data.name} ({data.num_train} train / {n_test} test images, "
              f"{'x'.join(map(str, data.input_shape))}): test errors, mean ± standard deviation "
              f"over seeds {', '.join(map(str, seeds))}. Student alone and distilled start from "
              f"the same weights and train {FLAGS.epochs} epochs (batch {FLAGS.batch_size}, "
              f"{settings['optimizer']} lr {settings['lr']:g}, {settings['schedule']}) on the "
              f"transfer set (recipe {FLAGS.transfer_recipe}); teacher "
              + E.teacher_how(setup, FLAGS.recipe or "none")
              + f". TensorFlow {tf.__version__}, Keras {keras.__version__}, "
                f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}, {policy}; "
                f"{time.time() - start:.0f} s in all.")
    write_table(rows, columns, header, os.path.join(model_dir, "comparison.csv"))
    if FLAGS.output:
        write_table(rows, columns, header, FLAGS.output)

    model_card.save(E.with_softmax(student, FLAGS.student, input_shape=data.input_shape,
                                   classes=data.num_classes),
                    os.path.join(model_dir, "student.keras"),
                    model_card.ModelCard(
                        class_names=data.class_names, preprocessing=data.preprocessing,
                        image_size=data.input_shape[0], channels=data.input_shape[2],
                        crop_fraction=EVAL_CROP_FRACTION[data.recipe], backbone=FLAGS.student,
                        weights=f"distilled from {teacher_label}", dataset=FLAGS.dataset))
    marks = {"KD starts": hint_epochs + 0.5} if hints else None
    curves = plot_history(E.distilled_curves(result, hint_epochs if hints else 0),
                          os.path.join(model_dir, "curves.png"),
                          title=f"{FLAGS.student} distilled from {teacher_label}", marks=marks)
    lines = {}
    for label, h in (("teacher", (out.teachers.histories or [{}])[0]),
                     ("student alone", result.get("alone_history", {})),
                     ("student distilled", result["distilled_history"])):
        if h.get("val_accuracy"):
            lines[label] = (range(1, len(h["val_accuracy"]) + 1), h["val_accuracy"])
    comparison_png = plot_lines(lines, os.path.join(model_dir, "comparison.png"),
                                xlabel="epoch", ylabel=f"{FLAGS.eval_split} accuracy",
                                title=f"seed {seeds[0]}") if lines else None
    payload = {
        "dataset": data.name, "input_shape": data.input_shape, "teacher": teacher_label,
        "student": FLAGS.student, "temperature": FLAGS.temperature, "alpha": FLAGS.alpha,
        "hints": FLAGS.hint_layers, "hint_epochs": hint_epochs, "epochs": FLAGS.epochs,
        "train_teacher_epochs": FLAGS.train_teacher_epochs, "batch_size": FLAGS.batch_size,
        "teacher_weights": [kind if kind != "file" else path for kind, path in sources],
        "transfer_recipe": FLAGS.transfer_recipe,
        "cached_teacher": FLAGS.cache_teacher and data.augmented_transfer is None,
        "settings": settings, "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync, "precision": policy, "seeds": per_seed,
        "table": rows, "student_outputs": "probabilities (softmax restored)",
        "seconds": round(time.time() - start, 1), "curves": curves, "comparison": comparison_png,
        "history": {"distilled": result["distilled_history"],
                    "alone": result.get("alone_history"), "hints": result["hint_history"],
                    "teachers": out.teachers.histories}}
    atomic_write_text(os.path.join(model_dir, "metrics.json"),
                      json.dumps(payload, indent=2, default=str) + "\n")
    print("\n" + open(os.path.join(model_dir, "comparison.md")).read())
    print(f"Wrote {model_dir}/student.keras, metrics.json, curves.png, comparison.(csv|md|png)")


if __name__ == "__main__":
    shared.run(main)
