"""DenseNet: "Densely Connected Convolutional Networks" (Huang, Liu, van der Maaten & Weinberger,
CVPR 2017, arXiv:1608.06993), Table 1 (ImageNet) and section 4 / Table 2 (CIFAR DenseNet-BC).

Every layer of a dense block takes the concatenation of all earlier feature maps of the block
and adds k (the growth rate) new ones: BN-ReLU-Conv3x3(k), preceded in "B" (bottleneck) networks
by BN-ReLU-Conv1x1(4k). A transition (BN-ReLU-Conv1x1 to floor(theta * m) channels ("C":
compression theta < 1), 2x2/2 average pool) joins two blocks; the last block ends in BN-ReLU,
global average pooling and the classifier. All convolutions are unbiased.

    ImageNet (Table 1, k = 32)  121             169             201             264
    stem         112x112 -> 56  7x7/2 conv, 2k (+ BN-ReLU); 3x3/2 max-pool
    stage 1      56x56 -> 28    [1x1, 3x3] x 6, transition
    stage 2      28x28 -> 14    [1x1, 3x3] x 12, transition
    stage 3      14x14 -> 7     x 24            x 32            x 48            x 64,  transition
    stage 4      7x7            x 16            x 32            x 32            x 48,  BN-ReLU
    head                        global average pool, 1000-d fc, softmax

    CIFAR DenseNet-BC (depth L = 6n + 4): 3x3 conv with 2k channels (no BN: the first dense layer
    pre-activates it), 3 stages of n bottleneck layers on 32x32, 16x16, 8x8 with theta = 0.5
    transitions between them, BN-ReLU, global average pool, 10-way fc (Table 2: L=100 k=12 0.8M,
    L=250 k=24 15.3M, L=190 k=40 25.6M). Plain DenseNets (L = 3n + 4, no bottleneck, theta = 1,
    16-channel stem) come from `cifar_spec(depth, k, bc=False)`.

`DenseNet121/169/201` follow keras.applications (BN epsilon 1.001e-5, Glorot initialisation) and
hold its weights in its order (tested: copied weights give identical outputs); keras' layer
`conv{s+1}_block{b}_{0,1}_bn`/`_{1,2}_conv` is `stage{s}_block{b}_{1,2}_bn`/`_{1,2}_conv` here,
`pool{s+1}_*` is `stage{s}_transition_*`, `bn`/`relu` are `post_bn`/`post_relu`. Each stage is a
dense block and its transition; `stage{s}_out` follows the transition (the final BN-ReLU in the
last stage). DenseNet-264 has 265 weighted layers counted as Table 1 counts the others; the
paper's name is kept. The CIFAR models follow the authors' Torch code (liuzhuang13/DenseNet):
BN epsilon 1e-5, He initialisation.

torchvision's `densenet121/169/201` are these networks layer for layer but for the BN epsilon
(1e-5 there, keras' 1.001e-5 here: each BN's scale changes by sqrt(1 + 1e-8 / (var + 1e-5)) - 1,
under 5e-6 for running variances above 1e-3, 5e-4 at var = 0; tests/test_torch_classic.py
compares the logits), so they map directly. `DenseNet161` is torchvision's `densenet161` (k=48,
a 96-channel stem, blocks 6-12-36-24; torchvision only, so with its epsilon 1e-5). All four load
torchvision's ImageNet checkpoints through the mapping registered below (the published files'
old `norm.1` / `conv.1` module names included).

`drop_rate` (keyword-only, default 0) adds dropout after every convolution but the stem, as the
paper does (0.2) for CIFAR and SVHN without data augmentation. Memory-efficient (shared-buffer /
recomputed concatenation, Pleiss et al. 2017) training is not provided: it saves memory, not
parameters or results, and needs a custom gradient across the whole dense layer.
"""

from __future__ import annotations

import dataclasses

