"""The transfer experiments built on `kerasnets.transfer`, as functions with plain arguments
(the tools only parse flags, prepare the data and print or write what these return).

- `yosinski(...)`: the experiment of Yosinski, Clune, Bengio & Lipson, "How transferable are
  features in deep neural networks?" (NeurIPS 2014, arXiv:1411.1792): base networks on tasks
  A and B (and P, a pre-trained backbone with a head trained on A), then for every n and kind
  (BnB, BnB+, AnB, AnB+, PnB, PnB+) a network whose first n stages are copied from a base
  network, frozen or fine-tuned, trained on B. Resumable: every finished network is recorded in
  a JSON state file (and every base network's weights beside it), so a killed run started again
  with the same configuration goes on with the next network (`python -m tools.transfer`).
- `finetune(...)`: a backbone transferred to a target task (optionally pre-trained on source
  classes first) by schedule 2.A / 2.B, with its baselines: few-shot logistic regressions on
  its features, the same head on frozen random features, the same network trained from scratch
  for the target run's wall time, and linear probes per stage; `summary_rows` is the table
  (`python -m tools.finetune`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from typing import Any, Callable, Sequence

import keras

from kerasnets import training, transfer
from kerasnets import weights as W
from kerasnets.utils import atomic_write_text, write_tables


@dataclasses.dataclass(frozen=True)
class Task:
    """One classification task: batched `(images, labels)` train and eval datasets, the number
    of classes, the loss and metrics that fit its labels, and the steps of one epoch when
    known (`pipelines.data.Data` has all of them); `train_once`, one pass over every training
    image (`Data.train_once`), is what features are computed on (default: `train`)."""

    train: Any
    eval: Any
    classes: int
    loss: Any = "sparse_categorical_crossentropy"
    metrics: Sequence[Any] = ("accuracy",)
    steps_per_epoch: int | None = None
    class_names: Sequence[str] = ()
    train_once: Any = None

    @property
    def features(self):
        return self.train if self.train_once is None else self.train_once


@dataclasses.dataclass
class YosinskiResult:
    runs: dict[str, dict]          # job -> {"accuracy", "loss", "seconds"}, base networks too
    jobs: list[str]                # transfer.experiment_jobs(stages, kinds)
    stages: list[int]
    kinds: list[str]               # the table's columns, in the table's order


def split_classes(num_classes: int, split_a: Sequence[int] | None = None,
                  split_b: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
    """Classes of tasks A and B: as given, else the first and the second half; they must not
    overlap."""
    half = num_classes // 2
    a = [int(c) for c in split_a] if split_a else list(range(half))
    b = [int(c) for c in split_b] if split_b else list(range(half, num_classes))
    if set(a) & set(b):
        raise ValueError(f"split A {a} and split B {b} overlap.")
    return a, b


def table_kinds(kinds: Sequence[str] | None = None, *, pretrained: bool = False) -> list[str]:
    """The kinds of the table in its order: `kinds` (default: Yosinski's four, plus PnB and PnB+
    with a pre-trained network). PnB / PnB+ without one raise."""
    kinds = list(kinds or transfer.YOSINSKI_KINDS
                 + (transfer.PRETRAINED_KINDS if pretrained else ()))
    if any(k in transfer.PRETRAINED_KINDS for k in kinds) and not pretrained:
        raise ValueError(f"kinds {','.join(kinds)}: PnB / PnB+ copy from a pre-trained "
                         f"network; give --weights imagenet or a weights file (`pretrained`).")
    transfer.experiment_jobs([1], kinds)   # unknown kinds raise
    return [k for k in transfer.YOSINSKI_KINDS + transfer.PRETRAINED_KINDS if k in kinds]


def stages_of(name: str, input_shape, stages: Sequence[int] | None = None) -> list[int]:
    """The values of n: `stages`, else 1..the number of `stage{s}_out` taps of `name`'s
    classifier at `input_shape`; a value out of that range raises."""
    probe = transfer.build_classifier(name, 2, input_shape=input_shape)
    taps = transfer.stage_taps(probe)
    del probe
    stages = [int(n) for n in stages] if stages else list(range(1, len(taps) + 1))
    if not taps or not all(1 <= n <= len(taps) for n in stages):
        raise ValueError(f"{name} has {len(taps)} stages; stages {stages} are out of range.")
    return stages


def load_state(path: str, config: dict) -> dict:
    """The state file's `{"config", "runs"}` when its config is `config` (compared as JSON), else
    a fresh one: runs of another configuration are not this one's."""
    state = json.load(open(path)) if os.path.exists(path) else {}
    if state.get("config") != json.loads(json.dumps(config, default=str)):
        state = {"config": config, "runs": {}}
    return state


