"""GoogLeNet (Inception v1): "Going Deeper with Convolutions" (Szegedy et al., CVPR 2015,
arXiv:1409.4842), Table 1, the GoogLeNet incarnation of the Inception architecture:

    type            patch/stride  output      #1x1 #3x3red #3x3 #5x5red #5x5 pool proj
    convolution     7x7/2         112x112x64
    max pool        3x3/2          56x56x64                                            + LRN
    convolution     3x3/1          56x56x192        64     192                         + LRN
    max pool        3x3/2          28x28x192
    inception (3a)                 28x28x256   64    96     128    16     32    32
    inception (3b)                 28x28x480  128   128     192    32     96    64
    max pool        3x3/2          14x14x480
    inception (4a)                 14x14x512  192    96     208    16     48    64
    inception (4b)                 14x14x512  160   112     224    24     64    64
    inception (4c)                 14x14x512  128   128     256    24     64    64
    inception (4d)                 14x14x528  112   144     288    32     64    64
    inception (4e)                 14x14x832  256   160     320    32    128   128
    max pool        3x3/2           7x7x832
    inception (5a)                  7x7x832   256   160     320    32    128   128
    inception (5b)                  7x7x1024  384   192     384    48    128   128
    avg pool        7x7/1           1x1x1024, dropout (40%), linear, softmax

Every convolution has a bias and a ReLU, no BatchNorm (the paper predates it; the released Caffe
model `bvlc_googlenet` likewise); `#3x3 reduce` / `#5x5 reduce` are 1x1 convolutions before the
3x3 / 5x5 ones, `pool proj` a 1x1 convolution after the module's 3x3/1 max-pool. Layout details
follow bvlc_googlenet: the stem is conv 7x7/2 (pad 3), max-pool, LRN, 1x1 64, 3x3 192, LRN,
max-pool; the max-pools between stages round their output size up (Caffe), which gives Table 1's
56 / 28 / 14 / 7 at 224; LRN is Caffe's (n=5, alpha=1e-4 divided by n, beta=0.75, k=1); the final
7x7 average pool is a global average pool (the same at 224, and it accepts other input sizes).
`lrn=False` leaves the two LRN layers out (they have no parameters).

`aux_logits=True` adds the two auxiliary classifiers of section 5 on top of inception (4a) and
(4d): 5x5/3 average pool, 1x1 convolution to 128 + ReLU, fully connected 1024 + ReLU, dropout 70%,
linear classifier with `classifier_activation`. The model then has three outputs, [main, aux1,
aux2] (layers `predictions`, `aux1_predictions`, `aux2_predictions`), so that
`model.compile(loss=[loss] * 3, loss_weights=[1, 0.3, 0.3])` trains them as the paper did; at
inference use the first output (or build without them, the default). The auxiliary heads flatten
a 4x4x128 map at 224, so they need a fixed input size of `AUX_MIN_SIZE` or more.

Layer names: `stem_{j}_*` (the stem's operations in order), `stage{s}_pool` (the max-pool that
opens stages 2 and 3), `stage{s}_block{b}_*` for the inception modules (see `_inception`),
`stage{s}_out` after 3b, 4e and 5b; head `avg_pool`, `head_dropout`, `predictions`.

The registry count, 6,998,552, is the exact count of Table 1's layers with their biases (as in
bvlc_googlenet without its auxiliary classifiers). Table 1's `params` column counts weights only,
in K = 1024 (conv2's 112K and the classifier's 1000K are exact in that unit), and sums to 6.8M, as
do this network's 6,990,272 weights. Row by row it matches for conv2, 3a, 3b, 4b and the
classifier; its entries for 4a, 4c, 4d, 4e and 5b are misprints (the `ops` column, weights times
output positions, agrees with this network there), and conv1 (2.7K / 34M against 9.4K / 118M) and
5a (1072K / 54M against 1018K / 51M) disagree in both columns. tests/test_inception.py checks
every row.

`GoogLeNetTV` (`googlenet_tv`) is torchvision's `googlenet`, whose ImageNet weights were ported
from a TensorFlow re-training, not from bvlc_googlenet; it differs from the above in: every
convolution unbiased and followed by BatchNorm (epsilon 1e-3) and ReLU; no LRN; the "5x5" branch
convolves 3x3 (a known slip, pytorch/vision#906, kept since the weights have it); the max-pool
before 5a is 2x2/2 (ceil mode); dropout 0.2 before the classifier; and `transform_input`: the
weights expect [-1, 1] inputs, so torchvision turns ImageNet mean/std input into them
((x * std + mean - 0.5) / 0.5, per channel) in the model. Here that is a `Rescaling` layer
`stem_transform_input` before the stem, on by default for `googlenet_tv` as in
`torchvision.models.googlenet(weights=...)` (`transform_input=False` feeds [-1, 1] inputs
directly). Its auxiliary classifiers (`aux_logits=True`) follow torchvision too: adaptive average
pool to 4x4, 1x1 convolution to 128 (+BN), fc 1024, dropout 70%, classifier. 6,624,904
parameters (torchvision's, without the side heads, which torchvision does not publish trained);
its checkpoint loads through the mapping registered below (tested: equal logits), the side heads
left out.
"""