from keras import layers

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.applications._resnet_blocks import imagenet_stem
from kerasnets.applications._torch_names import rename_rules
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import (Transform, keras_checkpoint, tf_kernels,
                                       torchvision_checkpoint)

PAPER = Paper("Densely Connected Convolutional Networks", "1608.06993", 2017)
BOTTLENECK_WIDTH = 4  # the 1x1 convolution of a "B" layer produces 4k feature maps (section 3)
# stem: (BN epsilon, kernel initializer) -- keras.applications / the authors' Torch code
STYLES = {"imagenet": (1.001e-5, "glorot_uniform"), "cifar": (1e-5, "he_normal")}


@dataclasses.dataclass(frozen=True)
class DenseNetSpec:
    blocks: tuple[int, ...]  # dense layers per dense block (one block per stage)
    growth_rate: int = 32  # k
    compression: float = 0.5  # theta: a transition keeps floor(theta * m) of m channels
    bottleneck: bool = True  # "B": BN-ReLU-Conv1x1(4k) before each 3x3
    stem: str = "imagenet"  # "imagenet" (7x7/2 conv-BN-ReLU, 3x3/2 max-pool) | "cifar" (3x3)
    stem_width: int | None = None  # None: 2k
    bn_epsilon: float | None = None  # None: the stem style's (STYLES)

    def __post_init__(self):
        if self.stem not in STYLES:
            raise ValueError(f"stem must be one of {tuple(STYLES)}, got {self.stem!r}.")
        if not self.blocks or min(self.blocks) < 1 or self.growth_rate < 1:
            raise ValueError(f"need one dense layer or more per block and growth_rate >= 1, got "
                             f"blocks={self.blocks}, growth_rate={self.growth_rate}.")
        if not 0.0 < self.compression <= 1.0:
            raise ValueError(f"compression must be in (0, 1], got {self.compression}.")

    @property
    def stem_channels(self) -> int:
        return self.stem_width or 2 * self.growth_rate


def cifar_spec(depth: int, growth_rate: int, *, bc: bool = True) -> DenseNetSpec:
    """DenseNet(-BC) with `depth` layers for CIFAR: 3 equal blocks of (depth - 4) / 6 bottleneck
    layers with theta = 0.5 and a 2k stem (BC), or (depth - 4) / 3 plain layers with theta = 1 and
    a 16-channel stem (section 3, "Implementation Details")."""
    per_layer = 6 if bc else 3
    if depth <= 4 or (depth - 4) % per_layer:
        raise ValueError(f"CIFAR DenseNet{'-BC' if bc else ''}s have depth {per_layer}n + 4 "
                         f"(n >= 1), got {depth}.")
    n = (depth - 4) // per_layer
    return DenseNetSpec((n,) * 3, growth_rate, compression=0.5 if bc else 1.0, bottleneck=bc,
                        stem="cifar", stem_width=None if bc else 16)


# CIFAR-10 DenseNet-BC: (depth, k): (trainable params at 10 classes, the paper's Table 2 figure)
TABLE2 = {(100, 12): (769_162, "0.8M"), (250, 24): (15_324_406, "15.3M"),
          (190, 40): (25_624_430, "25.6M")}
_KERAS = "keras.applications {}: {} parameters in all, of which {} are BatchNorm moving statistics"

