"""Transfer learning with registry backbones: a new head on any backbone, freezing by stage, the
warm-up-then-unfreeze schedule, and the copy-and-freeze networks of Yosinski et al.

- `build_classifier("resnet50", classes=5, weights=...)`: the backbone without its top, an
  Identity layer `backbone_out`, then `head_pool` (avg / max / flatten), `head_dropout` and a new
  `predictions` Dense layer. The graph stays flat, so `stage{s}_out` taps remain addressable.
- `freeze(model, upto)`: every layer that feeds `upto` (inclusive) gets `trainable=False`, the
  rest `trainable=True`. `upto` is `"backbone_out"` (the whole backbone), an int `n` (the stem and
  the first `n` stages: `stage{n}_out`) or any layer name. Frozen BatchNorm layers run in
  inference mode (Keras 3's `trainable=False` semantics), so their moving statistics stay put.
- `fine_tune(...)`: schedule 2.A (frozen feature extractor, head trained) or 2.B (warm-up with the
  backbone frozen, then unfreeze everything or from stage `s` on and continue with a much smaller
  learning rate, optionally discriminative: each lower stage's rate times `discriminative`, as
  in Howard & Ruder 2018, arXiv:1801.06146), driven by `kerasnets.training.fit`. With
  `cache_features=True` the frozen part's outputs are computed once and the warm-up trains only
  the layers after the freeze point on them (exact when the input pipeline has no augmentation).
- `copy_weights` / `transferred`: the first `n` stages of a trained network copied into a fresh
  one, frozen or fine-tuned, the rest re-initialised: BnB, BnB+, AnB and AnB+ of Yosinski,
  Clune, Bengio & Lipson, "How transferable are features in deep neural networks?" (NeurIPS
  2014, arXiv:1411.1792), and PnB / PnB+ copying from a pre-trained (ImageNet) network
  (`experiment_jobs`); `python -m tools.transfer` runs the whole experiment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import re
from typing import Any, Callable, Sequence

import keras
import numpy as np

BACKBONE_OUT = "backbone_out"
_STAGE_OUT = re.compile(r"stage(\d+)_out")


# ----------------------------------------------------------------------------- models

def build_classifier(backbone, classes: int, *, input_shape=None, weights=None,
                     pooling: str = "avg", dropout: float = 0.0,
                     classifier_activation: str | None = "softmax", name: str | None = None,
                     **options) -> keras.Model:
    """A classifier with a new head on `backbone` (a registry name, or a Keras model that
    outputs features, e.g. a builder's `include_top=False` model).

    `weights` (registry names only) goes to the builder without its top: None, a local file or
    "imagenet". `pooling` is "avg", "max" or "flatten"; `dropout` comes before the new
    `predictions` layer. Family `options` go to the builder.
    """
    if not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}.")
    if pooling not in ("avg", "max", "flatten"):
        raise ValueError(f"pooling must be 'avg', 'max' or 'flatten', got {pooling!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
    if isinstance(backbone, str):
        from kerasnets.registry import create_model

        base = create_model(backbone, include_top=False, weights=weights,
                            input_shape=input_shape, **options)
    elif isinstance(backbone, keras.Model):
        if weights is not None or options or input_shape is not None:
            raise ValueError("weights, input_shape and family options apply to a registry name; "
                             "pass them to the builder of a backbone model yourself.")
        base = backbone
    else:
        raise TypeError(f"backbone must be a registry name or a keras.Model, got "
                        f"{type(backbone).__name__}.")
    x = keras.layers.Identity(name=BACKBONE_OUT)(base.output)
    if len(x.shape) == 4:
        head = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D,
                "flatten": keras.layers.Flatten}[pooling]
        x = head(name="head_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    from kerasnets.applications._common import head_dtype

    outputs = keras.layers.Dense(int(classes), activation=classifier_activation,
                                 name="predictions", dtype=head_dtype())(x)
    return keras.Model(base.input, outputs, name=name or f"{base.name}_transfer")


def stage_taps(model) -> list[str]:
    """The model's `stage{s}_out` layer names, by stage."""
    taps = [(int(m.group(1)), layer.name) for layer in model.layers
            if (m := _STAGE_OUT.fullmatch(layer.name))]
    return [name for _, name in sorted(taps)]


def resolve_tap(model, upto) -> str | None:
    """The layer name that `upto` means: None or 0 -> None (nothing), an int n -> `stage{n}_out`,
    "backbone" -> `backbone_out`, else a layer name of the model (checked)."""
    if upto is None or (isinstance(upto, (int, np.integer)) and not isinstance(upto, bool)
                        and upto == 0):
        return None
    names = [layer.name for layer in model.layers]
    if isinstance(upto, (int, np.integer)) and not isinstance(upto, bool):
        taps = stage_taps(model)
        if not 0 <= upto <= len(taps):
            listed = ", ".join(taps) or "no stage{s}_out layers"
            raise ValueError(f"{model.name} has {len(taps)} stages ({listed}); cannot use the "
                             f"first {upto}.")
        return taps[upto - 1]
    if isinstance(upto, str) and upto.isdigit():
        return resolve_tap(model, int(upto))
    if upto == "backbone":
        upto = BACKBONE_OUT
    if upto not in names:
        close = difflib.get_close_matches(str(upto), names, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"{model.name} has no layer {upto!r}.{hint}")
    return upto


def layers_upto(model, upto) -> list[str]:
    """Names of the layers that feed `upto` (see `resolve_tap`), itself included, in order."""
    tap = resolve_tap(model, upto)
    if tap is None:
        return []
    sub = keras.Model(model.inputs, model.get_layer(tap).output)
    inside = {id(layer) for layer in sub.layers}
    return [layer.name for layer in model.layers if id(layer) in inside]


def freeze(model, upto=BACKBONE_OUT) -> list[str]:
    """Freeze the layers that feed `upto` (inclusive) and make every other layer trainable;
    returns the frozen names. Recompile the model afterwards (Keras collects the trainable
    variables when it compiles)."""
    frozen = set(layers_upto(model, upto))
    for layer in model.layers:
        layer.trainable = layer.name not in frozen
    return [layer.name for layer in model.layers if layer.name in frozen]


def unfreeze(model, from_stage: int = 1) -> list[str]:
    """Make stage `from_stage` and everything after it trainable, keeping the stem and earlier
    stages frozen (`from_stage=1`: the whole model); returns the still-frozen names."""
    if from_stage < 1:
        raise ValueError(f"from_stage counts from 1, got {from_stage}.")
    return freeze(model, from_stage - 1)


def stage_groups(model) -> list[tuple[str, list[str]]]:
    """`[("stage1", names), ..., ("top", names)]`: each stage's layers (the stem goes with stage
    1) and the layers after the last stage (the head)."""
    groups, seen = [], set()
    for tap in stage_taps(model):
        names = [n for n in layers_upto(model, tap) if n not in seen]
        seen.update(names)
        groups.append((tap[: -len("_out")], names))
    groups.append(("top", [layer.name for layer in model.layers if layer.name not in seen]))
    return groups


def discriminative_optimizer(model, make: Callable[[float], keras.optimizers.Optimizer],
                             factor: float) -> keras.optimizers.Optimizer:
    """Keras' `MultiOptimizer` with one optimizer per stage: the layers after the last stage
    get `make(1.0)`, stage `S` (the last) `make(factor)`, stage `S-1` `make(factor**2)`, ...
    (`make(scale)` returns an optimizer whose learning rate is the base rate times `scale`).
    `factor=1` returns `make(1.0)` alone."""
    if not 0 < factor <= 1:
        raise ValueError(f"the discriminative factor must be in (0, 1], got {factor}.")
    if factor == 1:
        return make(1.0)
    groups = stage_groups(model)
    if len(groups) == 1:
        raise ValueError(f"{model.name} has no stage{{s}}_out layers to give learning rates to.")
    mapping = {}
    for depth, (_, names) in enumerate(reversed(groups[:-1]), start=1):
        weighted = [n for n in names if model.get_layer(n).weights]
        if weighted:
            pattern = "(?:" + "|".join(re.escape(n) for n in weighted) + ")/.*"
            mapping[pattern] = make(factor ** depth)
    return keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(make(1.0), mapping))


