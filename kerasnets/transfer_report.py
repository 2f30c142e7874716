"""What the transfer tools write: Yosinski's accuracy table, its header and Figure-2-style plot
(`tools.transfer`), and the fine-tuning run's descriptions and its two writes, the main result
first and then with the add-ons (`tools.finetune`). The experiments themselves are
`kerasnets.experiments.transfer`.

A fine-tuning run directory receives one subdirectory per phase (`pretrain/`, `warmup/`,
`finetune/`, `baseline/`), each with Keras' resume state, per-epoch checkpoints, `best.keras`,
`history.csv` and TensorBoard logs. As soon as the target network is evaluated, before the
comparisons run: `final.keras` with its model card (`kerasnets.deployment.model_card`, read by
tools.predict / evaluate / distill / export), `metrics.json`, `curves.png` (the epoch where the
backbone was unfrozen marked), `summary.{md,csv}` (also written to the tool's `--output`) and,
for an image folder, `per_class.{md,csv}`, `confusion.png` and `misclassified.png`
(`kerasnets.measurement.run_report`); both are rewritten with the comparisons at the end. A linear probe
adds `probe.{md,csv}`.
"""

from __future__ import annotations

import os
import time
from typing import Sequence

import kerasnets
from kerasnets import transfer
from kerasnets.deployment import model_card
from kerasnets.zoo import registry
from kerasnets.measurement import run_report
from kerasnets.experiments import transfer as X
from kerasnets.plots import plot_lines
from kerasnets.results import Table
from kerasnets.utils import tables


def yosinski_table(runs: dict, stages: Sequence[int], kinds: Sequence[str],
                   header: str = "") -> Table:
    """The accuracies on B: one row per n, one column per kind, baseB in the CSV; the notes
    (baseB, baseA, baseP as the kinds need them) after the Markdown table."""
    rows = [{"n": n, **{k: f"{runs[f'{k} n={n}']['accuracy']:.4f}" for k in kinds},
             "baseB": f"{runs['baseB']['accuracy']:.4f}"} for n in stages]
    notes = [f"baseB (trained on B): **{runs['baseB']['accuracy']:.4f}**"]
    if any(k.startswith("A") for k in kinds):
        notes.append(f"baseA on A: {runs['baseA']['accuracy']:.4f}")
    if any(k.startswith("P") for k in kinds):
        notes.append(f"baseP (pre-trained backbone frozen, head trained on A) on A: "
                     f"{runs['baseP']['accuracy']:.4f}")
    return Table(rows, ["n", *kinds, "baseB"], header,
                 footer="\n" + "; ".join(notes) + ". Accuracy on B's test split.\n",
                 markdown_columns=["n", *kinds])


def yosinski_report(result: X.YosinskiResult, *, name: str, dataset: str, split_a, split_b,
                    stages: Sequence[int], kinds: Sequence[str], image_size: int, epochs: int,
                    settings: dict, batch_size: int, seed: int, weights_kind: str = "none",
                    weights_path: str | None = None, plot_path: str) -> tuple[Table, str]:
    """(the table with its header, the plot written to `plot_path`) of a `yosinski` run."""
    runs, jobs = result.runs, result.jobs
    series = {k: (stages, [runs[f"{k} n={n}"]["accuracy"] for n in stages]) for k in kinds}
    series["baseB"] = (stages, [runs["baseB"]["accuracy"]] * len(stages))
    png = plot_lines(series, plot_path, xlabel="stages copied from the base network (n)",
                     ylabel="accuracy on B (test)",
                     title=f"{name} on {dataset}: A={split_a}, B={split_b}")
    imagenet = weights_kind == "imagenet"
    header = (f"# Yosinski et al. transfer experiment: {name} on {dataset}\n\n"
              f"A = classes {split_a}, B = classes {split_b}; {image_size}px; "
              f"{epochs} epochs per network ({settings['optimizer']}, lr {settings['lr']:g}, "
              f"{settings['schedule']}), batch {batch_size}, seed {seed}; "
              f"n = stages copied (stem included). XnY: copied from baseX and frozen; XnY+: "
              f"fine-tuned."
              + (f" P: {name} with {'ImageNet' if imagenet else 'file'} "
                 f"weights{'' if imagenet else ' ' + weights_path}, backbone "
                 f"frozen, new head trained on A (its stages are the pre-trained ones)."
                 if weights_kind != "none" else "")
              + f" Training the {len(jobs)} networks took "
              f"{round(sum(runs[k]['seconds'] for k in jobs if k in runs))} s.")
    return yosinski_table(runs, stages, kinds, header), png