# One record per variant (the CIFAR DenseNet-BCs from TABLE2); register_family (below)
# makes the builders and __all__.
_TABLE = [
    Variant("densenet121", "DenseNet121", DenseNetSpec((6, 12, 24, 16)), 7_978_856,
            _KERAS.format("DenseNet121", "8,062,504", "83,648"), keras_equivalent="DenseNet121",
            aliases=("timm/densenet121",)),
    Variant("densenet161", "DenseNet161", DenseNetSpec((6, 12, 36, 24), 48, bn_epsilon=1e-5),
            28_681_000, "torchvision densenet161",
            aliases=("timm/densenet161",)),
    Variant("densenet169", "DenseNet169", DenseNetSpec((6, 12, 32, 32)), 14_149_480,
            _KERAS.format("DenseNet169", "14,307,880", "158,400"), keras_equivalent="DenseNet169",
            aliases=("timm/densenet169",)),
    Variant("densenet201", "DenseNet201", DenseNetSpec((6, 12, 48, 32)), 20_013_928,
            _KERAS.format("DenseNet201", "20,242,984", "229,056"), keras_equivalent="DenseNet201",
            aliases=("timm/densenet201",)),
    Variant("densenet264", "DenseNet264", DenseNetSpec((6, 12, 64, 48)), 33_337_704,
            "exact count of Table 1's DenseNet-264 (k=32), which gives no count; the same "
            "as lucid's densenet_264 (ChanLumerico/lucid docs)"),
    *(Variant(f"densenet_bc{depth}_k{k}", f"DenseNetBC{depth}_k{k}", cifar_spec(depth, k),
              params, f"imgclsmob (osmr) densenet{depth}_k{k}_bc_cifar10; "
              f"paper Table 2: {figure}", input_shape=(32, 32, 3), classes=10)
      for (depth, k), (params, figure) in TABLE2.items()),
]


def _bn_relu_conv(x, filters, kernel_size, *, drop_rate, bn_epsilon, kernel_initializer, name):
    """BN-ReLU-Conv (-Dropout): `{name}_bn`, `{name}_relu`, `{name}_conv`, `{name}_dropout`."""
    x = layers.BatchNormalization(epsilon=bn_epsilon, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False,
                      kernel_initializer=kernel_initializer, name=f"{name}_conv")(x)
    if drop_rate:
        x = layers.Dropout(drop_rate, name=f"{name}_dropout")(x)
    return x


def dense_layer(x, growth_rate, *, bottleneck=True, name, **conv):
    """One layer of a dense block: [BN-ReLU-Conv1x1(4k)] BN-ReLU-Conv3x3(k) (`{name}_1_*`,
    `{name}_2_*`; `{name}_1_*` is the 3x3 without bottleneck), concatenated to its input
    (`{name}_concat`)."""
    y = x
    if bottleneck:
        y = _bn_relu_conv(y, BOTTLENECK_WIDTH * growth_rate, 1, name=f"{name}_1", **conv)
    y = _bn_relu_conv(y, growth_rate, 3, name=f"{name}_{2 if bottleneck else 1}", **conv)
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def transition(x, compression, *, name, **conv):
    """BN-ReLU-Conv1x1 to floor(theta * m) channels, 2x2/2 average pool (`{name}_*`)."""
    x = _bn_relu_conv(x, int(x.shape[-1] * compression), 1, name=name, **conv)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _densenet(spec: DenseNetSpec, *, include_top, weights, input_tensor, input_shape, pooling,
              classes, classifier_activation, name, default_shape, min_size, drop_rate=0.0):
    if not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"{name}: drop_rate must be in [0, 1), got {drop_rate!r}.")
    bn_epsilon, init = STYLES[spec.stem]
    if spec.bn_epsilon is not None:
        bn_epsilon = spec.bn_epsilon
    conv = dict(drop_rate=drop_rate, bn_epsilon=bn_epsilon, kernel_initializer=init)
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    if spec.stem == "imagenet":
        x = imagenet_stem(x, width=spec.stem_channels, use_bias=False, bn_epsilon=bn_epsilon,
                          kernel_initializer=init)
    else:
        x = layers.Conv2D(spec.stem_channels, 3, padding="same", use_bias=False,
                          kernel_initializer=init, name="stem_conv")(x)
    for s, depth in enumerate(spec.blocks, start=1):
        for b in range(1, depth + 1):
            x = dense_layer(x, spec.growth_rate, bottleneck=spec.bottleneck,
                            name=f"stage{s}_block{b}", **conv)
        if s < len(spec.blocks):
            x = transition(x, spec.compression, name=f"stage{s}_transition", **conv)
        else:
            x = layers.BatchNormalization(epsilon=bn_epsilon, name="post_bn")(x)
            x = layers.Activation("relu", name="post_relu")(x)
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation)
    return finish(inputs, x, name=name, weights=weights)