def tail_model(model, upto) -> keras.Model:
    """The part of `model` after `upto`, taking `upto`'s output as its input; it shares the
    layers (and so the weights) with `model`."""
    tap = resolve_tap(model, upto)
    return keras.Model(model.get_layer(tap).output, model.output, name=f"{model.name}_after_{tap}")


def extract_features(model, data, upto, *, training: bool = False):
    """`(features, labels)` numpy arrays: the output of `upto` for every batch of `data` (a
    batched dataset of `(images, labels)`), in inference mode by default."""
    import tensorflow as tf

    tap = resolve_tap(model, upto)
    extractor = keras.Model(model.inputs, model.get_layer(tap).output)
    step = tf.function(lambda x: extractor(x, training=training), reduce_retracing=True)
    features, labels = [], []
    for x, y in data:
        features.append(np.asarray(step(x)))
        labels.append(np.asarray(y))
    if not features:
        raise ValueError("extract_features: the dataset is empty.")
    return np.concatenate(features), np.concatenate(labels)


def pooled_features(model, data, taps) -> tuple[list[np.ndarray], np.ndarray]:
    """`([features per tap], labels)`: each tap's inference-mode output on the batched
    `(images, labels)` dataset `data`, average-pooled over space, every tap from one forward
    pass per batch; labels as class indices."""
    import tensorflow as tf

    names = [resolve_tap(model, tap) for tap in taps]
    extractor = keras.Model(model.inputs, [model.get_layer(n).output for n in names])

    @tf.function(reduce_retracing=True)
    def pooled(x):        # every tap in one forward pass, pooled over space in-graph
        outputs = keras.tree.flatten(extractor(x, training=False))
        return [tf.cast(tf.reduce_mean(f, axis=list(range(1, len(f.shape) - 1)))
                        if len(f.shape) > 2 else f, "float32") for f in outputs]

    parts, labels = [[] for _ in names], []
    for x, y in data:
        for part, f in zip(parts, pooled(x)):
            part.append(np.asarray(f))
        y = np.asarray(y)
        labels.append(y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1))
    if not labels:
        raise ValueError("the dataset is empty.")
    return [np.concatenate(p) for p in parts], np.concatenate(labels)


