"""BN-Inception (Inception v2): "Batch Normalization: Accelerating Deep Network Training by Reducing
Internal Covariate Shift" (Ioffe & Szegedy, ICML 2015, arXiv:1502.03167), the table of Figure 5;
and SE-BN-Inception: "Squeeze-and-Excitation Networks" (Hu et al., CVPR 2018, arXiv:1709.01507).

    type              patch/stride  output      #1x1 #3x3red #3x3 dbl#3x3red dbl#3x3 pool +proj
    convolution       7x7/2         112x112x64
    max pool          3x3/2          56x56x64
    convolution       3x3/1          56x56x192        64     192
    max pool          3x3/2          28x28x192
    inception (3a)                   28x28x256   64    64     64     64       96   avg + 32
    inception (3b)                   28x28x320   64    64     96     64       96   avg + 64
    inception (3c)    stride 2       14x14x576    0   128    160     64       96   max + pass
    inception (4a)                   14x14x576  224    64     96     96      128   avg + 128
    inception (4b)                   14x14x576  192    96    128     96      128   avg + 128
    inception (4c)                   14x14x608  160   128    160    128      160   avg + 128
    inception (4d)                   14x14x608   96   128    192    160      192   avg + 128
    inception (4e)    stride 2        7x7x1056    0   128    192    192      256   max + pass
    inception (5a)                    7x7x1024  352   192    320    160      224   avg + 128
    inception (5b)                    7x7x1024  352   192    320    192      224   max + 128
    avg pool          7x7/1           1x1x1024, linear, softmax

(output sizes are this network's; see (2) below for Figure 5's output column)

GoogLeNet with BatchNorm after every convolution, each 5x5 replaced by two stacked 3x3 ("double
#3x3"), three 28x28 modules, average or max pooling inside the modules, and no max-pool between
stages: modules 3c and 4e reduce the grid themselves (stride-2 3x3 convolutions next to a 3x3/2
max-pool whose output passes through unprojected). The paper removed dropout ("Remove Dropout",
section 4.2.1); `dropout=` puts one back before the classifier.

This is the released model, the one the published BN-Inception counts refer to: Yuanjun Xiong's
Caffe BN-Inception, ported to PyTorch as Cadene's `bninception` (11,295,240 parameters), and the
base of SENet's SE-BN-Inception. It follows Figure 5 except that (1) its first convolution is a
plain 7x7 convolution, where the paper used a depthwise separable one with depth multiplier 8;
(2) the widths are the sums of the branches, so 4c / 4d output 608 channels and 4e 1056, where
Figure 5's output column prints 576 / 576 / 1024 (the column does not add up, its branch columns
do). Caffe details kept: explicit zero padding on the 7x7/2 (3) and the stride-2 3x3s (1);
average pools inside modules pad by 1 and count the padding (Caffe, PyTorch `count_include_pad`);
the stem's max-pools round their output up (Caffe). The stride-2 max-pools of 3c / 4e use "same"
padding, which equals Caffe's round-up at the even sizes of 224 inputs and keeps the module's
branches aligned at odd sizes (Caffe's would not concatenate there).

Two variants:

- `BNInception` (`bn_inception`): Xiong / Cadene, biased convolutions + BatchNorm (epsilon 1e-5),
  11,295,240 parameters.
- `SEBNInception` (`se_bn_inception`): SENet's released SE-BN-Inception (hujie-frank/SENet,
  models/SE-BN-Inception.prototxt): convolutions without bias, and a squeeze-and-excitation block
  (reduction r = 16: channels // 16, with biases) on the output of every module (Fig. 2 right),
  11,931,622 trainable parameters. SENet's paper gives no parameter count for it; OpenVINO's model
  zoo lists the released model at 11.922 M, which counts each convolution + BatchNorm folded into
  a convolution with one bias (11,921,606), where Keras counts BatchNorm's gamma and beta.

Layer names: `stem_{j}_*` (the stem's operations in order), `stage{s}_block{b}_*` for the modules
(see `_inception`; SE adds `_se_squeeze`, `_se_reduce`, `_se_expand`, `_se_scale`), `stage{s}_out`
after 3b (28x28), 4d (14x14) and 5b (7x7); head `avg_pool`, `predictions`.
"""

from __future__ import annotations

import dataclasses
import functools

from keras import layers

from kerasnets.applications._common import register_family
from kerasnets.applications._inception import Conv, Pool, apply, dropout_head, inception_module
from kerasnets.layers import conv_bn_act, squeeze_excite
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
              "Covariate Shift", "1502.03167", 2015)