def _doc(variant: str, spec: DenseNetSpec) -> str:
    if spec.stem == "imagenet":
        return f"DenseNet-{variant[8:]} (k={spec.growth_rate})"
    return f"CIFAR DenseNet-BC (L={6 * spec.blocks[0] + 4}, k={spec.growth_rate})"


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "densenet121": (
        keras_checkpoint("DenseNet121",
            tf_kernels("densenet121", "densenet/", "9d60b8095a5708f2dcce2bca79d332c7",
                "30ee3e1110167f948a6b9946edeeb738"),
            Transform(224, 256), top1=75.0, top5=92.3, size_mb=33),
        torchvision_checkpoint("densenet121", "IMAGENET1K_V1", "densenet121-a639ec97.pth",
            Transform(224, 256), top1=74.434, top5=91.972, size_mb=30.845,
            note="BN epsilon 1e-5 there, 1.001e-5 here"),
    ),
    "densenet161": (
        torchvision_checkpoint("densenet161", "IMAGENET1K_V1", "densenet161-8d451a50.pth",
            Transform(224, 256), top1=77.138, top5=93.56, size_mb=110.369),
    ),
    "densenet169": (
        keras_checkpoint("DenseNet169",
            tf_kernels("densenet169", "densenet/", "d699b8f76981ab1b30698df4c175e90b",
                "b8c4d4c20dd625c148057b9ff1c1176b"),
            Transform(224, 256), top1=76.2, top5=93.2, size_mb=57),
        torchvision_checkpoint("densenet169", "IMAGENET1K_V1", "densenet169-b2777c0a.pth",
            Transform(224, 256), top1=75.6, top5=92.806, size_mb=54.708,
            note="BN epsilon 1e-5 there, 1.001e-5 here"),
    ),
    "densenet201": (
        keras_checkpoint("DenseNet201",
            tf_kernels("densenet201", "densenet/", "1ceb130c1ea1b78c3bf6114dbdfd8807",
                "c13680b51ded0fb44dff2d8f86ac8bb1"),
            Transform(224, 256), top1=77.3, top5=93.6, size_mb=80),
        torchvision_checkpoint("densenet201", "IMAGENET1K_V1", "densenet201-c1103571.pth",
            Transform(224, 256), top1=76.896, top5=93.37, size_mb=77.373,
            note="BN epsilon 1e-5 there, 1.001e-5 here"),
    ),
}

VARIANTS = register_family(
    globals(), _densenet, _TABLE, family="densenet", paper=PAPER, min_size=32, test_size=32,
    doc=lambda v: _doc(v.name, v.spec),
    weights=WEIGHTS, torch_mapping=lambda variant: TORCH_MAPPING)


_LAYER = r"features\.denseblock(?P<s>\d)\.denselayer(?P<b>\d+)\."
TORCH_MAPPING = TorchMapping(
    rename_rules([
        (r"features\.conv0", "stem_conv"), (r"features\.norm0", "stem_bn"),
        # torchvision's `norm1`; its published files still say `norm.1` (torchvision renames)
        (_LAYER + r"norm\.?(?P<i>[12])", "stage{s}_block{b}_{i}_bn"),
        (_LAYER + r"conv\.?(?P<i>[12])", "stage{s}_block{b}_{i}_conv"),
        (r"features\.transition(?P<s>\d)\.norm", "stage{s}_transition_bn"),
        (r"features\.transition(?P<s>\d)\.conv", "stage{s}_transition_conv"),
        (r"features\.norm5", "post_bn"), (r"classifier", "predictions")]),
    taps={"stage1_out": "features.transition1", "stage2_out": "features.transition2",
          "stage3_out": "features.transition3", "post_bn": "features.norm5"})