def _probe_accuracy(x_train, y_train, x_eval, y_eval, max_iter: int = 3000) -> float:
    """A converged multinomial logistic regression on standardised features, scored on eval."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    classifier = LogisticRegression(max_iter=max_iter).fit(scaler.transform(x_train), y_train)
    return float(classifier.score(scaler.transform(x_eval), y_eval))


def linear_probe(model, train_data, eval_data, taps=None, *, max_iter: int = 3000,
                 verbose: int = 0) -> list[dict[str, Any]]:
    """How linearly separable `model`'s features are at each tap: for each layer in `taps`
    (default: every `stage{s}_out`, then `backbone_out` when present; all taps come from one
    forward pass per batch), its inference-mode output on `train_data` / `eval_data` (batched
    `(images, labels)`), average-pooled over space, standardised on the training set, and a
    converged multinomial logistic regression (scikit-learn) fitted on train and scored on
    eval. Returns `[{"tap", "dim", "accuracy"}]`.

    The answer to "from which layer do these features transfer?" (Yosinski et al.), without the
    optimiser settings of a trained head in the way. `verbose=1` shows a progress bar."""
    if taps is None:
        taps = stage_taps(model) + ([BACKBONE_OUT] if BACKBONE_OUT in
                                    [layer.name for layer in model.layers] else [])
    if not taps:
        raise ValueError(f"{model.name} has no stage{{s}}_out layers; pass taps=[layer names].")
    names = [resolve_tap(model, tap) for tap in taps]
    train_x, y_train = pooled_features(model, train_data, names)
    eval_x, y_eval = pooled_features(model, eval_data, names)
    rows = []
    progress = keras.utils.Progbar(len(names), unit_name="tap") if verbose else None
    for name, x_train, x_eval in zip(names, train_x, eval_x):
        rows.append({"tap": name, "dim": int(x_train.shape[1]),
                     "accuracy": _probe_accuracy(x_train, y_train, x_eval, y_eval, max_iter)})
        if progress:
            progress.add(1, [("accuracy", rows[-1]["accuracy"])])
    return rows


def usable_shots(shots: Sequence[int], counts: Sequence[int],
                 log: Callable[[str], None] | None = print) -> list[int]:
    """The k of `shots` that every class can give (`counts`: training images per class, index
    order); each other k is left out with a line through `log` saying why."""
    smallest = min(counts) if len(counts) else 0
    keep = [int(k) for k in shots if int(k) <= smallest]
    for k in shots:
        if int(k) > smallest and log:
            short = [c for c, n in enumerate(counts) if n < int(k)]
            log(f"few-shot k={int(k)} skipped: classes {short} have fewer than {int(k)} "
                f"training images (the smallest class has {smallest}).")
    return keep


def few_shot(model, train_data, eval_data, shots: Sequence[int] = (5, 20), *,
             tap: str = BACKBONE_OUT, seeds: int = 5, max_iter: int = 3000,
             log: Callable[[str], None] | None = print) -> list[dict[str, Any]]:
    """Few-shot transfer of frozen features: for each k in `shots`, `seeds` random draws of k
    training images per class, a logistic regression on the pooled `tap` features of those
    images only (`_probe_accuracy`), scored on all of `eval_data`. Returns
    `[{"shots": k, "accuracy": mean, "std": std, "seeds": n}]` for the k every class can give
    (`usable_shots`: the others are skipped with a line through `log`). `train_data` should be
    one pass over every training image (no dropped remainder): `pipelines.data.Data.train_once`."""
    (train_x,), y_train = pooled_features(model, train_data, [tap])
    classes = np.unique(y_train)
    shots = usable_shots(shots, [int(np.sum(y_train == c)) for c in classes], log)
    if not shots:
        return []
    (eval_x,), y_eval = pooled_features(model, eval_data, [tap])
    rows = []
    for k in shots:
        scores = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            pick = np.concatenate([rng.choice(np.flatnonzero(y_train == c), k, replace=False)
                                   for c in classes])
            scores.append(_probe_accuracy(train_x[pick], y_train[pick], eval_x, y_eval,
                                          max_iter))
        rows.append({"shots": int(k), "accuracy": float(np.mean(scores)),
                     "std": float(np.std(scores)), "seeds": int(seeds)})
    return rows


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall time have passed since training began (checked
    after every batch): "the same network trained from scratch for the same time"."""

    def __init__(self, seconds: float):
        super().__init__()
        if seconds <= 0:
            raise ValueError(f"TimeBudget needs seconds > 0, got {seconds}.")
        self.seconds = float(seconds)
        self.start = None
        self.stopped_at = None

    def on_train_begin(self, logs=None):
        import time

        self.start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        import time

        if time.time() - self.start >= self.seconds:
            self.model.stop_training = True
            self.stopped_at = batch


