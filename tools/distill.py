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

Teachers and students are registry names or Hinton et al.'s MNIST nets `mlp_1200` (the
regularised teacher: dropout, max-norm, jitter) and `mlp_800` (the plain student), see
`kerasnets.distillation.MLPS`. Given `--teacher_weights` (repeated: an ensemble), the teachers
are loaded; else `--train_teacher_epochs` trains `--num_teachers` of them first (on the data
flags' `--recipe` / `--mixup` / ...).

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

import json
import os
import platform
import time

from absl import app, flags

from kerasnets.utils import save_model
from tools import flags as shared

MLP_NAMES = ("mlp_1200", "mlp_800")
IMAGENET = "imagenet"
RECIPES = ("none", "cifar", "alexnet", "vgg", "inception")

flags.DEFINE_list("teacher", None, "Teacher: a registry name or mlp_1200 / mlp_800; several "
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
flags.DEFINE_string("student", None, "Student: a registry name or mlp_800 / mlp_1200.")
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


# ----------------------------------------------------------------------------- models

def preprocessing_of(name: str) -> str:
    import kerasnets

    return "raw" if name in MLP_NAMES else kerasnets.get_entry(name).preprocessing


def build(name: str, *, input_shape, classes: int, model_name: str | None = None,
          weights: str | None = None, activation=None):
    """A registry model or built-in MLP ending in logits (or `activation`)."""
    import kerasnets
    from kerasnets import distillation as D
    from kerasnets.weights import load_weights

    if name in MLP_NAMES:
        model = D.build_mlp(name, input_shape=input_shape, classes=classes,
                            classifier_activation=activation, model_name=model_name)
        if weights:
            load_weights(model, weights)
        return model
    options = dict(classes=classes, input_shape=tuple(input_shape), weights=weights,
                   classifier_activation=activation)
    if model_name:
        options["name"] = model_name
    return kerasnets.get_entry(name).builder(**options)


def _check_name(name: str, flag: str) -> str:
    import kerasnets

    if name not in MLP_NAMES:
        try:
            kerasnets.get_entry(name)
        except ValueError as e:
            raise app.UsageError(f"--{flag}: {e} (or one of {', '.join(MLP_NAMES)})") from None
    return name


# ----------------------------------------------------------------------------- helpers

def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_table(rows, columns, header, path) -> None:
    from kerasnets.utils import write_tables

    write_tables(path, rows, columns, header=header, fmt=_fmt)


def predict(model, dataset):
    """(logits, labels) of `model` over a batched `(x, y)` dataset, in inference mode."""
    import numpy as np
    import tensorflow as tf

    step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    logits, labels = [], []
    for x, y in dataset:
        logits.append(np.asarray(step(x), "float32"))
        labels.append(np.asarray(y))
    return np.concatenate(logits), np.concatenate(labels)


def errors(model, dataset) -> int:
    logits, labels = predict(model, dataset)
    return int((logits.argmax(-1) != labels).sum())


def mean_std(values):
    import numpy as np

    values = np.asarray(values, "float64")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


# ----------------------------------------------------------------------------- benchmark

def benchmark(output):
    import keras
    import tensorflow as tf

    from kerasnets import distillation as D

    pairs = FLAGS.pairs or [f"{FLAGS.teacher[0] if FLAGS.teacher else ''}:{FLAGS.student or ''}"]
    rows = []
    progress = keras.utils.Progbar(len(pairs), unit_name="pair")
    for i, pair in enumerate(pairs):
        teacher_name, _, student_name = pair.partition(":")
        if not teacher_name or not student_name:
            raise app.UsageError(f"--pairs wants teacher:student, got {pair!r}.")
        _check_name(teacher_name, "pairs")
        _check_name(student_name, "pairs")
        if student_name in MLP_NAMES:
            shape = (FLAGS.image_size or 28, FLAGS.image_size or 28, 1)
        else:
            import kerasnets

            entry = kerasnets.get_entry(student_name)
            size = FLAGS.image_size or entry.input_shape[0]
            shape = (size, size, entry.input_shape[2])
        keras.utils.set_random_seed(FLAGS.seed)
        teacher = build(teacher_name, input_shape=shape, classes=10, model_name="teacher")
        times = D.measure_step_times(
            teacher, lambda: build(student_name, input_shape=shape, classes=10),
            batch_size=FLAGS.batch_size, temperature=FLAGS.temperature, alpha=FLAGS.alpha,
            steps=FLAGS.steps, warmup=FLAGS.warmup, seed=FLAGS.seed)
        ms = {k: 1000 * v for k, v in times.items()}
        rows.append({
            "teacher": teacher_name, "student": student_name,
            "input": "x".join(map(str, shape)), "batch": FLAGS.batch_size,
            "student_ms": ms["student"], "kd_cached_ms": ms["kd_cached"],
            "kd_live_ms": ms["kd_live"], "teacher_forward_ms": ms["teacher_forward"],
            "cached_ratio": ms["kd_cached"] / ms["student"],
            "live_ratio": ms["kd_live"] / ms["student"],
            "teacher_share_live": (ms["kd_live"] - ms["kd_cached"]) / ms["kd_live"]})
        progress.update(i + 1)
    columns = list(rows[0])
    header = (f"Distillation step time: TensorFlow {tf.__version__}, Keras {keras.__version__}, "
              f"{platform.machine()} with {os.cpu_count()} CPUs; one random batch of "
              f"{FLAGS.batch_size}, SGD, median of {FLAGS.steps} interleaved steps after "
              f"{FLAGS.warmup} warm-up. Ratios are against the plain student step (hard labels); "
              f"teacher_share_live = (live - cached) / live, the part of a live KD step the "
              f"teacher costs; teacher_forward_ms is the teacher's inference alone.")
    write_table(rows, columns, header, output)
    print("\n" + open(os.path.splitext(output)[0] + ".md").read())
    print(f"Wrote {output} and {os.path.splitext(output)[0]}.md")


# ----------------------------------------------------------------------------- one seed

class Run:
    """Everything one seed shares: data, input shape, strategy, optimiser settings."""

    def __init__(self, strategy, settings, seed):
        from pipelines import sources
        from pipelines import transforms as T

        self.strategy, self.seed, self.settings = strategy, seed, dict(settings)
        self.schedule_callbacks = []   # of the last optimiser made, for the next fit
        classes = [int(c) for c in FLAGS.classes] if FLAGS.classes else None
        load = dict(data_dir=FLAGS.data_dir, classes=classes, seed=seed, on_error=FLAGS.on_error)
        train_raw, info = sources.load(FLAGS.dataset, FLAGS.train_split, shuffle_files=False,
                                       **load)
        eval_raw, _ = sources.load(FLAGS.dataset, FLAGS.eval_split, **load)
        self.info = info
        if FLAGS.student in MLP_NAMES:
            native = info.image_shape or (None, None, None)
            size = FLAGS.image_size or native[0]
            channels = native[-1] or 3
            if not size:
                raise app.UsageError("The dataset's images vary in size: give --image_size for "
                                     "an MLP student.")
        else:
            import kerasnets

            entry = kerasnets.get_entry(FLAGS.student)
            size, channels = FLAGS.image_size or entry.input_shape[0], entry.input_shape[2]
        self.input_shape = (size, size, channels)
        self.preprocessing = preprocessing_of(FLAGS.student)
        common = dict(image_size=size, preprocessing=self.preprocessing, channels=channels)
        recipe = FLAGS.recipe or "none"
        batch = FLAGS.batch_size
        self.eval = T.make_dataset(eval_raw, training=False, batch_size=batch, recipe=recipe,
                                   cache=True, **common)
        # The non-augmented transfer set, in a fixed order: the teacher's cache is aligned to it.
        self.examples = T.make_dataset(train_raw, training=False, batch_size=256, recipe=recipe,
                                       cache=True, **common).unbatch()
        self.num_train = info.num_examples or sum(1 for _ in self.examples)
        self.mixing = FLAGS.mixup > 0 or FLAGS.cutmix > 0
        shuffled, _ = sources.load(FLAGS.dataset, FLAGS.train_split, **load)
        augment = dict(mixup=FLAGS.mixup, cutmix=FLAGS.cutmix, randaugment=FLAGS.randaugment,
                       num_classes=info.num_classes)
        self.teacher_train = T.make_dataset(shuffled, training=True, batch_size=batch,
                                            recipe=recipe, seed=seed, cache=True, **augment,
                                            **common)
        self.augmented = FLAGS.transfer_recipe != "none"
        self.shuffled, self.common = shuffled, common
        self.num_classes = info.num_classes

    def steps(self, augmented: bool) -> int:
        from kerasnets import training

        return training.steps_for(self.num_train, FLAGS.batch_size, drop_remainder=augmented)

    def optimizer(self, epochs, augmented=False):
        """The optimiser of the next `fit` (which also gets the callbacks of its schedule)."""
        self.settings["steps_per_epoch"] = self.steps(augmented)
        optimizer, self.schedule_callbacks = shared.make_optimizer(self.settings, epochs)
        return optimizer

    def transfer(self, logits=None, exclude=()):
        """The student's training batches (the same for alone and distilled)."""
        from kerasnets import distillation as D
        from pipelines import transforms as T

        if not self.augmented:
            return D.transfer_set(self.examples, logits, batch_size=FLAGS.batch_size,
                                  seed=self.seed, exclude_labels=exclude)
        raw = self.shuffled
        if exclude:
            import tensorflow as tf

            bad = tf.constant(list(exclude), tf.int64)
            raw = raw.filter(lambda x, y: tf.reduce_all(tf.not_equal(y, bad)))
        return T.make_dataset(raw, training=True, batch_size=FLAGS.batch_size,
                              recipe=FLAGS.transfer_recipe, seed=self.seed, cache=True,
                              **self.common)

    def fit(self, model, data, epochs, validate=True):
        from kerasnets import training

        callbacks, self.schedule_callbacks = self.schedule_callbacks, []
        history = training.fit(model, data, epochs=epochs,
                               validation_data=self.eval if validate else None,
                               strategy=self.strategy, callbacks=callbacks,
                               verbose=FLAGS.verbose)
        return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def teacher_sources(names: list[str]) -> list[tuple[str, str | None]]:
    """Per teacher `(kind, weights)`: ("train", None) to train it here, ("file", path), or
    ("imagenet", the builder's weights argument). ImageNet files are checked (or fetched) now,
    so a teacher whose weights are not here fails before anything trains."""
    from kerasnets import transfer

    if not FLAGS.teacher_weights:
        return [("train", None)] * FLAGS.num_teachers
    size = FLAGS.image_size
    if size is None and FLAGS.student not in MLP_NAMES:
        import kerasnets

        size = kerasnets.get_entry(FLAGS.student).input_shape[0]
    sources = []
    for k, path in enumerate(FLAGS.teacher_weights):
        name = names[k] if len(names) > 1 else names[0]
        if path == IMAGENET:
            sources.append(transfer.choose_weights(name, IMAGENET, input_size=size))
        else:
            sources.append(("file", path))
    return sources


def train_teacher_head(run: Run, teacher) -> dict:
    """Train the new head of a `pretrained_teacher` on the teacher's training set, backbone
    frozen (transfer schedule 2.A; its features computed once when nothing is augmented)."""
    import keras

    from kerasnets import transfer

    loss = keras.losses.CategoricalCrossentropy if run.mixing else \
        keras.losses.SparseCategoricalCrossentropy
    cache = (FLAGS.recipe or "none") == "none" and not run.mixing and not FLAGS.randaugment
    result = transfer.fine_tune(
        teacher, run.teacher_train, None if run.mixing else run.eval,
        epochs=FLAGS.train_teacher_epochs, lr=run.settings["lr"],
        make_optimizer=lambda lr, epochs: run.optimizer(epochs, True),
        loss=loss(from_logits=True), metrics=[] if run.mixing else ["accuracy"],
        freeze_upto=transfer.BACKBONE_OUT, cache_features=cache, strategy=run.strategy,
        callbacks=lambda phase: run.schedule_callbacks, verbose=FLAGS.verbose, seed=run.seed)
    run.schedule_callbacks = []
    return result.history


def teachers_for(run: Run, model_dir: str, names: list[str], sources=None):
    """Load or train the teachers (`sources`: `teacher_sources(names)`); returns (teacher model
    in logits, per-teacher test errors, their histories)."""
    import keras

    from kerasnets import distillation as D
    from pipelines import strategy as S

    sources = sources or teacher_sources(names)
    models, errs, histories = [], [], []
    for k, (kind, path) in enumerate(sources):
        name = names[k] if len(names) > 1 else names[0]
        keras.utils.set_random_seed(1000 * run.seed + k)
        with run.strategy.scope():
            if kind == IMAGENET:
                teacher = D.pretrained_teacher(name, run.num_classes, input_shape=run.input_shape,
                                               input_preprocessing=run.preprocessing,
                                               weights=path, model_name=f"teacher{k}")
            else:
                teacher = build(name, input_shape=run.input_shape, classes=run.num_classes,
                                model_name=f"teacher{k}", weights=path)
            if kind == "train":
                loss = keras.losses.CategoricalCrossentropy if run.mixing else \
                    keras.losses.SparseCategoricalCrossentropy
                teacher.compile(optimizer=run.optimizer(FLAGS.train_teacher_epochs, True),
                                loss=loss(from_logits=True),
                                metrics=[] if run.mixing else ["accuracy"])
        if kind in ("train", IMAGENET):
            histories.append(train_teacher_head(run, teacher) if kind == IMAGENET else
                             run.fit(teacher, run.teacher_train, FLAGS.train_teacher_epochs,
                                     validate=not run.mixing))
            if S.is_chief():
                save_model(teacher, os.path.join(model_dir, f"seed{run.seed}",
                                                    f"teacher{k}.weights.h5"))
        errs.append(errors(teacher, run.eval))
        models.append(teacher)
    with run.strategy.scope():
        teacher = D.ensemble_teacher(models, mode=FLAGS.ensemble, temperature=FLAGS.temperature)
    return teacher, errs, histories


def student_runs(run: Run, teacher, model_dir: str, hints) -> dict:
    """Student alone and distilled (and without a class), from the same initial weights."""
    import keras

    from kerasnets import distillation as D
    from kerasnets.weights import sha256sum

    keras.utils.set_random_seed(run.seed)
    with run.strategy.scope():
        init = build(FLAGS.student, input_shape=run.input_shape, classes=run.num_classes,
                     model_name="student").get_weights()

    def fresh():
        with run.strategy.scope():
            student = build(FLAGS.student, input_shape=run.input_shape, classes=run.num_classes,
                            model_name="student")
        student.set_weights(init)
        return student

    result = {}
    logits = None
    if FLAGS.cache_teacher and not run.augmented:
        parts = [FLAGS.dataset, FLAGS.train_split, str(run.input_shape), run.preprocessing,
                 FLAGS.recipe or "none", FLAGS.ensemble, str(FLAGS.temperature)]
        files = [os.path.join(model_dir, f"seed{run.seed}", f"teacher{k}.weights.h5")
                 if path in (None, IMAGENET) else path
                 for k, path in enumerate(FLAGS.teacher_weights or [None] * FLAGS.num_teachers)]
        parts += [sha256sum(p) if os.path.exists(p) else f"unsaved-{time.time()}" for p in files]
        path = os.path.join(model_dir, f"teacher_logits_seed{run.seed}.npz")
        logits = D.compute_teacher_logits(teacher, run.examples, path=path, key="|".join(parts))

    if FLAGS.compare:
        alone = fresh()
        with run.strategy.scope():
            alone.compile(optimizer=run.optimizer(FLAGS.epochs, run.augmented),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
        result["alone_history"] = run.fit(alone, run.transfer(), FLAGS.epochs)
        result["alone_errors"] = errors(alone, run.eval)

    student = fresh()
    hint_history = {}
    if hints:
        with run.strategy.scope():
            stage1 = D.hint_distiller(teacher, student, hints)
            stage1.compile(optimizer=run.optimizer(FLAGS.hint_epochs, run.augmented))
        # Hints need the teacher's inner layers: the live teacher, on the same batches.
        hint_history = run.fit(stage1, run.transfer(), FLAGS.hint_epochs)
    with run.strategy.scope():
        kd = D.distiller(teacher, student, temperature=FLAGS.temperature, alpha=FLAGS.alpha)
        kd.compile(optimizer=run.optimizer(FLAGS.epochs, run.augmented), metrics=["accuracy"])
    result["distilled_history"] = run.fit(kd, run.transfer(logits), FLAGS.epochs)
    result["hint_history"] = hint_history
    result["distilled_errors"] = errors(student, run.eval)
    result["student"] = student

    if FLAGS.omit_class is not None:
        k = FLAGS.omit_class
        if not 0 <= k < run.num_classes:
            raise app.UsageError(f"--omit_class={k} is not a class of {run.info.name} "
                                 f"(0..{run.num_classes - 1}).")
        blind = fresh()
        with run.strategy.scope():
            kd = D.distiller(teacher, blind, temperature=FLAGS.temperature, alpha=FLAGS.alpha)
            kd.compile(optimizer=run.optimizer(FLAGS.epochs, run.augmented))
        run.fit(kd, run.transfer(logits, exclude=(k,)), FLAGS.epochs)
        test_logits, test_labels = predict(blind, run.eval)
        train_logits, train_labels = predict(blind, run.examples.batch(256))
        shift = D.best_bias_shift(train_logits, train_labels, k)
        D.shift_class_bias(blind, k, shift)
        after, _ = predict(blind, run.eval)
        is_k = test_labels == k
        result["omit"] = {
            "class": k, "class_name": run.info.class_names[k], "test_examples": int(is_k.sum()),
            "class_accuracy_before": float((test_logits.argmax(-1)[is_k] == k).mean()),
            "bias_shift": shift,
            "class_accuracy_after": float((after.argmax(-1)[is_k] == k).mean()),
            "errors_before": int((test_logits.argmax(-1) != test_labels).sum()),
            "errors_after": int((after.argmax(-1) != test_labels).sum())}
    return result


# ----------------------------------------------------------------------------- main

def comparison_rows(per_seed, *, teacher_label, teacher_params, student_params, hints):
    """The comparison table (rows, columns) from the per-seed results."""
    n_test = per_seed[0]["test_examples"]
    rows = []
    for label, key, n_params in (
            (f"teacher: {teacher_label}", "teacher_errors", teacher_params),
            (f"student alone: {FLAGS.student}", "alone_errors", student_params),
            (f"student distilled: {FLAGS.student} (T={FLAGS.temperature:g}, "
             f"alpha={FLAGS.alpha:g}" + (f", hints {','.join(FLAGS.hint_layers)}" if hints
                                         else "") + ")", "distilled_errors", student_params)):
        values = [r[key] for r in per_seed if r[key] is not None]
        if not values:
            continue
        m, s = mean_std(values)
        rows.append({"model": label, "params": n_params, "test_errors": f"{m:.1f} ± {s:.1f}",
                     "test_error_pct": f"{100 * m / n_test:.2f} ± {100 * s / n_test:.2f}",
                     "per_seed": " ".join(str(v) for v in values)})
    if per_seed[0]["omit"]:
        omit = [r["omit"] for r in per_seed]
        name = omit[0]["class_name"]
        for label, when in ((f"distilled, transfer set without class {name}", "before"),
                            ("same, its bias raised (shift chosen on train: "
                             + ", ".join(f"{o['bias_shift']:g}" for o in omit) + ")", "after")):
            errs = [o[f"errors_{when}"] for o in omit]
            accuracy = [100 * o[f"class_accuracy_{when}"] for o in omit]
            m, s = mean_std(errs)
            am, sd = mean_std(accuracy)
            rows.append({"model": label, "params": student_params,
                         "test_errors": f"{m:.1f} ± {s:.1f}",
                         "test_error_pct": f"{100 * m / n_test:.2f} ± {100 * s / n_test:.2f}",
                         "per_seed": " ".join(map(str, errs)),
                         f"class_{name}_accuracy_pct": f"{am:.1f} ± {sd:.1f} ("
                         + " ".join(f"{a:.1f}" for a in accuracy) + ")"})
    columns = ["model", "params", "test_errors", "test_error_pct", "per_seed"]
    if per_seed[0]["omit"]:
        columns.append(f"class_{per_seed[0]['omit']['class_name']}_accuracy_pct")
    return rows, columns


def _parse_hints():
    hints = []
    for spec in FLAGS.hint_layers:
        teacher_layer, sep, student_layer = spec.partition(":")
        if not sep or not teacher_layer or not student_layer:
            raise app.UsageError(f"--hint_layers wants teacher_layer:student_layer, got {spec!r}.")
        hints.append((teacher_layer, student_layer))
    return hints


def _check_flags():
    if not FLAGS.teacher or not FLAGS.student:
        raise app.UsageError("Give --teacher and --student (registry names or "
                             f"{', '.join(MLP_NAMES)}).")
    names = [_check_name(n, "teacher") for n in FLAGS.teacher]
    _check_name(FLAGS.student, "student")
    if len(names) > 1 and len(names) != len(FLAGS.teacher_weights or [None] * FLAGS.num_teachers):
        raise app.UsageError(f"{len(names)} --teacher names for "
                             f"{len(FLAGS.teacher_weights)} --teacher_weights files.")
    if not FLAGS.teacher_weights and FLAGS.train_teacher_epochs <= 0:
        raise app.UsageError("No --teacher_weights: give --train_teacher_epochs to train the "
                             "teacher first.")
    if FLAGS.teacher_weights:
        student_mode = preprocessing_of(FLAGS.student)
        for k, path in enumerate(FLAGS.teacher_weights):
            name = names[k] if len(names) > 1 else names[0]
            if path == IMAGENET:
                if name in MLP_NAMES:
                    raise app.UsageError(f"--teacher_weights imagenet: {name} has no ImageNet "
                                         "weights; give a registry teacher "
                                         "(kerasnets.list_models(pretrained=True)).")
                if FLAGS.train_teacher_epochs <= 0:
                    raise app.UsageError("--teacher_weights imagenet trains a new head on the "
                                         "frozen ImageNet backbone: give --train_teacher_epochs "
                                         "N (N >= 1).")
                continue   # its own normalisation: a Renormalize layer in front
            if not os.path.exists(path):
                raise app.UsageError(f"--teacher_weights {path!r} does not exist.")
            if preprocessing_of(name) != student_mode:
                raise app.UsageError(
                    f"Teacher {name} expects {preprocessing_of(name)!r} inputs but the pipeline "
                    f"normalises for the student {FLAGS.student} ({student_mode!r}); pick a "
                    "student with the same preprocessing or train the teacher here.")
    if FLAGS.hint_layers and max(len(FLAGS.teacher_weights), FLAGS.num_teachers) > 1:
        raise app.UsageError("--hint_layers needs one teacher (FitNets' hints come from one "
                             "network's inner layer), not an ensemble.")
    if not 0 <= FLAGS.alpha <= 1:
        raise app.UsageError(f"--alpha must be in [0, 1], got {FLAGS.alpha}.")
    if FLAGS.temperature <= 0:
        raise app.UsageError(f"--temperature must be positive, got {FLAGS.temperature}.")
    if FLAGS.label_smoothing:
        raise app.UsageError("--label_smoothing is not used with distillation: the soft targets "
                             "take its place.")
    if FLAGS.num_seeds < 1 or FLAGS.epochs < 1:
        raise app.UsageError("--num_seeds and --epochs must be >= 1.")
    return names


def _teacher_how(sources) -> str:
    """How the teachers came to be, for the table's header."""
    kinds = {kind for kind, _ in sources}
    trained = f"{FLAGS.train_teacher_epochs} epochs (recipe {FLAGS.recipe or 'none'})"
    parts = []
    if "train" in kinds:
        parts.append(f"trained {trained}")
    if IMAGENET in kinds:
        parts.append(f"its ImageNet backbone frozen and a new head trained {trained}")
    if "file" in kinds:
        parts.append("loaded from --teacher_weights")
    return "; ".join(parts)


def main(argv):
    del argv
    if FLAGS.benchmark:
        import keras

        keras.utils.set_random_seed(FLAGS.seed)
        return benchmark(FLAGS.output or "docs/results/distillation_step.csv")
    names = _check_flags()
    sources = teacher_sources(names)    # ImageNet files checked before anything trains
    hints = _parse_hints()
    if hints and not FLAGS.hint_epochs:
        FLAGS.hint_epochs = max(1, FLAGS.epochs // 2)
    strategy, policy = shared.start_strategy(FLAGS)   # before TensorFlow touches a device
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasnets.plots import plot_history, plot_lines
    from kerasnets.utils import atomic_write_text
    from pipelines import strategy as S

    settings = shared.training_settings(FLAGS)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"distill_{FLAGS.student}")
    n_teachers = len(FLAGS.teacher_weights) or FLAGS.num_teachers
    teacher_label = "+".join(dict.fromkeys(names)) + (
        f" x{n_teachers} ({FLAGS.ensemble} ensemble)" if n_teachers > 1 else "")
    if any(kind == IMAGENET for kind, _ in sources):
        teacher_label += (f" (ImageNet backbone frozen, new head trained "
                          f"{FLAGS.train_teacher_epochs} epochs)")
    start = time.time()
    seeds = list(range(FLAGS.seed, FLAGS.seed + FLAGS.num_seeds))
    per_seed, first = [], None
    progress = keras.utils.Progbar(len(seeds), unit_name="seed")
    for i, seed in enumerate(seeds):
        run = Run(strategy, settings, seed)
        teacher, teacher_errs, teacher_histories = teachers_for(run, model_dir, names,
                                                                sources)
        result = student_runs(run, teacher, model_dir, hints)
        n_test = int(sum(int(tf.shape(y)[0]) for _, y in run.eval))
        row = {"seed": seed, "test_examples": n_test,
               "teacher_errors": errors(teacher, run.eval), "teachers_errors": teacher_errs,
               "alone_errors": result.get("alone_errors"),
               "distilled_errors": result["distilled_errors"], "omit": result.get("omit")}
        per_seed.append(row)
        if first is None:
            first = dict(run=run, result=result, teacher_histories=teacher_histories,
                         teacher=teacher)
        progress.update(i + 1, values=[("distilled_errors", row["distilled_errors"])])
        print(f"  seed {seed}: test errors of {n_test}: teacher {row['teacher_errors']}, "
              f"student alone {row['alone_errors']}, distilled {row['distilled_errors']}"
              + (f"; without class {row['omit']['class_name']}: its accuracy "
                 f"{row['omit']['class_accuracy_before']:.3f} -> "
                 f"{row['omit']['class_accuracy_after']:.3f} after bias "
                 f"+{row['omit']['bias_shift']}" if row["omit"] else ""))
    if not S.is_chief():
        return

    run, result = first["run"], first["result"]
    n_test = per_seed[0]["test_examples"]
    params = lambda m: int(sum(np.prod(w.shape) for w in m.trainable_weights))
    student = result["student"]
    teacher_params = int(sum(np.prod(w.shape) for w in first["teacher"].weights
                             if not w.path.endswith(("moving_mean", "moving_variance"))))
    rows, columns = comparison_rows(per_seed, teacher_label=teacher_label,
                                    teacher_params=teacher_params,
                                    student_params=params(student), hints=hints)
    header = (f"Distillation on {run.info.name} ({run.num_train} train / {n_test} test images, "
              f"{'x'.join(map(str, run.input_shape))}): test errors, mean ± standard deviation "
              f"over seeds {', '.join(map(str, seeds))}. Student alone and distilled start from "
              f"the same weights and train {FLAGS.epochs} epochs (batch {FLAGS.batch_size}, "
              f"{settings['optimizer']} lr {settings['lr']:g}, {settings['schedule']}) on the "
              f"transfer set (recipe {FLAGS.transfer_recipe}); teacher "
              + _teacher_how(sources)
              + f". TensorFlow {tf.__version__}, Keras {keras.__version__}, "
                f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}, {policy}; "
                f"{time.time() - start:.0f} s in all.")
    write_table(rows, columns, header, os.path.join(model_dir, "comparison.csv"))
    if FLAGS.output:
        write_table(rows, columns, header, FLAGS.output)

    final = build(FLAGS.student, input_shape=run.input_shape, classes=run.num_classes,
                  activation="softmax", model_name=FLAGS.student)
    final.set_weights(student.get_weights())
    save_model(final, os.path.join(model_dir, "student.keras"))
    marks = {"KD starts": FLAGS.hint_epochs + 0.5} if hints else None
    history = {}
    for k, v in result.get("hint_history", {}).items():
        history.setdefault(k, []).extend(v)
    for k, v in result["distilled_history"].items():
        history.setdefault(k, [float("nan")] * (FLAGS.hint_epochs if hints else 0))
        history[k].extend(v)
    curves = plot_history(history, os.path.join(model_dir, "curves.png"),
                          title=f"{FLAGS.student} distilled from {teacher_label}", marks=marks)
    lines = {}
    for label, h in (("teacher", (first["teacher_histories"] or [{}])[0]),
                     ("student alone", result.get("alone_history", {})),
                     ("student distilled", result["distilled_history"])):
        if h.get("val_accuracy"):
            lines[label] = (range(1, len(h["val_accuracy"]) + 1), h["val_accuracy"])
    comparison_png = plot_lines(lines, os.path.join(model_dir, "comparison.png"),
                                xlabel="epoch", ylabel=f"{FLAGS.eval_split} accuracy",
                                title=f"seed {seeds[0]}") if lines else None
    payload = {
        "dataset": run.info.name, "input_shape": run.input_shape, "teacher": teacher_label,
        "student": FLAGS.student, "temperature": FLAGS.temperature, "alpha": FLAGS.alpha,
        "hints": FLAGS.hint_layers, "hint_epochs": FLAGS.hint_epochs, "epochs": FLAGS.epochs,
        "train_teacher_epochs": FLAGS.train_teacher_epochs, "batch_size": FLAGS.batch_size,
        "teacher_weights": [kind if kind != "file" else path for kind, path in sources],
        "transfer_recipe": FLAGS.transfer_recipe, "cached_teacher": FLAGS.cache_teacher
        and not run.augmented, "settings": settings, "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync, "precision": policy, "seeds": per_seed,
        "table": rows, "student_outputs": "probabilities (softmax restored)",
        "seconds": round(time.time() - start, 1), "curves": curves, "comparison": comparison_png,
        "history": {"distilled": result["distilled_history"],
                    "alone": result.get("alone_history"), "hints": result["hint_history"],
                    "teachers": first["teacher_histories"]}}
    atomic_write_text(os.path.join(model_dir, "metrics.json"),
                      json.dumps(payload, indent=2, default=str) + "\n")
    print("\n" + open(os.path.join(model_dir, "comparison.md")).read())
    print(f"Wrote {model_dir}/student.keras, metrics.json, curves.png, comparison.(csv|md|png)")


if __name__ == "__main__":
    shared.run(main)