def yosinski(name: str, tasks: dict[str, Task], *, input_shape, model_dir: str, settings: dict,
             epochs: int, stages: Sequence[int], kinds: Sequence[str] = transfer.YOSINSKI_KINDS,
             config: dict | None = None, pretrained: str | None = None, dropout: float = 0.0,
             cache_features: bool = False, strategy=None, steps_per_epoch: int | None = None,
             seed: int = 0, chief: bool = True, verbose: int = 1) -> YosinskiResult:
    """Train the networks of the transfer experiment that `model_dir/runs.json` does not hold
    yet, and return every network's accuracy on its task's eval data.

    `tasks` maps "A" and "B" to their `Task`. Every network is a `transfer.build_classifier` of
    `name` at `input_shape` (seeded with `seed`, under `strategy`), trained for `epochs` with
    `settings` (`training.resolve_settings`; `steps_per_epoch` caps an epoch) through
    `transfer.fine_tune`, frozen networks on cached features when `cache_features` (only
    without augmentation); its BatchNorm statistics are re-estimated over its training set
    before it is evaluated. `pretrained` ("imagenet" or a weights file) is the weights of base
    network P: that backbone frozen, a new head trained on A. Base networks are saved as
    `model_dir/base{X}.weights.h5`; `config` identifies the run in `runs.json` (another config
    starts afresh). Only the `chief` writes files. `verbose`: a progress bar per network."""
    jobs = transfer.experiment_jobs(stages, kinds)
    kinds = table_kinds(kinds, pretrained=pretrained is not None)
    os.makedirs(model_dir, exist_ok=True)
    state_path = os.path.join(model_dir, "runs.json")
    state = load_state(state_path, config if config is not None else {"model": name})
    optimizer_for = training.PhaseOptimizers(
        settings, steps_per_epoch or tasks["B"].steps_per_epoch or 100)

    def build(task, weights=None):
        keras.utils.set_random_seed(seed)
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            return transfer.build_classifier(name, tasks[task].classes, input_shape=input_shape,
                                             dropout=dropout, weights=weights)

    def train(model, task, freeze_upto):
        d = tasks[task]
        transfer.fine_tune(model, d.train, d.eval, epochs=epochs, lr=settings["lr"],
                           make_optimizer=optimizer_for, loss=d.loss, metrics=d.metrics,
                           freeze_upto=freeze_upto, cache_features=cache_features,
                           strategy=strategy, callbacks=lambda phase: optimizer_for.callbacks(),
                           steps_per_epoch=steps_per_epoch, verbose=0, seed=seed)
        transfer.recalibrate_batchnorm(model, d.train)
        return training.evaluate(model, d.eval, strategy=strategy, verbose=0)

    def record(key, logs, seconds):
        state["runs"][key] = {"accuracy": float(logs["accuracy"]), "loss": float(logs["loss"]),
                              "seconds": round(seconds, 1)}
        if chief:
            atomic_write_text(state_path, json.dumps(state, indent=2, default=str) + "\n")

    progress = keras.utils.Progbar(len(jobs), unit_name="network") if verbose else None
    bases = {}
    for i, key in enumerate(jobs):
        t = time.time()
        if key.startswith("base"):
            source = key[-1]           # A, B, or P: the pre-trained backbone, head on A
            task = "A" if source == "P" else source
            path = os.path.join(model_dir, f"{key}.weights.h5")
            done = key in state["runs"] and os.path.exists(path)
            model = build(task, pretrained if source == "P" and not done else None)
            if done:
                W.load_weights(model, path)
            else:
                logs = train(model, task, transfer.BACKBONE_OUT if source == "P" else None)
                if chief:
                    transfer.save_model(model, path)
                record(key, logs, time.time() - t)
            bases[source] = model
        elif key not in state["runs"]:
            kind, n = key.split(" n=")
            model = transfer.transferred(lambda: build("B"), bases[kind[0]], int(n),
                                         fine_tune=kind.endswith("+"))
            logs = train(model, "B", None if kind.endswith("+") else int(n))
            record(key, logs, time.time() - t)
            del model
        if progress is not None:
            progress.update(i + 1, [("accuracy", state["runs"][key]["accuracy"])])
    return YosinskiResult(state["runs"], jobs, [int(n) for n in stages], kinds)