SE_PAPER = Paper("Squeeze-and-Excitation Networks", "1709.01507", 2018)

STEM = (Conv(64, 7, 2, 3), Pool("max", 3, 2, "ceil"), Conv(64, 1), Conv(192, 3),
        Pool("max", 3, 2, "ceil"))
MIN_SIZE = 7  # smallest input for which the second stem max-pool still has a 2x2 input

# Figure 5, per stage and module: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool,
# pool projection (0: pass through), stride. Stages: 28x28 (3a-3b), 14x14 (3c-4d), 7x7 (4e-5b).
FIGURE5 = (
    ((64, 64, 64, 64, 96, "avg", 32, 1), (64, 64, 96, 64, 96, "avg", 64, 1)),
    ((0, 128, 160, 64, 96, "max", 0, 2), (224, 64, 96, 96, 128, "avg", 128, 1),
     (192, 96, 128, 96, 128, "avg", 128, 1), (160, 128, 160, 128, 160, "avg", 128, 1),
     (96, 128, 192, 160, 192, "avg", 128, 1)),
    ((0, 128, 192, 192, 256, "max", 0, 2), (352, 192, 320, 160, 224, "avg", 128, 1),
     (352, 192, 320, 192, 224, "max", 128, 1)),
)


@dataclasses.dataclass(frozen=True)
class BNInceptionSpec:
    stages: tuple[tuple[tuple, ...], ...] = FIGURE5
    conv_bias: bool = True  # Xiong's Caffe model (Cadene) has biased convolutions; SENet's none
    se_reduction: int = 0  # > 0: squeeze-and-excitation on every module, channels // se_reduction


def module_branches(n1x1, n3x3_reduce, n3x3, n_double_reduce, n_double, pool_kind, pool_proj,
                    stride):
    """One row of Figure 5 as branches: [1x1] | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool [-> 1x1].
    A stride-2 module strides its last 3x3s and its max-pool."""
    pad = 1 if stride > 1 else "same"
    if stride > 1:
        pooling = Pool(pool_kind, 3, stride, "same")
    else:  # Caffe: pad 1; the average counts the padding
        pooling = Pool(pool_kind, 3, 1, 1 if pool_kind == "avg" else "same")
    branches = ((Conv(n1x1, 1),),) if n1x1 else ()
    branches += ((Conv(n3x3_reduce, 1), Conv(n3x3, 3, stride, pad)),
                 (Conv(n_double_reduce, 1), Conv(n_double, 3), Conv(n_double, 3, stride, pad)),
                 (pooling,) + ((Conv(pool_proj, 1),) if pool_proj else ()))
    return branches


def _bn_inception(x, spec: BNInceptionSpec, *, name):
    """The body: the stem, then Figure 5's modules (each followed by SE when `se_reduction`)."""
    conv = functools.partial(conv_bn_act, use_bias=spec.conv_bias)
    for j, op in enumerate(STEM, start=1):
        x = apply(x, op, conv, name=f"stem_{j}")
    for s, rows in enumerate(spec.stages, start=1):
        for b, row in enumerate(rows, start=1):
            block = f"stage{s}_block{b}"
            x = inception_module(x, module_branches(*row), conv, name=block)
            if spec.se_reduction:
                x = squeeze_excite(x, x.shape[-1] // spec.se_reduction, name=f"{block}_se")
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x


HEAD = dropout_head(0.0)  # the paper removed dropout; `dropout=` puts one back

# One record per variant, one table per paper (register_family takes the family's paper);
# register_family makes the builders and __all__.
_BN_TABLE = [
    Variant("bn_inception", "BNInception", BNInceptionSpec(), 11_295_240,
            "Cadene pretrainedmodels bninception (Xiong's released Caffe BN-Inception): "
            "11,295,240", doc="BN-Inception"),
]
_SE_TABLE = [
    Variant("se_bn_inception", "SEBNInception", BNInceptionSpec(conv_bias=False, se_reduction=16),
            11_931_622,
            "exact count of SENet's released SE-BN-Inception (hujie-frank/SENet "
            "prototxt); OpenVINO model zoo: 11.922M with BatchNorm folded into the "
            "convolutions", doc="SE-BN-Inception"),
]

VARIANTS = {
    **register_family(globals(), _bn_inception, _BN_TABLE, family="bn_inception", paper=PAPER,
                      head=HEAD, min_size=MIN_SIZE, test_size=32),
    **register_family(globals(), _bn_inception, _SE_TABLE, family="bn_inception",
                      paper=SE_PAPER, head=HEAD, min_size=MIN_SIZE, test_size=32),
}
