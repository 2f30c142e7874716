"""What a trained model is, saved inside its `.keras` file: the model card.

    card = ModelCard(class_names=("cat", "dog"), preprocessing="lite", image_size=224,
                     crop_fraction=None, backbone="efficientnet_lite0", weights="imagenet",
                     dataset="photos/")
    save(model, "run/final.keras", card)       # atomically: the model, then the card beside it
    model, card = load("run/final.keras")       # card is None for a .keras file without one

A `.keras` file is a zip archive (`config.json`, `metadata.json`, `model.weights.h5`); the card
is one more member, `kerasnets.json`, which Keras' loader ignores. So the class names, in index
order, the input normalisation (`kerasnets.zoo.preprocessing` mode) and evaluation geometry (input
size, channels, centre-crop fraction: None is the square resize of recipe `none`), the backbone,
its weights source and the dataset travel with the one file a user copies: no sidecar to lose or
to leave out of date, and no layer in the graph that exports would have to carry. The card is
JSON read with a size limit (`MAX_CARD_BYTES`): reading it runs no code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import Sequence

import kerasnets
from kerasnets.zoo.preprocessing import check_mode
from kerasnets.utils import atomic_file

CARD_MEMBER = "kerasnets.json"
MAX_CARD_BYTES = 1 << 20
VERSION = 1


@dataclasses.dataclass(frozen=True)
class ModelCard:
    class_names: tuple[str, ...]
    preprocessing: str                 # a kerasnets.zoo.preprocessing mode
    image_size: int
    crop_fraction: float | None = None  # eval geometry: centre crop fraction, None: square resize
    channels: int = 3
    backbone: str | None = None        # registry name of the network (or the student's)
    weights: str | None = None         # where its weights came from (imagenet, a file, ...)
    dataset: str | None = None         # the dataset it was trained on, as given to the tools

    def __post_init__(self):
        names = tuple(str(n) for n in self.class_names)
        if not names:
            raise ValueError("a model card needs the class names.")
        object.__setattr__(self, "class_names", names)
        check_mode(self.preprocessing)
        if not isinstance(self.image_size, int) or self.image_size < 1:
            raise ValueError(f"model card image_size must be a positive int, got "
                             f"{self.image_size!r}.")
        if self.crop_fraction is not None and not 0 < self.crop_fraction <= 1:
            raise ValueError(f"model card crop_fraction must be in (0, 1] or None, got "
                             f"{self.crop_fraction!r}.")
        if self.channels not in (1, 3):
            raise ValueError(f"model card channels must be 1 or 3, got {self.channels!r}.")

    def to_dict(self) -> dict:
        return {"version": VERSION, **dataclasses.asdict(self),
                "class_names": list(self.class_names)}

    @classmethod
    def from_dict(cls, values: dict) -> "ModelCard":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields - {"version"})
        if unknown:
            raise ValueError(f"unknown model card fields {unknown}.")
        return cls(**{k: v for k, v in values.items() if k in fields})

    def check_classes(self, class_names: Sequence[str], what: str = "the dataset") -> None:
        """Raise naming both lists when `class_names` are not this model's, in its order."""
        if tuple(str(n) for n in class_names) != self.class_names:
            raise ValueError(f"The model's classes {list(self.class_names)} are not those of "
                             f"{what} {[str(n) for n in class_names]} (names and order must "
                             f"match).")


def save(model, path, card: ModelCard) -> str:
    """`model.save` to the `.keras` file `path` with `card` inside, atomically."""
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"a model card goes in a .keras file, not {path!r}.")
    if model.output_shape[-1] != len(card.class_names):
        raise ValueError(f"{model.name} has {model.output_shape[-1]} outputs but the card names "
                         f"{len(card.class_names)} classes.")
    with atomic_file(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(CARD_MEMBER, json.dumps(card.to_dict(), indent=1))
    return path


def read(path) -> ModelCard | None:
    """The card of the `.keras` file `path`, or None when it has none (a missing file, a file
    that is not a .keras archive, or a malformed card raises naming it)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No saved model at {path!r}.")
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo(CARD_MEMBER)
            except KeyError:
                return None
            if info.file_size > MAX_CARD_BYTES:
                raise ValueError(f"{path}: its model card is {info.file_size} bytes (at most "
                                 f"{MAX_CARD_BYTES}).")
            text = archive.read(info)[:MAX_CARD_BYTES]
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not a .keras file (not a zip archive).") from None
    try:
        return ModelCard.from_dict(json.loads(text))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: malformed model card ({e}).") from None


def load(path, *, compile: bool = False):
    """`(model, card)` of a `.keras` file (`kerasnets.load_model`; card None without one)."""
    card = read(path)
    return kerasnets.load_model(path, compile=compile), card