def choose_weights(name: str, choice: str = "auto", *, can_pretrain: bool = False,
                   input_size: int | None = None) -> tuple[str, str | None]:
    """The backbone weights for a transfer run: `(kind, weights)`, kind one of `imagenet`,
    `file`, `pretrain`, `none`; `weights` is what the builder takes (a local path, "imagenet",
    or None).

    `choice` is "auto", "imagenet", "pretrain", "none" or a local file. "auto" takes ImageNet
    weights where the variant has them and they are here or can be fetched (a package's file,
    a cached or downloadable keras.applications / torchvision / timm file), else "pretrain"
    when `can_pretrain` (source classes of the same dataset exist), else raises. ImageNet files
    are fetched here, before anything is built, so an offline machine fails within seconds."""
    import os

    from kerasnets import registry
    from kerasnets.weights import WeightsUnavailableError, imagenet_weights, pretrained

    entry = registry.get_entry(name)

    def imagenet():
        if entry.keras_equivalent:
            return "imagenet", imagenet_weights(entry.name, include_top=False,
                                                input_size=input_size)
        if pretrained.torch_weights(entry.name):
            pretrained.checkpoint_file(pretrained.preferred_weights(entry.name), entry.name)
            return "imagenet", "imagenet"
        raise ValueError(f"weights imagenet: {entry.name} has no published ImageNet weights "
                         f"(kerasnets.list_models(pretrained=True) lists those that do).")

    if choice == "auto":
        if pretrained.has_pretrained(entry.name):
            try:
                return imagenet()
            except WeightsUnavailableError as e:
                if not can_pretrain:
                    raise
                print(f"weights auto: {e}\nPre-training on the source classes instead.")
        if can_pretrain:
            return "pretrain", None
        raise ValueError(f"weights auto: {entry.name} has no ImageNet weights here and there "
                         f"are no source classes to pre-train on; pass a weights file, none, "
                         f"or source classes.")
    if choice == "imagenet":
        return imagenet()
    if choice == "pretrain":
        if not can_pretrain:
            raise ValueError("weights pretrain needs source classes (classes of the same "
                             "dataset to pre-train the backbone on).")
        return "pretrain", None
    if choice == "none":
        return "none", None
    if not os.path.exists(choice):
        raise FileNotFoundError(f"weights {choice!r}: no such file (expected auto, imagenet, "
                                f"pretrain, none or a local .weights.h5 / .keras / .h5 / .pth / "
                                f".safetensors file).")
    return "file", choice


