"""The distillation experiment's results: the comparison table over seeds (`comparison_rows`,
mean ± standard deviation of test errors), the teachers' labels, the distilled student's
curves and the student rebuilt with its softmax for saving."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from kerasnets.experiments.distillation.setup import IMAGENET, Setup, build


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = np.asarray(values, "float64")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def params_without_bn_statistics(model) -> int:
    """Every weight but BatchNorm's moving statistics (a frozen teacher has no trainable ones)."""
    return int(sum(np.prod(w.shape) for w in model.weights
                   if not w.path.endswith(("moving_mean", "moving_variance"))))


def teacher_label(setup: Setup) -> str:
    """`mlp_1200 x2 (probabilities ensemble)`, with how an ImageNet teacher came to be."""
    n = len(setup.sources)
    label = "+".join(dict.fromkeys(setup.teachers)) + (
        f" x{n} ({setup.ensemble} ensemble)" if n > 1 else "")
    if any(kind == IMAGENET for kind, _ in setup.sources):
        label += (f" (ImageNet backbone frozen, new head trained "
                  f"{setup.train_teacher_epochs} epochs)")
    return label


def teacher_how(setup: Setup, recipe: str = "none") -> str:
    """How the teachers came to be, for the table's header."""
    kinds = {kind for kind, _ in setup.sources}
    trained = f"{setup.train_teacher_epochs} epochs (recipe {recipe})"
    parts = []
    if "train" in kinds:
        parts.append(f"trained {trained}")
    if IMAGENET in kinds:
        parts.append(f"its ImageNet backbone frozen and a new head trained {trained}")
    if "file" in kinds:
        parts.append("loaded from --teacher_weights")
    return "; ".join(parts)


def comparison_rows(per_seed: Sequence[dict], *, teacher_label: str, teacher_params: int,
                    student: str, student_params: int, temperature: float, alpha: float,
                    hint_layers: Sequence[str] = ()) -> tuple[list[dict], list[str]]:
    """The comparison table (rows, columns) from the per-seed rows of `run_seed`."""
    n_test = per_seed[0]["test_examples"]
    rows = []
    for label, key, n_params in (
            (f"teacher: {teacher_label}", "teacher_errors", teacher_params),
            (f"student alone: {student}", "alone_errors", student_params),
            (f"student distilled: {student} (T={temperature:g}, alpha={alpha:g}"
             + (f", hints {','.join(hint_layers)}" if hint_layers else "") + ")",
             "distilled_errors", student_params)):
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


def distilled_curves(result: dict, hint_epochs: int = 0) -> dict[str, list[float]]:
    """The distilled student's history over both stages: the hint stage's epochs, then KD's
    (its metrics padded with NaN over the hint epochs)."""
    history = {}
    for k, v in result.get("hint_history", {}).items():
        history.setdefault(k, []).extend(v)
    for k, v in result["distilled_history"].items():
        history.setdefault(k, [float("nan")] * hint_epochs)
        history[k].extend(v)
    return history


def with_softmax(student: keras.Model, name: str, *, input_shape, classes: int) -> keras.Model:
    """The trained logits `student` (registry model `name`) rebuilt with its softmax."""
    final = build(name, input_shape=input_shape, classes=classes, activation="softmax",
                  model_name=name)
    final.set_weights(student.get_weights())
    return final