@dataclasses.dataclass
class FinetuneResult:
    model: keras.Model                   # the transferred, trained network
    run: transfer.FineTuneResult         # its history, unfreezing epoch, cached features
    final: dict[str, float]              # its evaluation on the target's eval data
    source_accuracy: float | None        # the pre-trained network on the source's eval data
    few_shot: list[dict] | None          # transfer.few_shot rows (+ random, random_std)
    baseline: dict[str, float] | None    # the same head on frozen random features
    scratch: dict[str, Any] | None       # from scratch for the target run's time (+ steps)
    probe: list[dict] | None             # transfer.linear_probe rows (+ random)
    seconds: dict[str, float]
    skipped: list[str] = dataclasses.field(default_factory=list)  # add-ons left out, and why
    report: dict | None = None           # run_report.error_report of the target network


def finetune(name: str, data: Task, *, input_shape, settings: dict, epochs: int,
             model_dir: str, weights=None, source: Task | None = None,
             pretrain_epochs: int = 3, pretrain_lr: float | None = None,
             freeze_upto=transfer.BACKBONE_OUT, unfreeze_at_epoch: int | None = None,
             unfreeze_from_stage: int = 1, fine_tune_lr: float | None = None,
             discriminative: float = 1.0, pooling: str = "avg", dropout: float = 0.0,
             cache_features: bool = False, shots: Sequence[int] = (5, 20),
             few_shot_draws: int = 5, baseline: bool = True, scratch: bool = True,
             linear_probe: bool = False, strategy=None, steps_per_epoch: int | None = None,
             seed: int = 0, chief: bool = True,
             on_target: Callable[[FinetuneResult], None] | None = None) -> FinetuneResult:
    """Transfer `name` (`transfer.build_classifier` at `input_shape`, backbone `weights`) to
    the task `data` with `transfer.fine_tune` (`freeze_upto` ... `discriminative`; `settings`
    from `training.resolve_settings`), and measure it against its baselines.

    With `source`, the backbone is first trained `pretrain_epochs` on that task (at
    `pretrain_lr`, default settings' lr), its BatchNorm statistics re-estimated, saved as
    `model_dir/pretrain/final.weights.h5` (found there, it is loaded instead) and copied into
    the target network. Before training, `shots` images per class give few-shot logistic
    regressions on its features (`few_shot_draws` draws). `baseline`: the same head on frozen
    random features (seed + 1); `scratch`: the same network whole from random init (seed + 2)
    for the target run's wall time; `linear_probe`: logistic regressions on every stage of the
    transferred and a random backbone. Each run writes its Keras run directory under
    `model_dir/{pretrain,warmup,finetune,baseline}` (`training.run_callbacks`; a worker that
    is not the `chief` writes only its private backup). `steps_per_epoch` caps an epoch.

    The main result comes first: `on_target(result)` is called as soon as the target network
    is trained and evaluated (the tool writes its model, JSON and summary there), before any
    add-on comparison runs. Features (few-shot, probes, cached frozen features) are computed on
    `data.features`, every training image once. Few-shot rows use only the k that every class
    can give; an add-on that cannot run on this data is skipped with a line saying why
    (`skipped`), never taking the main result with it."""
    if unfreeze_at_epoch is not None and not freeze_upto:
        raise ValueError("--unfreeze_at_epoch needs --freeze (or --freeze_upto): nothing is "
                         "frozen to unfreeze.")
    keras.utils.set_random_seed(seed)
    steps = steps_per_epoch or data.steps_per_epoch or 100
    optimizer_for = training.PhaseOptimizers(settings, steps)
    scope = strategy.scope if strategy is not None else contextlib.nullcontext

    def callbacks_for(phase):  # the schedule's (plateau) first: the checkpoints see its change
        return optimizer_for.callbacks() + training.run_callbacks(os.path.join(model_dir, phase),
                                                                  chief=chief)

    def build(classes, path=None):
        with scope():
            return transfer.build_classifier(name, classes, input_shape=input_shape,
                                             weights=path, pooling=pooling, dropout=dropout)

    seconds, source_accuracy = {}, None
    # -- pre-training on the source classes
    source_model = None
    if source is not None:
        t = time.time()
        source_model = build(source.classes)
        done = os.path.join(model_dir, "pretrain", "final.weights.h5")
        if os.path.exists(done):
            print(f"pre-training already done: {done}")

            W.load_weights(source_model, done)
            with scope():  # for the evaluation below
                source_model.compile(loss=source.loss, metrics=source.metrics)
        else:
            print(f"pre-training {name} on classes {','.join(source.class_names)} for "
                  f"{pretrain_epochs} epochs")
            with scope():
                source_model.compile(optimizer=optimizer_for(
                    pretrain_lr or settings["lr"], pretrain_epochs,
                    source.steps_per_epoch or steps), loss=source.loss, metrics=source.metrics)
            training.fit(source_model, source.train, epochs=pretrain_epochs,
                         validation_data=source.eval, strategy=strategy,
                         callbacks=callbacks_for("pretrain"), steps_per_epoch=steps_per_epoch)
            # Short runs leave Keras' moving averages (momentum 0.99) far from the data's
            # statistics; frozen features run in inference mode and would use them.
            transfer.recalibrate_batchnorm(source_model, source.train)
            if chief:
                transfer.save_model(source_model, done)
        source_accuracy = training.evaluate(source_model, source.eval, strategy=strategy,
                                            verbose=0)["accuracy"]
        seconds["pretrain"] = round(time.time() - t, 1)
        print(f"source ({','.join(source.class_names)}) accuracy {source_accuracy:.4f}")

    # -- the target run
    t = time.time()
    model = build(data.classes, weights)
    if source_model is not None:
        transfer.copy_weights(source_model, model)
    skipped: list[str] = []

    def skip(line):
        print(line)
        skipped.append(line)

    features_before = None
    shots = [int(k) for k in shots]
    if shots:  # on the transferred features as they are, before any training changes them
        t_few = time.time()
        features_before = transfer.few_shot(model, data.features, data.eval, shots,
                                            seeds=few_shot_draws, log=skip)
        seconds["few_shot"] = round(time.time() - t_few, 1)
        t += time.time() - t_few
    common = dict(lr=settings["lr"], make_optimizer=optimizer_for, loss=data.loss,
                  metrics=data.metrics, strategy=strategy, seed=seed,
                  steps_per_epoch=steps_per_epoch, cache_features=cache_features,
                  feature_data=data.train_once)
    run = transfer.fine_tune(model, data.train, data.eval, epochs=epochs,
                             freeze_upto=freeze_upto, unfreeze_at_epoch=unfreeze_at_epoch,
                             unfreeze_from_stage=unfreeze_from_stage, fine_tune_lr=fine_tune_lr,
                             discriminative=discriminative, callbacks=callbacks_for, **common)
    final = training.evaluate(model, data.eval, strategy=strategy, verbose=0)
    seconds["target"] = round(time.time() - t, 1)
    few = features_before or None
    result = FinetuneResult(model, run, final, source_accuracy, few, None, None, None, seconds,
                            skipped)
    if on_target is not None:
        on_target(result)

    # -- the baseline: the same head on frozen random features
    random_model = None
    if baseline:
        t = time.time()
        keras.utils.set_random_seed(seed + 1)
        random_model = build(data.classes)
        transfer.fine_tune(random_model, data.train, data.eval, epochs=epochs,
                           freeze_upto=transfer.BACKBONE_OUT,
                           callbacks=lambda phase: callbacks_for("baseline"), **common)
        result.baseline = training.evaluate(random_model, data.eval, strategy=strategy,
                                            verbose=0)
        seconds["baseline"] = round(time.time() - t, 1)
        if few:
            few_random = transfer.few_shot(random_model, data.features, data.eval,
                                           [r["shots"] for r in few], seeds=few_shot_draws,
                                           log=None)
            result.few_shot = [dict(r, random=b["accuracy"], random_std=b["std"])
                               for r, b in zip(few, few_random)]

    # -- the same network from scratch, whole, for the target run's wall time
    if scratch and seconds["target"] <= 0:
        skip("from-scratch row skipped: the target run took no measurable time to match.")
    elif scratch:
        t = time.time()
        keras.utils.set_random_seed(seed + 2)
        scratch_model = build(data.classes)
        budget = transfer.TimeBudget(seconds["target"])
        scratch_epochs = max(epochs, 1000)  # the time budget ends it
        transfer.fine_tune(scratch_model, data.train, data.eval, epochs=scratch_epochs,
                           freeze_upto=None,
                           callbacks=lambda phase: optimizer_for.callbacks() + [budget],
                           **dict(common, cache_features=False))
        # as after pre-training: a short run leaves BN's moving averages behind the data
        transfer.recalibrate_batchnorm(scratch_model, data.features)
        from_scratch = training.evaluate(scratch_model, data.eval, strategy=strategy, verbose=0)
        from_scratch["steps"] = None if budget.stopped_at is None else int(budget.stopped_at)
        result.scratch = from_scratch
        seconds["scratch"] = round(time.time() - t, 1)
    if linear_probe:
        t = time.time()
        print("linear probes on every stage of the transferred and of a random backbone")
        if random_model is None:
            random_model = build(data.classes)
        result.probe = [dict(r, random=b["accuracy"]) for r, b in zip(
            transfer.linear_probe(model, data.features, data.eval, verbose=1),
            transfer.linear_probe(random_model, data.features, data.eval, verbose=1))]
        seconds["linear_probe"] = round(time.time() - t, 1)
    return result


