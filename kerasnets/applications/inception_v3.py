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

`InceptionV3TV` (`inception_v3_tv`) is torchvision's `inception_v3` (Google's TF-slim weights,
ported), which differs from keras' in two places: its BatchNorm has a scale (gamma; epsilon 1e-3
as in keras), and the 3x3/1 average pools of the module's pool branches pad explicitly and count
the padding (PyTorch's `count_include_pad`: border pixels are averaged over 9), where keras
averages over the pixels inside. It also applies torchvision's `transform_input` (a `Rescaling`
layer `stem_transform_input`: ImageNet mean/std input back to the [-1, 1] the weights expect),
on by default as in `torchvision.models.inception_v3(weights=...)`. 23,834,568 parameters
without the side head (torchvision's 27,161,264 counts it); torchvision's checkpoint loads
through the mapping registered below (tested: equal logits), its side head (`AuxLogits`) left
out.
"""

from __future__ import annotations

import dataclasses
import functools

from keras import layers

from kerasnets.applications._common import GapHead, predictions, register_family
from kerasnets.applications._inception import (TV_BUILD_OPTIONS, Conv, Pool, Split, conv_bn,
                                               inception_stages, keras_299_checkpoint,
                                               torch_stem)
from kerasnets.applications._torch_names import rename_rules
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import Transform, torchvision_checkpoint

PAPER = Paper("Rethinking the Inception Architecture for Computer Vision", "1512.00567", 2016)
AUX_AFTER = (2, 5)  # (stage, block): mixed7, the last 17x17 module
AUX_MIN_SIZE = 299  # smallest input whose 17x17 grid is at least 17x17 (pooled 5/3 to >= 5x5)

STEM = (Conv(32, 3, 2, "valid"), Conv(32, 3, 1, "valid"), Conv(64, 3), Pool("max", 3, 2, "valid"),
        Conv(80, 1, 1, "valid"), Conv(192, 3, 1, "valid"), Pool("max", 3, 2, "valid"))
AVG = Pool("avg", 3, 1, "same")  # keras: averages over the pixels inside
TV_AVG = Pool("avg", 3, 1, 1)  # torchvision: zero padding counted (count_include_pad)
MAX2 = Pool("max", 3, 2, "valid")
STYLES = ("keras", "torchvision")


def _fig5(pool_proj, avg=AVG):  # 35x35: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg -> 1x1
    return ((Conv(64, 1),), (Conv(48, 1), Conv(64, 5)), (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
            (avg, Conv(pool_proj, 1)))


def _fig6(n, avg=AVG):  # 17x17, 7x7 factorized with n inner channels
    return ((Conv(192, 1),), (Conv(n, 1), Conv(n, (1, 7)), Conv(192, (7, 1))),
            (Conv(n, 1), Conv(n, (7, 1)), Conv(n, (1, 7)), Conv(n, (7, 1)), Conv(192, (1, 7))),
            (avg, Conv(192, 1)))


def _split(n):
    return Split(Conv(n, (1, 3)), Conv(n, (3, 1)))


REDUCE_35 = ((Conv(384, 3, 2, "valid"),), (Conv(64, 1), Conv(96, 3), Conv(96, 3, 2, "valid")),
             (MAX2,))
REDUCE_17 = ((Conv(192, 1), Conv(320, 3, 2, "valid")),
             (Conv(192, 1), Conv(192, (1, 7)), Conv(192, (7, 1)), Conv(192, 3, 2, "valid")),
             (MAX2,))


def _fig7(avg=AVG):
    return ((Conv(320, 1),), (Conv(384, 1), _split(384)),
            (Conv(448, 1), Conv(384, 3), _split(384)), (avg, Conv(192, 1)))


FIG7 = _fig7()


def _modules(avg):
    """Per stage, the branches of each module (keras' mixed0 ... mixed10), with the pool
    branches' average pool `avg`."""
    return ((_fig5(32, avg), _fig5(64, avg), _fig5(64, avg)),
            (REDUCE_35, _fig6(128, avg), _fig6(160, avg), _fig6(160, avg), _fig6(192, avg)),
            (REDUCE_17, _fig7(avg), _fig7(avg)))


MODULES = _modules(AVG)
TV_MODULES = _modules(TV_AVG)


@dataclasses.dataclass(frozen=True)
class InceptionV3Spec:
    stem: tuple = STEM
    stages: tuple = MODULES
    style: str = "keras"  # "keras" (BN without scale) | "torchvision" (BN with scale)

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"Inception v3 style must be one of {STYLES}, got {self.style!r}.")


def auxiliary_classifier(x, classes, classifier_activation, *, conv, name="aux"):
    """Fig. 8's side head (TF-slim / torchvision layout): layers `{name}_pool`, `{name}_1_*`,
    `{name}_2_*`, `{name}_avg_pool`, `{name}_predictions`."""
    x = layers.AveragePooling2D(5, 3, name=f"{name}_pool")(x)
    x = conv(x, 128, 1, name=f"{name}_1")
    x = conv(x, 768, 5, padding="valid", name=f"{name}_2")
    x = layers.GlobalAveragePooling2D(name=f"{name}_avg_pool")(x)
    return predictions(x, classes, classifier_activation, name=f"{name}_predictions")


def _inception_v3(x, spec: InceptionV3Spec, *, name, include_top, classes,
                  classifier_activation, aux_logits=False, transform_input=None):
    """The body (and the side classifier with `aux_logits`). `transform_input` (default: on for
    the torchvision style) adds torchvision's input transform before the stem."""
    tv = spec.style == "torchvision"
    conv = functools.partial(conv_bn, scale=tv)
    x = torch_stem(x, spec.stem, conv, name=name, aux_logits=aux_logits, include_top=include_top,
                   transform=tv if transform_input is None else transform_input)

    def side(x, s, b):
        if not aux_logits or (s, b) != AUX_AFTER:
            return None
        if any(n is not None and n < 17 for n in x.shape[1:3]):
            raise ValueError(f"{name}: aux_logits=True needs an input of {AUX_MIN_SIZE}x"
                             f"{AUX_MIN_SIZE} or more (the auxiliary classifier's 5x5/3 pool and "
                             f"5x5 convolution); mixed7 is {x.shape[1]}x{x.shape[2]}.")
        return auxiliary_classifier(x, classes, classifier_activation, conv=conv)

    return inception_stages(x, spec.stages, conv, side=side)


# One record per variant; register_family (just below) makes the builders and __all__.
_TABLE = [
    Variant("inception_v3", "InceptionV3", InceptionV3Spec(), 23_817_352,
            "keras.applications InceptionV3: 23,851,784 parameters in all, of which "
            "34,432 are BatchNorm moving statistics", keras_equivalent="InceptionV3",
            preprocessing="tf"),
    Variant("inception_v3_tv", "InceptionV3TV",
            InceptionV3Spec(stages=TV_MODULES, style="torchvision"), 23_834_568,
            "torchvision inception_v3 without its auxiliary classifier (27,161,264 with it)",
            aliases=("timm/inception_v3",)),
]

# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "inception_v3": (keras_299_checkpoint(
        "InceptionV3", "inception_v3", "9a0d58056eeedaa3f26cb7ebd46da564",
        "bcbd6486424b2319ff4ef7d526e38f63", top1=77.9, top5=93.7, size_mb=92),),
    "inception_v3_tv": (torchvision_checkpoint(
        "inception_v3", "IMAGENET1K_V1", "inception_v3_google-0cc3c7bd.pth", Transform(299, 342),
        top1=77.294, top5=93.45, size_mb=103.903, build_options=TV_BUILD_OPTIONS,
        note="Google's weights, ported"),),
}
VARIANTS = register_family(
    globals(), _inception_v3, _TABLE, family="inception_v3", paper=PAPER, head=GapHead(),
    input_shape=(299, 299, 3), min_size=75, test_size=75,
    doc=lambda v: "Inception v3" + ("" if v.keras_equivalent else ", torchvision's"),
    weights=WEIGHTS, torch_mapping=lambda variant: TV_MAPPING)


