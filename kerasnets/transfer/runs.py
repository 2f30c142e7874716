"""The rules the transfer experiments (`kerasnets.experiments.transfer`, `tools.finetune`,
`tools.transfer`, `tools.distill`) share: which backbone weights a run takes and where they come
from (`choose_weights`, the download policy), the from-scratch baseline's time budget
(`TimeBudget`) and Yosinski et al.'s job names (`experiment_jobs`)."""

from __future__ import annotations

from typing import Sequence

import keras


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

    from kerasnets.zoo import registry
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