from __future__ import annotations

import dataclasses
import functools

from keras import layers

from kerasnets.applications._common import GapHead, check_static, register_family
from kerasnets.applications._inception import (LRN, TV_BUILD_OPTIONS, Conv, Pool,
                                               inception_stages, pool, torch_stem)
from kerasnets.applications._torch_names import rename_rules
from kerasnets.layers import conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import Transform, torchvision_checkpoint

PAPER = Paper("Going Deeper with Convolutions", "1409.4842", 2015)

STEM = (Conv(64, 7, 2, 3), Pool("max", 3, 2, "ceil"), LRN(), Conv(64, 1), Conv(192, 3), LRN(),
        Pool("max", 3, 2, "ceil"))  # LRN: Caffe's (bvlc_googlenet)
STAGE_POOL = Pool("max", 3, 2, "ceil")  # opens stages 2 and 3
AUX_AFTER = ((2, 1), (2, 4))  # (stage, block) of inception (4a) and (4d)
AUX_MIN_SIZE = 79  # smallest input whose 4a / 4d maps (>= 5x5) fit the 5x5/3 average pool
MIN_SIZE = 31  # smallest input for which every ceil-mode max-pool has an input of 2x2 or more

# torchvision's googlenet: no LRN in the stem, a 2x2/2 max-pool before 5a
TV_STEM = (Conv(64, 7, 2, 3), Pool("max", 3, 2, "ceil"), Conv(64, 1), Conv(192, 3),
           Pool("max", 3, 2, "ceil"))
TV_STAGE_POOLS = {2: Pool("max", 3, 2, "ceil"), 3: Pool("max", 2, 2, "ceil")}
TV_MIN_SIZE = 15  # = torchvision's min_size: the last ceil-mode pool needs an input of 1x1
TV_AUX_POOL = 4  # torchvision's side heads average-pool adaptively to 4x4
STYLES = ("bvlc", "torchvision")

# Table 1, per stage and module: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
TABLE1 = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),                      # 3a, 3b
    ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
     (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128)),                  # 4a - 4e
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),                # 5a, 5b
)


@dataclasses.dataclass(frozen=True)
class GoogLeNetSpec:
    stages: tuple[tuple[tuple[int, ...], ...], ...] = TABLE1
    style: str = "bvlc"  # "bvlc" (the paper as Caffe released it) | "torchvision"

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"GoogLeNet style must be one of {STYLES}, got {self.style!r}.")


def module_branches(n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj, *, kernel5=5):
    """One row of Table 1 as branches: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3/1 max-pool -> 1x1
    (`kernel5=3`: torchvision's "5x5" branch)."""
    return ((Conv(n1x1, 1),), (Conv(n3x3_reduce, 1), Conv(n3x3, 3)),
            (Conv(n5x5_reduce, 1), Conv(n5x5, kernel5)),
            (Pool("max", 3, 1, "same"), Conv(pool_proj, 1)))


_conv = functools.partial(conv_bn_act, batch_norm=False, use_bias=True)
_tv_conv = functools.partial(conv_bn_act, batch_norm=True, use_bias=False, bn_epsilon=1e-3)


def auxiliary_classifier(x, classes, classifier_activation, *, conv=_conv, adaptive=False, name):
    """Section 5's side classifier: layers `{name}_pool`, `{name}_1_conv` / `_relu`,
    `{name}_flatten`, `{name}_fc`, `{name}_dropout`, `{name}_predictions`. `adaptive`:
    torchvision's adaptive average pool to 4x4 instead of the 5x5/3 pool."""
    if adaptive:
        x = layers.AdaptiveAveragePooling2D(TV_AUX_POOL, name=f"{name}_pool")(x)
    else:
        x = layers.AveragePooling2D(5, 3, name=f"{name}_pool")(x)
    x = conv(x, 128, 1, name=f"{name}_1")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name=f"{name}_predictions")(x)