# torchvision's module names per module type (InceptionA ... E): branch -> (branch i, op j) here
_A = {"branch1x1": "1_1", "branch5x5_1": "2_1", "branch5x5_2": "2_2", "branch3x3dbl_1": "3_1",
      "branch3x3dbl_2": "3_2", "branch3x3dbl_3": "3_3", "branch_pool": "4_2"}
_B = {"branch3x3": "1_1", "branch3x3dbl_1": "2_1", "branch3x3dbl_2": "2_2",
      "branch3x3dbl_3": "2_3"}
_C = {"branch1x1": "1_1", **{f"branch7x7_{j}": f"2_{j}" for j in (1, 2, 3)},
      **{f"branch7x7dbl_{j}": f"3_{j}" for j in (1, 2, 3, 4, 5)}, "branch_pool": "4_2"}
_D = {"branch3x3_1": "1_1", "branch3x3_2": "1_2",
      **{f"branch7x7x3_{j}": f"2_{j}" for j in (1, 2, 3, 4)}}
_E = {"branch1x1": "1_1", "branch3x3_1": "2_1", "branch3x3_2a": "2_2a", "branch3x3_2b": "2_2b",
      "branch3x3dbl_1": "3_1", "branch3x3dbl_2": "3_2", "branch3x3dbl_3a": "3_3a",
      "branch3x3dbl_3b": "3_3b", "branch_pool": "4_2"}
# torchvision module -> (stage, block, its branches)
_MIXED = {"Mixed_5b": (1, 1, _A), "Mixed_5c": (1, 2, _A), "Mixed_5d": (1, 3, _A),
          "Mixed_6a": (2, 1, _B), "Mixed_6b": (2, 2, _C), "Mixed_6c": (2, 3, _C),
          "Mixed_6d": (2, 4, _C), "Mixed_6e": (2, 5, _C),
          "Mixed_7a": (3, 1, _D), "Mixed_7b": (3, 2, _E), "Mixed_7c": (3, 3, _E)}
_TV_STEM = {"Conv2d_1a_3x3": 1, "Conv2d_2a_3x3": 2, "Conv2d_2b_3x3": 3, "Conv2d_3b_1x1": 5,
            "Conv2d_4a_3x3": 6}
_KIND = r"\.(?P<kind>conv|bn)"

TV_MAPPING = TorchMapping(
    rename_rules([(rf"{module}{_KIND}", f"stem_{j}_{{kind}}") for module, j in _TV_STEM.items()]
                 + [(rf"{module}\.{branch}{_KIND}", f"stage{s}_block{b}_{ij}_{{kind}}")
                    for module, (s, b, branches) in _MIXED.items()
                    for branch, ij in branches.items()]
                 + [(r"AuxLogits\..*", None), (r"fc", "predictions")]),
    taps={"stage1_out": "Mixed_5d", "stage2_out": "Mixed_6e", "stage3_out": "Mixed_7c"})
