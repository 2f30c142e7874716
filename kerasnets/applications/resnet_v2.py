"""ResNet V2: "Identity Mappings in Deep Residual Networks" (He, Zhang, Ren & Sun, ECCV 2016,
arXiv:1603.05027), full pre-activation units (Fig. 4e) on the bottleneck ResNets of
arXiv:1512.03385 Table 1, laid out exactly as keras.applications' ResNet50V2/101V2/152V2:

    stem     7x7/2 conv, 64 (biased, no BN: the first unit pre-activates it), 3x3/2 max-pool
    stage s  depths (3, 4, 6, 3) / (3, 4, 23, 3) / (3, 8, 36, 3) bottleneck units of base width
             64, 128, 256, 512 (output 4x): BN-ReLU, then [1x1, 3x3, 1x1] with BN-ReLU between
    head     post_bn + post_relu (the units end in a bare addition), global average pool, fc

keras' layout, kept for weight compatibility (tested: same weights, same order, same outputs):
stages 1-3 downsample in their LAST unit, whose shortcut is a 1x1 max-pool with stride 2, stage 4
not at all; the first unit of each stage projects the pre-activated input with a biased 1x1
convolution; the 3x3s and the first 1x1s are unbiased, the last 1x1s biased; BN epsilon 1.001e-5.
"""

from __future__ import annotations

import functools

from kerasnets.applications._common import GapHead, register_family
from kerasnets.applications._resnet_blocks import (ResNetSpec, imagenet_stem, keras_file,
                                                   post_norm, preact_bottleneck_block,
                                                   residual_stages)
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Identity Mappings in Deep Residual Networks", "1603.05027", 2016)
BN_EPSILON = 1.001e-5
_KERAS = "keras.applications {}: {} parameters in all, of which {} are BatchNorm moving statistics"

# One record per variant, each keras' `builder` (its twin); register_family (end of file) makes
# the builders and __all__.
_TABLE = [
    Variant("resnet50_v2", "ResNet50V2", ResNetSpec("bottleneck", (3, 4, 6, 3)), 25_568_360,
            _KERAS.format("ResNet50V2", "25,613,800", "45,440"), keras_equivalent="ResNet50V2",
            aliases=("resnet50v2",)),
    Variant("resnet101_v2", "ResNet101V2", ResNetSpec("bottleneck", (3, 4, 23, 3)), 44_577_896,
            _KERAS.format("ResNet101V2", "44,675,560", "97,664"), keras_equivalent="ResNet101V2",
            aliases=("resnet101v2",)),
    Variant("resnet152_v2", "ResNet152V2", ResNetSpec("bottleneck", (3, 8, 36, 3)), 60_236_904,
            _KERAS.format("ResNet152V2", "60,380,648", "143,744"), keras_equivalent="ResNet152V2",
            aliases=("resnet152v2",)),
]


def _resnet_v2(x, spec: ResNetSpec, *, name):
    x = imagenet_stem(x, width=spec.stem_width, use_bias=True, batch_norm=False,
                      bn_epsilon=BN_EPSILON, kernel_initializer="glorot_uniform")
    block = functools.partial(preact_bottleneck_block, groups=spec.groups,
                              width_per_group=spec.width_per_group, bn_epsilon=BN_EPSILON)
    x = residual_stages(x, spec, block, strides=(2,) * (len(spec.depths) - 1) + (1,),
                        stride_on_last=True)
    return post_norm(x, BN_EPSILON)


# Published checkpoints: keras.applications' files (weights.records).
_keras = functools.partial(keras_file, folder="resnet/", normalization="tf")
WEIGHTS = {
    "resnet50_v2": (_keras("ResNet50V2", 76.0, 93.0, 98, md5=("3ef43a0b657b3be2300d5770ece849e0",
                                                            "fac2f116257151a9d068a22e544a4917")),),
    "resnet101_v2": (_keras("ResNet101V2", 77.2, 93.8, 171,
                            md5=("6343647c601c52e1368623803854d971",
                                 "c0ed64b8031c3730f411d2eb4eea35b5")),),
    "resnet152_v2": (_keras("ResNet152V2", 78.0, 94.2, 232,
                            md5=("a49b44d1979771252814e80f8ec446f9",
                                 "ed17cf2e0169df9d443503ef94b23b33")),),
}

VARIANTS = register_family(
    globals(), _resnet_v2, _TABLE, family="resnet_v2", paper=PAPER, head=GapHead(),
    preprocessing="tf",
    min_size=32, test_size=32, doc=lambda v: f"Pre-activation {v.builder}",
    weights=WEIGHTS)
