"""Inception v3: "Rethinking the Inception Architecture for Computer Vision" (Szegedy et al., CVPR
2016, arXiv:1512.00567), Table 1 and Figures 5-7, as implemented by keras.applications.InceptionV3
(the released TF-slim network):

    Table 1 (paper)          input          the release (keras)                    here
    conv 3x3/2               299x299x3      same                                   stem
    conv 3x3/1               149x149x32     same
    conv padded 3x3/1        147x147x32     same
    pool 3x3/2               147x147x64     same
    conv 3x3/1               73x73x64       conv 1x1/1 to 80
    conv 3x3/2               71x71x80       conv 3x3/1 to 192
    conv 3x3/1               35x35x192      max-pool 3x3/2
    3 x Inception (Fig. 5)   35x35x288      mixed0-2                               stage 1
    5 x Inception (Fig. 6)   17x17x768      mixed3 (grid reduction), mixed4-7      stage 2
    2 x Inception (Fig. 7)   8x8x1280       mixed8 (grid reduction), mixed9-10     stage 3
    pool 8x8, linear, softmax               global average pool, predictions

Fig. 5 modules replace the 5x5 by two 3x3 (the release keeps one 5x5 branch next to them); Fig. 6
factorizes n x n into 1 x n and n x 1 (n = 7, with 128 / 160 / 160 / 192 inner channels); Fig. 7
splits the last 3x3s into parallel 1x3 and 3x1 halves; the grid reductions (Fig. 10) run stride-2
convolutions next to a stride-2 max-pool. Every convolution is unbiased and followed by
BatchNorm without scale (epsilon 1e-3) and a ReLU, as in keras.

`InceptionV3` holds keras.applications.InceptionV3's weights, in the same shapes and order, and
gives the same outputs once they are copied over (tested): 23,851,784 weights in all at 1000
classes, 23,817,352 of them trainable. Only the names differ (DESIGN conventions): `stem_{j}_*`,
`stage{s}_block{b}_{i}_{j}_*` (branch i, operation j; see `_inception`), the module's
concatenation `stage{s}_block{b}_concat` (keras' `mixed0` ... `mixed10`), `stage{s}_out`.

`aux_logits=True` adds the auxiliary classifier on top of the last 17x17 module (mixed7), as in
the paper (section 4 and Fig. 8: with BatchNorm in the side head) and TF-slim / torchvision: 5x5/3
average pool, 1x1 convolution to 128, 5x5 convolution to 768 (both with BatchNorm and ReLU), global
average pool, linear classifier with `classifier_activation` (layers `aux_*`, output
`aux_predictions`). The model then returns [main, aux], e.g. for `loss_weights=[1, 0.4]`. The
side head needs the 17x17 grid to be 17x17 or larger, i.e. inputs of 299x299 or more.
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import finish, gap_head, model_input, predictions
from kerasnets.applications._common import variant_builder
from kerasnets.applications._inception import Conv, Pool, Split, apply, inception_module
from kerasnets.registry import Paper

__all__ = ["InceptionV3"]

PAPER = Paper("Rethinking the Inception Architecture for Computer Vision", "1512.00567", 2016)
AUX_AFTER = (2, 5)  # (stage, block): mixed7, the last 17x17 module
AUX_MIN_SIZE = 299  # smallest input whose 17x17 grid is at least 17x17 (pooled 5/3 to >= 5x5)

STEM = (Conv(32, 3, 2, "valid"), Conv(32, 3, 1, "valid"), Conv(64, 3), Pool("max", 3, 2, "valid"),
        Conv(80, 1, 1, "valid"), Conv(192, 3, 1, "valid"), Pool("max", 3, 2, "valid"))
AVG = Pool("avg", 3, 1, "same")
MAX2 = Pool("max", 3, 2, "valid")


def _fig5(pool_proj):  # 35x35: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg -> 1x1
    return ((Conv(64, 1),), (Conv(48, 1), Conv(64, 5)), (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
            (AVG, Conv(pool_proj, 1)))


def _fig6(n):  # 17x17, 7x7 factorized with n inner channels
    return ((Conv(192, 1),), (Conv(n, 1), Conv(n, (1, 7)), Conv(192, (7, 1))),
            (Conv(n, 1), Conv(n, (7, 1)), Conv(n, (1, 7)), Conv(n, (7, 1)), Conv(192, (1, 7))),
            (AVG, Conv(192, 1)))


def _split(n):
    return Split(Conv(n, (1, 3)), Conv(n, (3, 1)))


REDUCE_35 = ((Conv(384, 3, 2, "valid"),), (Conv(64, 1), Conv(96, 3), Conv(96, 3, 2, "valid")),
             (MAX2,))
REDUCE_17 = ((Conv(192, 1), Conv(320, 3, 2, "valid")),
             (Conv(192, 1), Conv(192, (1, 7)), Conv(192, (7, 1)), Conv(192, 3, 2, "valid")),
             (MAX2,))
FIG7 = ((Conv(320, 1),), (Conv(384, 1), _split(384)), (Conv(448, 1), Conv(384, 3), _split(384)),
        (AVG, Conv(192, 1)))

# per stage, the branches of each module (keras' mixed0 ... mixed10)
MODULES = (
    (_fig5(32), _fig5(64), _fig5(64)),
    (REDUCE_35, _fig6(128), _fig6(160), _fig6(160), _fig6(192)),
    (REDUCE_17, FIG7, FIG7),
)


@dataclasses.dataclass(frozen=True)
class InceptionV3Spec:
    stem: tuple = STEM
    stages: tuple = MODULES


def conv_bn(x, filters, kernel, *, strides=1, padding="same", name):
    """keras.applications' `conv2d_bn`: unbiased convolution, BatchNorm without scale (default
    epsilon 1e-3), ReLU. Layers `{name}_conv`, `{name}_bn`, `{name}_relu`."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(scale=False, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def auxiliary_classifier(x, classes, classifier_activation, *, name="aux"):
    """Fig. 8's side head (TF-slim / torchvision layout): layers `{name}_pool`, `{name}_1_*`,
    `{name}_2_*`, `{name}_avg_pool`, `{name}_predictions`."""
    x = layers.AveragePooling2D(5, 3, name=f"{name}_pool")(x)
    x = conv_bn(x, 128, 1, name=f"{name}_1")
    x = conv_bn(x, 768, 5, padding="valid", name=f"{name}_2")
    x = layers.GlobalAveragePooling2D(name=f"{name}_avg_pool")(x)
    return predictions(x, classes, classifier_activation, name=f"{name}_predictions")


