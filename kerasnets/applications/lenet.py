"""LeNet-5: "Gradient-Based Learning Applied to Document Recognition" (LeCun, Bottou, Bengio &
Haffner, Proceedings of the IEEE 86(11), 1998; not on arXiv), section II.B, Figure 2, Table I.

Figure 2 reproduced (input 32x32x1, 10 classes), with each layer's trainable parameters:

    C1      convolution 6@5x5                          -> 6@28x28   156
    S2      subsampling 2x2, sum x coefficient + bias  -> 6@14x14   12
    C3      convolution 16@5x5, Table I connections    -> 16@10x10  1,516
    S4      subsampling 2x2                            -> 16@5x5    32
    C5      convolution 120@5x5                        -> 120@1x1   48,120
    F6      fully connected 84                                      10,164
    OUTPUT  10 Euclidean RBF units, 84 x 10, no bias                840
                                                       total        60,840

(the paper: "about 60,000 trainable parameters"). Every layer up to F6 computes its weighted sum
plus bias and then the squashing function, here `activation="tanh"` (default) or the paper's
`"scaled_tanh"`, f(a) = 1.7159 tanh(2a/3) (Appendix A). The subsampling units add their 2x2
inputs, multiply by a trainable coefficient and add a trainable bias, one pair per map
(`TrainableSubsampling`). Table I connects C3's maps 0-5 to 3 contiguous S2 maps, 6-11 to 4
contiguous, 12-14 to 4 non-contiguous and 15 to all six (`ConnectionTableConv2D`; `c3_table="full"`
connects every map, 2,416 parameters).

The output units compute y_i = sum_j (x_j - w_ij)^2 (`EuclideanRBF`). The layer returns -y_i, so
that larger is better: these negative squared distances are the logits, and the default softmax
with cross-entropy minimises y_correct + log sum_i exp(-y_i), the paper's discriminative criterion
(section II.C) without its constant "rubbish class" term. `classifier_activation=None` returns -y.
`output="dense"` replaces the RBF units by an ordinary Dense layer (850 parameters).

Layer names: `stem_*` (C1, S2), stage 1 = C3 + S4, stage 2 = C5; F6 is `fc1`. The three custom
layers and `scaled_tanh` live in `kerasnets.layers.lenet`.
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import check_static, head_dtype, predictions, register_family
from kerasnets.layers.lenet import (  # noqa: F401  (re-exported: their home is kerasnets.layers)
    ConnectionTableConv2D, EuclideanRBF, TrainableSubsampling, scaled_tanh)
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Gradient-Based Learning Applied to Document Recognition", None, 1998)


def _c3_table() -> tuple[tuple[int, ...], ...]:
    """Table I: the S2 maps that each C3 map sees."""
    contiguous = [tuple((j + i) % 6 for i in range(n)) for n in (3, 4) for j in range(6)]
    return tuple(tuple(sorted(row)) for row in contiguous) + (
        (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5))


C3_TABLE = _c3_table()


@dataclasses.dataclass(frozen=True)
class LeNetSpec:
    c1: int = 6
    c3: int = 16
    c5: int = 120
    f6: int = 84
    kernel: int = 5
    subsampling: int = 2


# One record per variant; register_family (end of file) makes the builders and __all__.
_TABLE = [
    Variant("lenet5", "LeNet5", LeNetSpec(), 60_840,
            "exact count of Figure 2 with Table I's C3, trainable subsampling and RBF outputs "
            "(156 + 12 + 1,516 + 32 + 48,120 + 10,164 + 840); paper: 'about 60,000'"),
]


def _squash(x, activation, prefix):
    """The squashing function after a layer: `{prefix}_tanh` (or `_scaled_tanh`, `_act`)."""
    act_name = activation if isinstance(activation, str) else "act"
    act = scaled_tanh if activation == "scaled_tanh" else activation
    return layers.Activation(act, name=f"{prefix}_{act_name}")(x)


def _lenet(x, spec: LeNetSpec, *, name, include_top, activation="tanh", c3_table="lecun"):
    """The body: C1, S2, C3, S4, C5 (F6 and the output units are the head's, which flattens)."""
    if c3_table not in ("lecun", "full"):
        raise ValueError(f"{name}: c3_table must be 'lecun' (Table I) or 'full', got {c3_table!r}.")
    if spec.c3 != len(C3_TABLE) and c3_table == "lecun":
        raise ValueError(f"{name}: Table I defines 16 C3 maps, the spec has {spec.c3}.")
    if include_top:
        check_static(x.shape[1:], name)

    def subsample(x, prefix):
        x = TrainableSubsampling(spec.subsampling, name=f"{prefix}_pool")(x)
        return _squash(x, activation, f"{prefix}_pool")

    x = layers.Conv2D(spec.c1, spec.kernel, name="stem_conv")(x)  # C1
    x = subsample(_squash(x, activation, "stem"), "stem")  # S2
    if c3_table == "lecun":  # C3
        x = ConnectionTableConv2D(C3_TABLE, spec.kernel, name="stage1_block1_conv")(x)
    else:
        x = layers.Conv2D(spec.c3, spec.kernel, name="stage1_block1_conv")(x)
    x = subsample(_squash(x, activation, "stage1_block1"), "stage1")  # S4
    x = layers.Identity(name="stage1_out")(x)
    x = layers.Conv2D(spec.c5, spec.kernel, name="stage2_block1_conv")(x)  # C5
    return layers.Identity(name="stage2_out")(_squash(x, activation, "stage2_block1"))


def _head(x, spec: LeNetSpec, *, classes, classifier_activation, activation="tanh",
          output="rbf"):
    """F6 (`fc1`) and the output: Euclidean RBF units, or a Dense layer (`output="dense"`)."""
    if output not in ("rbf", "dense"):
        raise ValueError(f"LeNet-5: output must be 'rbf' or 'dense', got {output!r}.")
    x = layers.Flatten(name="flatten")(x)
    x = _squash(layers.Dense(spec.f6, name="fc1")(x), activation, "fc1")  # F6
    if output == "dense":
        return predictions(x, classes, classifier_activation)
    return EuclideanRBF(classes, activation=classifier_activation, name="predictions",
                        dtype=head_dtype())(x)


VARIANTS = register_family(
    globals(), _lenet, _TABLE, family="lenet", paper=PAPER, head=_head, input_shape=(32, 32, 1),
    min_size=32, classes=10, doc=lambda v: "LeNet-5")
