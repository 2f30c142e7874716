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

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.applications._resnet_blocks import (ResNetSpec, imagenet_stem, post_norm,
                                                   preact_bottleneck_block, residual_stages)
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.records import Transform, keras_checkpoint, tf_kernels

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


def _resnet_v2(spec: ResNetSpec, *, include_top, weights, input_tensor, input_shape, pooling,
               classes, classifier_activation, name, default_shape, min_size):
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    x = imagenet_stem(x, width=spec.stem_width, use_bias=True, batch_norm=False,
                      bn_epsilon=BN_EPSILON, kernel_initializer="glorot_uniform")
    block = functools.partial(preact_bottleneck_block, groups=spec.groups,
                              width_per_group=spec.width_per_group, bn_epsilon=BN_EPSILON)
    x = residual_stages(x, spec, (2,) * (len(spec.depths) - 1) + (1,), block,
                        stride_on_last=True)
    x = post_norm(x, BN_EPSILON)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "resnet101_v2": (
        keras_checkpoint("ResNet101V2",
            tf_kernels("resnet101v2", "resnet/", "6343647c601c52e1368623803854d971",
                "c0ed64b8031c3730f411d2eb4eea35b5"),
            Transform(224, 256, normalization="tf"), top1=77.2, top5=93.8, size_mb=171),
    ),
    "resnet152_v2": (
        keras_checkpoint("ResNet152V2",
            tf_kernels("resnet152v2", "resnet/", "a49b44d1979771252814e80f8ec446f9",
                "ed17cf2e0169df9d443503ef94b23b33"),
            Transform(224, 256, normalization="tf"), top1=78.0, top5=94.2, size_mb=232),
    ),
    "resnet50_v2": (
        keras_checkpoint("ResNet50V2",
            tf_kernels("resnet50v2", "resnet/", "3ef43a0b657b3be2300d5770ece849e0",
                "fac2f116257151a9d068a22e544a4917"),
            Transform(224, 256, normalization="tf"), top1=76.0, top5=93.0, size_mb=98),
    ),
}

VARIANTS = register_family(
    globals(), _resnet_v2, _TABLE, family="resnet_v2", paper=PAPER, preprocessing="tf",
    min_size=32, test_size=32, doc=lambda v: f"Pre-activation {v.builder}",
    weights=WEIGHTS)