def _googlenet(x, spec: GoogLeNetSpec, *, name, include_top, classes, classifier_activation,
               lrn=None, aux_logits=False, transform_input=None):
    """The body (and the side classifiers with `aux_logits`). `lrn` and `transform_input`
    default to the style's: bvlc True, False; torchvision False, True."""
    tv = spec.style == "torchvision"
    if lrn is None:
        lrn = not tv
    elif lrn and tv:
        raise ValueError(f"{name}: torchvision's GoogLeNet has no LRN layers; lrn must be False.")
    if aux_logits and not tv:
        check_static(x.shape[1:], name)
    conv = _tv_conv if tv else _conv
    stem = TV_STEM if tv else tuple(None if isinstance(op, LRN) and not lrn else op
                                    for op in STEM)
    x = torch_stem(x, stem, conv, name=name, aux_logits=aux_logits, include_top=include_top,
                   transform=tv if transform_input is None else transform_input)

    def opening(x, s):  # the max-pool that opens stages 2 and 3
        return x if s == 1 else pool(x, TV_STAGE_POOLS[s] if tv else STAGE_POOL,
                                     name=f"stage{s}")

    def side(x, s, b):
        if not aux_logits or (s, b) not in AUX_AFTER:
            return None
        if not tv and min(x.shape[1:3]) < 5:
            raise ValueError(f"{name}: aux_logits=True needs an input of {AUX_MIN_SIZE}x"
                             f"{AUX_MIN_SIZE} or more (the auxiliary classifiers' 5x5 average "
                             f"pool); inception (4a) is {x.shape[1]}x{x.shape[2]}.")
        return auxiliary_classifier(x, classes, classifier_activation, conv=conv, adaptive=tv,
                                    name=f"aux{AUX_AFTER.index((s, b)) + 1}")

    stages = [[module_branches(*row, kernel5=3 if tv else 5) for row in rows]
              for rows in spec.stages]
    return inception_stages(x, stages, conv, side=side, opening=opening)


def _head(x, spec: GoogLeNetSpec, *, classes, classifier_activation, dropout=None):
    """The style's head: global average pool, dropout (default bvlc 0.4, torchvision 0.2)."""
    if dropout is None:
        dropout = 0.2 if spec.style == "torchvision" else 0.4
    return GapHead(dropout)(x, spec, classes=classes, classifier_activation=classifier_activation)


# One record per variant; register_family (just below) makes the builders and __all__.
_TABLE = [
    Variant("googlenet", "GoogLeNet", GoogLeNetSpec(), 6_998_552,
            "exact count of Table 1's layers with biases (= Caffe bvlc_googlenet without "
            "its auxiliary classifiers); Table 1's params column: ~6.8M weights"),
    Variant("googlenet_tv", "GoogLeNetTV", GoogLeNetSpec(style="torchvision"), 6_624_904,
            "torchvision googlenet (without the auxiliary classifiers)", min_size=TV_MIN_SIZE),
]

# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {"googlenet_tv": (torchvision_checkpoint(
    "googlenet", "IMAGENET1K_V1", "googlenet-1378be20.pth", Transform(224, 256), top1=69.778,
    top5=89.53, size_mb=49.731, build_options=TV_BUILD_OPTIONS, note="ported from TensorFlow"),)}

VARIANTS = register_family(
    globals(), _googlenet, _TABLE, family="googlenet", paper=PAPER, head=_head, min_size=MIN_SIZE,
    test_size=32, doc=lambda v: "GoogLeNet (Inception v1)"
    + (", torchvision's" if v.spec.style == "torchvision" else ""),
    weights=WEIGHTS, torch_mapping=lambda variant: TV_MAPPING)


def _tv_rules():
    """torchvision module paths: `conv1..3` (BasicConv2d: `.conv`, `.bn`), `inception3a..5b` with
    `branch1`, `branch2.{0,1}`, `branch3.{0,1}`, `branch4.1` (`branch4.0` is the max-pool)."""
    rules = [(r"conv1\.(?P<kind>conv|bn)", "stem_1_{kind}"),
             (r"conv2\.(?P<kind>conv|bn)", "stem_3_{kind}"),
             (r"conv3\.(?P<kind>conv|bn)", "stem_4_{kind}"),
             (r"aux[12]\..*", None),  # side heads: published untrained, not loaded
             (r"fc", "predictions")]
    labels = (("3a", "3b"), ("4a", "4b", "4c", "4d", "4e"), ("5a", "5b"))
    branches = (("branch1", "1_1"), (r"branch2\.0", "2_1"), (r"branch2\.1", "2_2"),
                (r"branch3\.0", "3_1"), (r"branch3\.1", "3_2"), (r"branch4\.1", "4_2"))
    for s, stage in enumerate(labels, start=1):
        for b, label in enumerate(stage, start=1):
            rules += [(rf"inception{label}\.{branch}\.(?P<kind>conv|bn)",
                       f"stage{s}_block{b}_{ij}_{{kind}}") for branch, ij in branches]
    return rules


TV_MAPPING = TorchMapping(rename_rules(_tv_rules()),
                          taps={"stage1_out": "inception3b", "stage2_out": "inception4e",
                                "stage3_out": "inception5b"})