def features_dataset(model, data, upto, *, shuffle: bool = False, seed: int = 0,
                     batch_size: int | None = None):
    """`data` with its images replaced by the (inference-mode) output of `upto`, computed once:
    a batched dataset to train `tail_model(model, upto)` on."""
    import tensorflow as tf

    x, y = extract_features(model, data, upto)
    if batch_size is None:
        batch_size = int(next(iter(data))[0].shape[0])
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def copy_weights(source, target, upto=BACKBONE_OUT) -> list[str]:
    """Copy the weights of the layers feeding `upto` in `target` from the same-named layers of
    `source`; returns the copied names. Shapes are checked before anything is assigned."""
    from kerasnets.weights import WeightsMismatchError

    pairs = []
    for name in layers_upto(target, upto):
        layer = target.get_layer(name)
        if not layer.weights:
            continue
        try:
            src = source.get_layer(name)
        except ValueError:
            raise WeightsMismatchError(f"copy_weights: {source.name} has no layer {name!r} "
                                       f"(needed for {target.name} up to {upto!r}).") from None
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(w.shape) for w in src.weights]
        if want != got:
            raise WeightsMismatchError(f"copy_weights: layer {name!r} has shapes {want} in "
                                       f"{target.name} but {got} in {source.name}.")
        pairs.append((layer, src))
    for layer, src in pairs:
        layer.set_weights(src.get_weights())
    return [layer.name for layer, _ in pairs]


def transferred(build: Callable[[], keras.Model], source, n: int, *,
                fine_tune: bool) -> keras.Model:
    """Yosinski et al.'s transfer network: a fresh `build()` whose stem and first `n` stages are
    copied from `source`; they are frozen (`XnY`) or trained with the rest (`XnY+`); the layers
    after stage `n` keep their new random initialisation."""
    model = build()
    copy_weights(source, model, n)
    freeze(model, None if fine_tune else n)
    return model


YOSINSKI_KINDS = ("BnB", "BnB+", "AnB", "AnB+")
PRETRAINED_KINDS = ("PnB", "PnB+")