def summary_rows(result: FinetuneResult, label: str, how: str, classes: int) -> list[dict]:
    """The summary table of `finetune`: the transferred network (`label`: its weights, `how`:
    its schedule), the random-features baseline, the scratch run, the few-shot rows (with
    their random baselines) and chance, as rows of "backbone weights", "schedule", "target
    accuracy"."""
    rows = [{"backbone weights": label, "schedule": how,
             "target accuracy": f"{result.final['accuracy']:.4f}"}]
    if result.baseline is not None:
        rows.append({"backbone weights": "random (baseline)",
                     "schedule": "frozen backbone, head trained",
                     "target accuracy": f"{result.baseline['accuracy']:.4f}"})
    if result.scratch is not None:
        rows.append({"backbone weights": "random, trained from scratch",
                     "schedule": f"whole network trained for {result.seconds['target']:.0f} s "
                                 f"(the target run's time)",
                     "target accuracy": f"{result.scratch['accuracy']:.4f}"})
    for r in result.few_shot or []:
        rows.append({"backbone weights": label,
                     "schedule": f"frozen, {r['shots']} images per class (logistic regression, "
                                 f"{r['seeds']} draws)",
                     "target accuracy": f"{r['accuracy']:.4f} ± {r['std']:.4f}"})
        if "random" in r:
            rows.append({"backbone weights": "random (baseline)",
                         "schedule": f"frozen, {r['shots']} images per class",
                         "target accuracy": f"{r['random']:.4f} ± {r['random_std']:.4f}"})
    rows.append({"backbone weights": "(chance)", "schedule": "",
                 "target accuracy": f"{1 / classes:.4f}"})
    return rows