DIGITS_SOURCE, DIGITS_TARGET = ("0", "1", "2", "3", "4"), ("5", "6", "7", "8", "9")


DIGITS_SETS = ("digits", "mnist5k")  # the built-in digit sets: classes 0-4 -> 5-9 at 32 px


def finetune_classes(dataset: str, classes=None, source_classes=None) -> tuple[tuple, tuple]:
    """(target, source) classes of a fine-tuning run: the user's, else on the built-in digits
    sets (`DIGITS_SETS`) 5-9 and 0-4 (none elsewhere); overlapping lists raise ValueError."""
    digits = dataset in DIGITS_SETS
    target = tuple(classes or (DIGITS_TARGET if digits else ()))
    source = tuple(source_classes or (DIGITS_SOURCE if digits else ()))
    if set(source) & set(target):
        raise ValueError(f"--source_classes {','.join(source)} and --classes "
                         f"{','.join(target)} overlap.")
    return target, source


def default_image_size(dataset: str, entry) -> int:
    """32 px on the built-in digit sets, else the backbone's own input size."""
    return 32 if dataset in DIGITS_SETS else entry.input_shape[0]


def finetune_schedule(freeze: bool, freeze_upto: str | None = None,
                      unfreeze_at_epoch: int | None = None) -> tuple[str | None, str]:
    """(where the backbone is frozen up to, schedule "2.A" | "2.B" | "full")."""
    freeze_upto = freeze_upto or (transfer.BACKBONE_OUT if freeze else None)
    if not freeze_upto:
        return None, "full"
    return freeze_upto, "2.B" if unfreeze_at_epoch is not None else "2.A"


def weights_label(name: str, kind: str, weights_path: str | None, source: Sequence[str]) -> str:
    """How the summary names the backbone's weights of `transfer.choose_weights`' `kind`."""
    entry = registry.get_entry(name)
    if kind == "imagenet":
        return ("ImageNet (keras.applications)" if entry.keras_equivalent else
                "ImageNet (" + ", ".join(kerasnets.model_info(name, flops=False)["pretrained"])
                + ")")
    return {"file": weights_path, "pretrain": f"pre-trained on classes {','.join(source)}",
            "none": "random"}[kind]


def schedule_text(schedule: str, *, unfreeze_at_epoch=None, unfreeze_from_stage=1,
                  fine_tune_lr=None, lr: float = 0.0, discriminative: float = 1.0) -> str:
    """How the summary describes schedule 2.A, 2.B or full training."""
    if schedule == "2.B":
        return (f"frozen {unfreeze_at_epoch} epochs, then unfrozen from stage "
                f"{unfreeze_from_stage} at lr {fine_tune_lr or lr / 10:g}"
                + (f", discriminative x{discriminative:g}" if discriminative != 1 else ""))
    return {"2.A": "frozen backbone, head trained", "full": "whole network trained"}[schedule]