def _inception_v3(spec: InceptionV3Spec, *, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, default_shape, min_size,
                  aux_logits=False):
    if aux_logits and not include_top:
        raise ValueError(f"{name}: aux_logits=True adds a classifier; it needs include_top=True.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    for j, op in enumerate(spec.stem, start=1):
        x = apply(x, op, conv_bn, name=f"stem_{j}")
    aux = None
    for s, modules in enumerate(spec.stages, start=1):
        for b, branches in enumerate(modules, start=1):
            x = inception_module(x, branches, conv_bn, name=f"stage{s}_block{b}")
            if aux_logits and (s, b) == AUX_AFTER:
                if any(side is not None and side < 17 for side in x.shape[1:3]):
                    raise ValueError(f"{name}: aux_logits=True needs an input of "
                                     f"{AUX_MIN_SIZE}x{AUX_MIN_SIZE} or more (the auxiliary "
                                     f"classifier's 5x5/3 pool and 5x5 convolution); mixed7 is "
                                     f"{x.shape[1]}x{x.shape[2]}.")
                aux = auxiliary_classifier(x, classes, classifier_activation)
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, [x, aux] if aux_logits else x, name=name, weights=weights)


# name: (builder, spec, trainable params at 1000 classes, source)
VARIANTS = {
    "inception_v3": ("InceptionV3", InceptionV3Spec(), 23_817_352,
                     "keras.applications InceptionV3: 23,851,784 parameters in all, of which "
                     "34,432 are BatchNorm moving statistics"),
}

_builders = {
    variant: variant_builder(builder, variant, _inception_v3, spec, family="inception_v3",
                             paper=PAPER, params=params, source=source, input_shape=(299, 299, 3),
                             min_size=75, test_size=75, keras_equivalent="InceptionV3",
                             doc="Inception v3")
    for variant, (builder, spec, params, source) in VARIANTS.items()
}
InceptionV3 = _builders["inception_v3"]