def write_finetune(result: FinetuneResult, model_dir: str, *, config: dict, card, label: str,
                   how: str, title: str, output: str | None = None,
                   complete: bool = True) -> list[dict]:
    """`metrics.json`, `curves.png`, `summary.{md,csv}` (and `output`) and, with a linear
    probe, `probe.{md,csv}` of a `finetune` result; `config` is the run's settings, `card` the
    saved model's `model_card.ModelCard`. `complete=False`: the main result alone, written
    before the add-ons run (marked `"complete": false`). Returns the summary rows."""
    run, final, probe = result.run, result.final, result.probe
    classes = len(card.class_names)
    rows = summary_rows(result, label, how, classes)
    results = {} if result.source_accuracy is None else \
        {"source_accuracy": result.source_accuracy}
    if probe is not None:
        results["linear_probe"] = probe
    results.update(config)
    results.update({
        "complete": complete, "model_card": card.to_dict(),
        "target_classes": list(card.class_names), "image_size": card.image_size,
        "unfrozen_at_epoch": run.unfrozen_at, "cached_features": run.cached_features,
        "target": final, "target_accuracy": final["accuracy"],
        "baseline_random_frozen": result.baseline,
        "baseline_accuracy": result.baseline["accuracy"] if result.baseline else None,
        "scratch_same_time": result.scratch, "few_shot": result.few_shot,
        "skipped": result.skipped, "errors": result.report, "chance_accuracy": 1 / classes,
        "seconds": result.seconds})
    marks = {"backbone unfrozen": run.unfrozen_at + 0.5} if run.unfrozen_at else None
    training.write_results(model_dir, results, run.history, marks=marks,
                           title=title.lstrip("# ").replace("tools.finetune: ", ""))
    for path in filter(None, [os.path.join(model_dir, "summary.md"), output]):
        write_tables(path, rows, list(rows[0]), header=title)
    if probe:
        ours = "random backbone (seed)" if config.get("weights") == "none" else \
            "pre-trained backbone"
        probe_rows = [{"features": r["tap"], "dim": r["dim"], ours: f"{r['accuracy']:.4f}",
                       "random backbone": f"{r['random']:.4f}"} for r in probe]
        write_tables(os.path.join(model_dir, "probe.md"), probe_rows, list(probe_rows[0]),
                     header="# Linear probes (logistic regression on pooled features)")
    return rows


def closing_line(result: FinetuneResult, model_dir: str) -> str:
    """The run's last line: the target accuracy beside its baselines and chance."""
    classes = result.model.output_shape[-1]
    line = f"target accuracy {result.final['accuracy']:.4f}"
    if result.baseline is not None:
        line += f" vs frozen random features {result.baseline['accuracy']:.4f}"
    if result.scratch is not None:
        line += f" vs from scratch for the same time {result.scratch['accuracy']:.4f}"
    return (f"{line} (chance {1 / classes:.3f}); {result.seconds['total']:.0f} s; results in "
            f"{os.path.join(model_dir, 'metrics.json')}")