def experiment_jobs(stages: Sequence[int], kinds: Sequence[str] = YOSINSKI_KINDS) -> list[str]:
    """The networks of the transfer experiment in training order: the base networks first
    (`baseB` always, the reference line; `baseA` when a kind copies from A; `baseP` when one
    copies from P; in the order A, B, P), then `"{kind} n={n}"` for every n in `stages` and
    kind in `kinds`.

    Kinds are Yosinski et al.'s `BnB`, `BnB+`, `AnB`, `AnB+` (X n B: the first n stages copied
    from baseX, frozen; `+`: fine-tuned) and `PnB`, `PnB+`, whose base network P is a
    *pre-trained* backbone (ImageNet weights or a file): its stages are copied as they are, so
    P plays the role of the paper's baseA trained on ImageNet (see `tools.transfer`)."""
    known = YOSINSKI_KINDS + PRETRAINED_KINDS
    bad = [k for k in kinds if k not in known]
    if bad or not kinds:
        raise ValueError(f"unknown transfer kinds {bad or list(kinds)}; expected some of "
                         f"{', '.join(known)}.")
    if not stages or any(int(n) < 1 for n in stages):
        raise ValueError(f"stages count from 1, got {list(stages)}.")
    kinds = [k for k in known if k in kinds]
    bases = [f"base{x}" for x in "ABP" if x == "B" or any(k[0] == x for k in kinds)]
    return bases + [f"{k} n={int(n)}" for n in stages for k in kinds]


# ----------------------------------------------------------------------------- batchnorm