def finetune_writer(model_dir: str, *, name: str, data, dataset: str, kind: str,
                    weights_path: str | None, source: Sequence[str], schedule: str,
                    freeze_upto: str | None, settings: dict, epochs: int, batch_size: int,
                    crop_fraction: float | None, strategy_name: str, precision: str,
                    unfreeze_at_epoch: int | None = None, unfreeze_from_stage: int = 1,
                    fine_tune_lr: float | None = None, discriminative: float = 1.0,
                    output: str | None = None, folder: bool = False,
                    start: float | None = None) -> "FinetuneWriter":
    """The writer of a `tools.finetune` run on `data` (`pipelines.data.prepare`'s): the model
    card of `final.keras` (class names, normalisation, eval geometry, backbone, weights, the
    dataset as given), the run's config, and the summary's label, schedule text and title;
    `folder`: an image folder, whose run also gets the error report."""
    entry = registry.get_entry(name)
    card = model_card.ModelCard(
        class_names=data.info.class_names, preprocessing=entry.preprocessing,
        image_size=data.image_size, crop_fraction=crop_fraction, channels=data.channels,
        backbone=entry.name, weights=weights_path if kind == "file" else kind, dataset=dataset)
    config = {"backbone": entry.name, "dataset": data.info.name, "source_classes": list(source),
              "weights": kind, "weights_path": weights_path, "schedule": schedule,
              "freeze_upto": freeze_upto, "unfreeze_from_stage": unfreeze_from_stage,
              "epochs": epochs, "batch_size": batch_size, "settings": settings,
              "strategy": strategy_name, "precision": precision}
    how = schedule_text(schedule, unfreeze_at_epoch=unfreeze_at_epoch,
                        unfreeze_from_stage=unfreeze_from_stage, fine_tune_lr=fine_tune_lr,
                        lr=settings["lr"], discriminative=discriminative)
    return FinetuneWriter(
        model_dir, card=card, config=config, output=output, start=start, how=how,
        label=weights_label(entry.name, kind, weights_path, source),
        title=(f"# tools.finetune: {entry.name} on {data.info.name} classes "
               f"{','.join(data.info.class_names)}"),
        eval_data=data.eval if folder else None, dataset_name=data.info.name)


class FinetuneWriter:
    """`write(result, done)`: the main result as soon as the target network is evaluated
    (done=False: `final.keras` with its card, for an image folder the error report, metrics
    and summary marked incomplete), then everything with the add-ons (done=True), each with
    its printed lines. `eval_data` is the evaluation set the error report reads."""

    def __init__(self, model_dir: str, *, card: model_card.ModelCard, config: dict, label: str,
                 how: str, title: str, output: str | None = None, eval_data=None,
                 dataset_name: str = "", start: float | None = None):
        self.model_dir, self.card, self.config = model_dir, card, config
        self.label, self.how, self.title, self.output = label, how, title, output
        self.eval_data, self.dataset_name = eval_data, dataset_name
        self.start = time.time() if start is None else start

    def __call__(self, result: X.FinetuneResult, done: bool) -> None:
        card = self.card
        if not done:
            model_card.save(result.model, os.path.join(self.model_dir, "final.keras"), card)
            if self.eval_data is not None:
                result.report = run_report.error_report(
                    result.model, self.eval_data, card.class_names, self.model_dir,
                    preprocessing=card.preprocessing,
                    title=f"{card.backbone} on {self.dataset_name}")
        result.seconds["total"] = round(time.time() - self.start, 1)
        rows = X.write_finetune(result, self.model_dir, config=self.config, card=card,
                                label=self.label, how=self.how, title=self.title,
                                output=self.output, complete=done)
        if done:
            print(tables(rows, list(rows[0]))[0], end="")
            if result.report:
                print("per class: " + ", ".join(f"{r['class']} {r['accuracy']}"
                                                 for r in result.report["per_class"]))
            print(X.closing_line(result, self.model_dir))
        else:
            print(f"target accuracy {result.final['accuracy']:.4f}: wrote "
                  f"{os.path.join(self.model_dir, 'final.keras')} (classes "
                  f"{', '.join(card.class_names)}), metrics.json, summary.md"
                  + (", per_class.md, confusion.png, misclassified.png"
                     if self.eval_data is not None else ""))
