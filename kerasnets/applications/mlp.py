"""Hinton et al.'s MNIST nets: "Distilling the Knowledge in a Neural Network" (Hinton, Vinyals &
Dean, 2015, arXiv:1503.02531), section 3.

Section 3 trains "a single large neural net with two hidden layers of 1200 rectified linear
hidden units on all 60,000 training cases", "strongly regularized using dropout and
weight-constraints" with the input "jittered by up to two pixels in any direction" (the teacher,
`mlp_1200`), and "a smaller net with two hidden layers of 800 rectified linear hidden units and
no regularization" (the student, `mlp_800`). Reproduced at MNIST's 28x28x1 input, 10 classes:

    mlp_1200   784-1200-1200-10   784x1200 + 1200 + 1200x1200 + 1200 + 1200x10 + 10 = 2,395,210
    mlp_800    784-800-800-10     784x800 + 800 + 800x800 + 800 + 800x10 + 10      = 1,276,810

Inputs are float pixels in [0, 255] (preprocessing "raw": the model rescales inside). `jitter`
translates the input by up to that many pixels (bilinear, zero fill) while training
(RandomTranslation); the teacher's 0.5 is about Hinton's 2 pixels at 28 px scaled to the built-in
digits' 8 px. `max_norm` bounds each hidden unit's incoming weight vector. The features are
vectors: `include_top=False` returns the last hidden layer and `pooling` has nothing to pool.

Layer names: `stem_rescale`, `stem_jitter`, `stem_flatten`, `stem_dropout`,
`stage{s}_block1_dense`, `stage{s}_block1_dropout`, `stage{s}_out`, `predictions`.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras
from keras import layers

from kerasnets.applications._common import (Head, build_model, check_static, predictions,
                                            register_family)
from kerasnets.zoo.registry import Paper, Variant, create_model

PAPER = Paper("Distilling the Knowledge in a Neural Network", "1503.02531", 2015)


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    hidden: tuple[int, ...]
    dropout: float = 0.0          # after each hidden layer
    input_dropout: float = 0.0    # on the flattened input
    jitter: float = 0.0           # pixels of random translation while training
    max_norm: float | None = None


# One record per variant: trainable params at 28x28x1 and 10 classes.
_TABLE = [
    Variant("mlp_1200", "MLP1200", MLPSpec((1200, 1200), dropout=0.5, input_dropout=0.2,
                                           jitter=0.5, max_norm=3.5), 2_395_210,
            "Hinton, Vinyals & Dean 2015, section 3: 784-1200-1200-10 (784 x 1200 + 1200 + "
            "1200 x 1200 + 1200 + 1200 x 10 + 10)"),
    Variant("mlp_800", "MLP800", MLPSpec((800, 800)), 1_276_810,
            "Hinton, Vinyals & Dean 2015, section 3: 784-800-800-10 (784 x 800 + 800 + "
            "800 x 800 + 800 + 800 x 10 + 10)"),
]
DEFAULT_SHAPE = (28, 28, 1)
MIN_SIZE = 1


def _mlp(x, spec: MLPSpec, *, name):
    """The body: rescale, [jitter], flatten, [dropout], the hidden layers (it flattens, so it
    needs a fixed input size)."""
    check_static(x.shape[1:], name)
    x = layers.Rescaling(1.0 / 255, name="stem_rescale")(x)
    if spec.jitter:
        h, w = x.shape[1], x.shape[2]
        x = layers.RandomTranslation(spec.jitter / h, spec.jitter / w, fill_mode="constant",
                                     interpolation="bilinear", name="stem_jitter")(x)
    x = layers.Flatten(name="stem_flatten")(x)
    if spec.input_dropout:
        x = layers.Dropout(spec.input_dropout, name="stem_dropout")(x)
    constraint = keras.constraints.MaxNorm(spec.max_norm) if spec.max_norm else None
    for s, units in enumerate(spec.hidden, start=1):
        x = layers.Dense(units, activation="relu", kernel_constraint=constraint,
                         name=f"stage{s}_block1_dense")(x)
        if spec.dropout:
            x = layers.Dropout(spec.dropout, name=f"stage{s}_block1_dropout")(x)
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x


class DenseHead(Head):
    """The classifier on the last hidden layer; without it the features are that vector, which
    `pooling` (checked) has nothing to pool."""

    def __call__(self, x, spec=None, *, classes, classifier_activation):
        return predictions(x, classes, classifier_activation)

    @staticmethod
    def features(x, pooling):
        if pooling not in (None, "", "avg", "max"):
            raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")
        return x


HEAD = DenseHead()

VARIANTS = register_family(
    globals(), _mlp, _TABLE, family="mlp", paper=PAPER, head=HEAD, preprocessing="raw",
    input_shape=DEFAULT_SHAPE, min_size=MIN_SIZE, classes=10, test_size=8,
    doc=lambda v: f"Hinton et al.'s MNIST net {v.name}")


# --------------------------------------------------------------- kerasnets.distillation's names

def hinton_mlp(hidden: Sequence[int], *, input_shape=DEFAULT_SHAPE, classes: int = 10,
               dropout: float = 0.0, input_dropout: float = 0.0, jitter: float = 0.0,
               max_norm: float | None = None, classifier_activation=None,
               name: str = "mlp") -> keras.Model:
    """A ReLU MLP of `hidden` units on the flattened image, in logits by default: the family's
    builder with free hidden sizes and regularisation (`MLP1200` / `MLP800` are its two rows)."""
    spec = MLPSpec(tuple(hidden), dropout=dropout, input_dropout=input_dropout, jitter=jitter,
                   max_norm=max_norm)
    return build_model(spec, _mlp, HEAD, input_shape=tuple(input_shape), classes=classes,
                       classifier_activation=classifier_activation, name=name,
                       default_shape=DEFAULT_SHAPE, min_size=MIN_SIZE)


# name -> the builder keywords of its spec; the teacher is regularised, the student is not.
MLPS = {name: dataclasses.asdict(v.spec) for name, v in VARIANTS.items()}


def build_mlp(name: str, *, input_shape, classes: int, classifier_activation=None,
              model_name: str | None = None) -> keras.Model:
    """`kerasnets.create_model(name, ...)` for `mlp_1200` / `mlp_800`, in logits by default."""
    if name not in MLPS:
        raise ValueError(f"Unknown MLP {name!r}; choose one of {', '.join(MLPS)}.")
    return create_model(name, input_shape=tuple(input_shape), classes=classes,
                        classifier_activation=classifier_activation, name=model_name or name)