def recalibrate_batchnorm(model, data, *, steps: int | None = None) -> int:
    """Re-estimate the moving mean and variance of every trainable BatchNormalization layer as
    the plain average of its batch statistics over `data` (like torch.optim.swa_utils.update_bn):
    after a short training run, Keras' exponential moving averages (momentum 0.99) still carry
    much of their initial 0 / 1, which inference mode and frozen features then use. Weights are
    not changed. Returns the number of batches used."""
    bns = [layer for layer in model.layers
           if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    if not bns:
        return 0
    saved = [(bn.momentum, [v.numpy() for v in (bn.moving_mean, bn.moving_variance)])
             for bn in bns]
    sums = [[np.zeros(bn.moving_mean.shape, "float64"), np.zeros(bn.moving_variance.shape,
                                                                 "float64")] for bn in bns]
    count = 0
    try:
        for bn in bns:
            bn.momentum = 0.0          # moving statistics := this batch's statistics
        for x, _ in data:
            if steps is not None and count >= steps:
                break
            model(x, training=True)
            for total, bn in zip(sums, bns):
                total[0] += bn.moving_mean.numpy()
                total[1] += bn.moving_variance.numpy()
            count += 1
    finally:
        for bn, (momentum, values) in zip(bns, saved):
            bn.momentum = momentum
            if count == 0:
                bn.moving_mean.assign(values[0])
                bn.moving_variance.assign(values[1])
    for total, bn in zip(sums, bns):
        if count:
            bn.moving_mean.assign((total[0] / count).astype("float32"))
            bn.moving_variance.assign((total[1] / count).astype("float32"))
    return count


# ----------------------------------------------------------------------------- schedules

@dataclasses.dataclass
class FineTuneResult:
    history: dict[str, list[float]]      # both phases, epoch by epoch
    unfrozen_at: int | None              # epoch (0-based count of finished epochs) or None
    frozen_warmup: list[str]             # layers frozen during the warm-up
    frozen_finetune: list[str]           # layers still frozen after unfreezing
    cached_features: bool


def _merge(histories: Sequence[dict]) -> dict[str, list[float]]:
    merged: dict[str, list[float]] = {}
    for h in histories:
        for k, v in h.items():
            merged.setdefault(k, []).extend(float(x) for x in v)
    return merged


def fine_tune(model, train_data, eval_data=None, *, epochs: int, lr: float,
              make_optimizer: Callable[[float, int], keras.optimizers.Optimizer],
              loss, metrics: Sequence[Any] = ("accuracy",), freeze_upto=BACKBONE_OUT,
              unfreeze_at_epoch: int | None = None, unfreeze_from_stage: int = 1,
              fine_tune_lr: float | None = None, discriminative: float = 1.0,
              cache_features: bool = False, strategy=None,
              callbacks: Callable[[str], list] | None = None, steps_per_epoch: int | None = None,
              verbose: int = 1, seed: int = 0, feature_data=None) -> FineTuneResult:
    """Train `model` (a `build_classifier` model, built under `strategy.scope()`) by schedule
    2.A or 2.B.

    Warm-up: the layers feeding `freeze_upto` are frozen (None: nothing is) and the rest trains
    at `lr` until `unfreeze_at_epoch` (None: to the end, schedule 2.A). Then stage
    `unfreeze_from_stage` and everything after it are unfrozen and training continues to
    `epochs` at `fine_tune_lr` (default `lr / 10`), each stage below the top scaled by
    `discriminative` (1 = one rate). `make_optimizer(learning_rate, phase_epochs)` builds each
    phase's optimiser; `callbacks(phase)` ("warmup" / "finetune") each phase's callbacks.
    `cache_features` trains the warm-up on the frozen part's outputs computed once (use it only
    when `train_data` has no random augmentation), from `feature_data` when given: one pass over
    every training image (`pipelines.data.Data.train_once`; `train_data` drops the remainder
    batch of each epoch, so a single pass of it would leave images out for good).
    """
    from kerasnets import training

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if unfreeze_at_epoch is not None and not 0 <= unfreeze_at_epoch <= epochs:
        raise ValueError(f"unfreeze_at_epoch must be in [0, epochs={epochs}], got "
                         f"{unfreeze_at_epoch}.")
    warmup_epochs = epochs if unfreeze_at_epoch is None else unfreeze_at_epoch
    fine_tune_lr = lr / 10 if fine_tune_lr is None else fine_tune_lr
    def scope():
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    callbacks = callbacks or (lambda phase: [])
    histories, frozen_warmup, frozen_after, cached = [], [], [], False

    if warmup_epochs:
        frozen_warmup = freeze(model, freeze_upto)
        tap = resolve_tap(model, freeze_upto)
        cached = bool(cache_features and tap)
        with scope():
            trained = tail_model(model, tap) if cached else model
            trained.compile(optimizer=make_optimizer(lr, warmup_epochs), loss=loss,
                            metrics=list(metrics))
        train = features_dataset(model, train_data if feature_data is None else feature_data,
                                 tap, shuffle=True, seed=seed,
                                 batch_size=int(next(iter(train_data))[0].shape[0])) \
            if cached else train_data
        val = features_dataset(model, eval_data, tap) if cached and eval_data is not None \
            else eval_data
        history = training.fit(trained, train, epochs=warmup_epochs, validation_data=val,
                               strategy=strategy, callbacks=callbacks("warmup"),
                               steps_per_epoch=steps_per_epoch, verbose=verbose)
        histories.append(history.history)
        if cached and warmup_epochs == epochs:
            with scope():  # the full model was not trained itself: compile it for evaluation
                model.compile(optimizer=make_optimizer(lr, warmup_epochs), loss=loss,
                              metrics=list(metrics))
    if warmup_epochs < epochs:
        frozen_after = unfreeze(model, unfreeze_from_stage)
        with scope():
            def make(scale):
                return make_optimizer(fine_tune_lr * scale, epochs - warmup_epochs)

            model.compile(optimizer=discriminative_optimizer(model, make, discriminative),
                          loss=loss, metrics=list(metrics))
        history = training.fit(model, train_data, epochs=epochs, initial_epoch=warmup_epochs,
                               validation_data=eval_data, strategy=strategy,
                               callbacks=callbacks("finetune"), steps_per_epoch=steps_per_epoch,
                               verbose=verbose)
        histories.append(history.history)
    return FineTuneResult(_merge(histories),
                          warmup_epochs if warmup_epochs < epochs else None,
                          frozen_warmup, frozen_after, cached)


from kerasnets import utils as _utils  # noqa: E402

save_model = _utils.save_model  # `.keras` / `.weights.h5`, written atomically
