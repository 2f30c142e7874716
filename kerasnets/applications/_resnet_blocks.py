"""What the ResNet families share (resnet, resnet_v2, resnet_cifar, wide_resnet, resnext, senet):
the spec, the stems, the residual blocks, the stage loop, the torch names and compact records of
the published files (also DenseNet's).

Block layer names, for a block called `name` (`stage{s}_block{b}`): `{name}_0_*` is the shortcut
branch (projection `_0_conv`/`_0_bn`, or the parameter-free `_0_pool`/`_0_pad`), `{name}_1_*`,
`{name}_2_*`, `{name}_3_*` the convolutions of the residual branch in order (each with its `_bn`
and `_relu`), its squeeze-excite `{name}_se_*` if any, and the merge `{name}_add`, followed in
post-activation (v1) blocks by the ReLU `{name}_relu`; pre-activation blocks end in the addition.
(keras.applications calls the block output `{name}_out`; here only stage outputs end in `_out`,
the taps that tools look for.)
"""

from __future__ import annotations

import dataclasses
import functools

from keras import layers

from kerasnets.applications._torch_names import nested, rename_rules
from kerasnets.layers import ZeroPadChannels, conv_bn_act, squeeze_excite
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import (Transform, keras_checkpoint, tf_kernels,
                                       torchvision_checkpoint)

EXPANSION = 4  # bottleneck blocks output 4x their base width (He et al., Table 1)


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """One ResNet-like network: a block kind and, per stage, a depth and a width.

    `widths` are the base widths: the output width of a basic block, the 1x1-reduced width of a
    bottleneck (whose output is `EXPANSION` times wider). Inside, the bottleneck's 1x1 and 3x3 have
    `widths[s] * width_per_group // 64 * groups` channels, the 3x3 in `groups` groups (torchvision),
    so ResNeXt-50 (32x4d) is `groups=32, width_per_group=4` and WRN-50-2 `width_per_group=128`.
    `se_reduction` r > 0 adds a squeeze-and-excitation module (Hu et al.) with `out // r` hidden
    units to every block, on the residual branch before the addition (SE-ResNet, SE-ResNeXt).
    """

    block: str  # "basic" | "bottleneck"
    depths: tuple[int, ...]  # blocks per stage
    widths: tuple[int, ...] = (64, 128, 256, 512)
    stem_width: int = 64
    groups: int = 1
    width_per_group: int = 64
    se_reduction: int = 0  # squeeze-excite reduction ratio r; 0: no SE

    def __post_init__(self):
        if self.block not in ("basic", "bottleneck"):
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {self.block!r}.")
        if len(self.depths) != len(self.widths) or min(self.depths) < 1:
            raise ValueError(f"depths {self.depths} and widths {self.widths} must pair up, one "
                             f"block or more per stage.")
        if self.block == "basic" and (self.groups, self.width_per_group) != (1, 64):
            raise ValueError("basic blocks support only groups=1 and width_per_group=64.")
        if self.se_reduction < 0:
            raise ValueError(f"se_reduction must be >= 0 (0: no SE), got {self.se_reduction}.")


def _pad3(stride):
    # A strided 3x3 pads 1 on every side (the papers, Caffe, PyTorch), not TF's asymmetric "same".
    return 1 if stride > 1 else "same"


def imagenet_stem(x, *, width=64, use_bias, batch_norm=True, bn_epsilon, kernel_initializer):
    """7x7/2 convolution (+ BN + ReLU), then a 3x3/2 max-pool, both padded explicitly as in
    keras.applications: `stem_pad`, `stem_conv`, [`stem_bn`, `stem_relu`], `stem_pool_pad`,
    `stem_pool`."""
    x = conv_bn_act(x, width, 7, strides=2, padding=3, use_bias=use_bias, batch_norm=batch_norm,
                    activation="relu" if batch_norm else None, bn_epsilon=bn_epsilon,
                    kernel_initializer=kernel_initializer, name="stem")
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def cifar_stem(x, width, *, batch_norm=True):
    """The CIFAR networks' 3x3 convolution of `width` (He initialised, unbiased) + BN + ReLU
    (`stem_conv`, `stem_bn`, `stem_relu`); a bare convolution without `batch_norm` (pre-activation
    networks, whose first block normalises it)."""
    return conv_bn_act(x, width, 3, use_bias=False, batch_norm=batch_norm,
                       activation="relu" if batch_norm else None, kernel_initializer="he_normal",
                       name="stem")


def residual_stages(x, spec: ResNetSpec, block, *, strides=None, stride_on_last=False):
    """`spec.depths[s]` blocks of width `spec.widths[s]` per stage, each stage closed by an
    Identity `stage{s}_out`. `strides` default to 1 for the first stage and 2 for the others; a
    stage's stride goes to its first block (to its last with `stride_on_last`, keras.applications'
    ResNetV2). `block(x, width, *, stride, name)`, also given `se_reduction` where the spec asks for
    squeeze-excite (a block without SE refuses it)."""
    if strides is None:
        strides = (1,) + (2,) * (len(spec.depths) - 1)
    se = {"se_reduction": spec.se_reduction} if spec.se_reduction else {}
    for s, (depth, width, stride) in enumerate(zip(spec.depths, spec.widths, strides), start=1):
        strided = depth if stride_on_last else 1
        for b in range(1, depth + 1):
            x = block(x, width, stride=stride if b == strided else 1, name=f"stage{s}_block{b}",
                      **se)
        x = layers.Identity(name=f"stage{s}_out")(x)
    return x


def spec_block(spec: ResNetSpec, *, stride_on_3x3=False, **options):
    """The post-activation block of `spec.block` for `residual_stages`: `basic_block`, or
    `bottleneck_block` with the spec's `groups` and `width_per_group` and `stride_on_3x3`;
    `options` (use_bias, bn_epsilon, ...) go to either."""
    if spec.block == "basic":
        return functools.partial(basic_block, **options)
    return functools.partial(bottleneck_block, groups=spec.groups,
                             width_per_group=spec.width_per_group, stride_on_3x3=stride_on_3x3,
                             **options)


VERSIONS = ("1", "1.5")  # the ImageNet ResNets' two conventions (resnet.py's docstring)


def imagenet_resnet(x, spec: ResNetSpec, *, name, version="1"):
    """The body of the ImageNet ResNet of `spec` (resnet; resnext and wide_resnet through `groups`
    and `width_per_group`): the 7x7 stem and post-activation stages. `version="1"`: bottlenecks
    as keras.applications (stride on the first 1x1, biased convolutions, BN epsilon 1.001e-5,
    Glorot); "1.5": torchvision's (stride on the 3x3, unbiased, 1e-5, He). Basic blocks are
    torchvision's under both."""
    if version not in VERSIONS:
        raise ValueError(f"{name}: version must be one of {VERSIONS}, got {version!r}.")
    keras_style = spec.block == "bottleneck" and version == "1"
    options = dict(use_bias=keras_style, bn_epsilon=1.001e-5 if keras_style else 1e-5,
                   kernel_initializer="glorot_uniform" if keras_style else "he_normal")
    x = imagenet_stem(x, width=spec.stem_width, **options)
    return residual_stages(x, spec, spec_block(spec, stride_on_3x3=version == "1.5", **options))


def _projection(x, filters, *, stride, use_bias, bn_epsilon, kernel_initializer, name,
                kernel_size=1):
    # A k x k projection pads k // 2 on every side (SENet-154's 3x3 shortcuts); 1x1 pads nothing.
    return conv_bn_act(x, filters, kernel_size, strides=stride, padding=kernel_size // 2,
                       use_bias=use_bias, activation=None, bn_epsilon=bn_epsilon,
                       kernel_initializer=kernel_initializer, name=f"{name}_0")


def _merge(residual, y, se_reduction, name):
    """[squeeze-excite on the residual branch `y`], then the addition `{name}_add`."""
    if se_reduction:
        y = squeeze_excite(y, y.shape[-1] // se_reduction, name=f"{name}_se")
    return layers.Add(name=f"{name}_add")([residual, y])


def _zero_pad_identity(x, filters, *, stride, name):
    if stride > 1:  # 1x1 pooling with a stride: keeps every stride-th pixel
        x = layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    if filters > x.shape[-1]:
        x = ZeroPadChannels(filters - x.shape[-1], name=f"{name}_0_pad")(x)
    return x


def basic_block(x, filters, *, stride=1, shortcut="B", se_reduction=0, residual_relu=False,
                use_bias=False, bn_epsilon=1e-5, kernel_initializer="he_normal", name):
    """Two 3x3 convolutions (He et al., Fig. 2 left), post-activation. Where the shape changes
    the shortcut is a 1x1 projection + BN (option "B") or the strided, zero-padded identity
    (option "A", parameter-free). `se_reduction` > 0: squeeze-excite (`{name}_se_*`) before the
    addition. `residual_relu`: a ReLU (`{name}_2_relu`) after the second BN too, before SE and the
    addition (timm's legacy SE-ResNet-18/34 block)."""
    conv = functools.partial(conv_bn_act, use_bias=use_bias, bn_epsilon=bn_epsilon,
                             kernel_initializer=kernel_initializer)
    if stride == 1 and x.shape[-1] == filters:
        residual = x
    elif shortcut == "A":
        residual = _zero_pad_identity(x, filters, stride=stride, name=name)
    else:
        residual = _projection(x, filters, stride=stride, use_bias=use_bias,
                               bn_epsilon=bn_epsilon, kernel_initializer=kernel_initializer,
                               name=name)
    y = conv(x, filters, 3, strides=stride, padding=_pad3(stride), name=f"{name}_1")
    y = conv(y, filters, 3, activation="relu" if residual_relu else None, name=f"{name}_2")
    y = _merge(residual, y, se_reduction, name)
    return layers.Activation("relu", name=f"{name}_relu")(y)


def bottleneck_block(x, filters, *, stride=1, groups=1, width_per_group=64, stride_on_3x3=False,
                     se_reduction=0, reduce_factor=0, shortcut_kernel=1, use_bias=False,
                     bn_epsilon=1e-5, kernel_initializer="he_normal", name):
    """1x1 reduce, 3x3 (grouped when `groups` > 1), 1x1 expand to `EXPANSION * filters`
    (He et al., Fig. 5 right), post-activation, projection shortcut where the shape changes.

    The stride sits on the first 1x1 (the paper's and keras.applications' v1) or, with
    `stride_on_3x3`, on the 3x3 (v1.5, torchvision). The 1x1 and 3x3 in the middle have
    `filters * width_per_group // 64 * groups` channels (see `ResNetSpec`); `reduce_factor` > 0
    makes the first 1x1 `reduce_factor * filters` wide instead (SENet-154: 2, half the 3x3).
    The shortcut is built first, as keras.applications does, so that the weights come in the same
    order; a strided projection has a `shortcut_kernel` x `shortcut_kernel` kernel (SENet-154: 3),
    an unstrided one is 1x1.
    `se_reduction` > 0: squeeze-excite (`{name}_se_*`) after the last BN, before the addition.
    """
    conv = functools.partial(conv_bn_act, use_bias=use_bias, bn_epsilon=bn_epsilon,
                             kernel_initializer=kernel_initializer)
    out, inner = EXPANSION * filters, filters * width_per_group // 64 * groups
    if stride == 1 and x.shape[-1] == out:
        residual = x
    else:
        residual = _projection(x, out, stride=stride, use_bias=use_bias, bn_epsilon=bn_epsilon,
                               kernel_initializer=kernel_initializer, name=name,
                               kernel_size=shortcut_kernel if stride > 1 else 1)
    first, middle = (1, stride) if stride_on_3x3 else (stride, 1)
    y = conv(x, reduce_factor * filters or inner, 1, strides=first, padding="valid",
             name=f"{name}_1")
    y = conv(y, inner, 3, strides=middle, padding=_pad3(middle), groups=groups, name=f"{name}_2")
    y = conv(y, out, 1, padding="valid", activation=None, name=f"{name}_3")
    y = _merge(residual, y, se_reduction, name)
    return layers.Activation("relu", name=f"{name}_relu")(y)


def _preact(x, bn_epsilon, name):
    x = layers.BatchNormalization(epsilon=bn_epsilon, name=f"{name}_preact_bn")(x)
    return layers.Activation("relu", name=f"{name}_preact_relu")(x)


def preact_bottleneck_block(x, filters, *, stride=1, groups=1, width_per_group=64,
                            bn_epsilon=1.001e-5, kernel_initializer="glorot_uniform", name):
    """Full pre-activation bottleneck (He et al. 2016b, Fig. 4e) exactly as keras.applications'
    ResNetV2: BN-ReLU shared by both branches; a biased 1x1 projection where the width changes,
    a 1x1 max-pool where only the size does; unbiased 1x1 and 3x3 with BN-ReLU; biased 1x1."""
    out, inner = EXPANSION * filters, filters * width_per_group // 64 * groups
    preact = _preact(x, bn_epsilon, name)
    if x.shape[-1] != out:
        residual = layers.Conv2D(out, 1, strides=stride, kernel_initializer=kernel_initializer,
                                 name=f"{name}_0_conv")(preact)
    elif stride > 1:
        residual = layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    else:
        residual = x
    conv = functools.partial(conv_bn_act, use_bias=False, bn_epsilon=bn_epsilon,
                             kernel_initializer=kernel_initializer)
    y = conv(preact, inner, 1, padding="valid", name=f"{name}_1")
    y = conv(y, inner, 3, strides=stride, padding=1, groups=groups, name=f"{name}_2")
    y = layers.Conv2D(out, 1, kernel_initializer=kernel_initializer, name=f"{name}_3_conv")(y)
    return layers.Add(name=f"{name}_add")([residual, y])


def preact_basic_block(x, filters, *, stride=1, dropout=0.0, bn_epsilon=1e-5,
                       kernel_initializer="he_normal", name):
    """Wide ResNet's B(3,3) block (Zagoruyko & Komodakis, Fig. 1c/d): BN-ReLU-conv3x3
    [-dropout]-BN-ReLU-conv3x3, unbiased; where the shape changes the shortcut is a 1x1
    projection of the pre-activated input."""
    preact = _preact(x, bn_epsilon, name)
    if stride == 1 and x.shape[-1] == filters:
        residual = x
    else:
        residual = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                 kernel_initializer=kernel_initializer,
                                 name=f"{name}_0_conv")(preact)
    y = conv_bn_act(preact, filters, 3, strides=stride, padding=_pad3(stride), use_bias=False,
                    bn_epsilon=bn_epsilon, kernel_initializer=kernel_initializer,
                    name=f"{name}_1")
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer=kernel_initializer, name=f"{name}_2_conv")(y)
    return layers.Add(name=f"{name}_add")([residual, y])


def post_norm(x, bn_epsilon):
    """The final BN-ReLU of pre-activation networks (`post_bn`, `post_relu`, as in keras)."""
    x = layers.BatchNormalization(epsilon=bn_epsilon, name="post_bn")(x)
    return layers.Activation("relu", name="post_relu")(x)


# --- PyTorch names (torchvision ResNet / ResNeXt / Wide ResNet, timm ResNet and legacy SENet) ---
# Every torch module path of the family maps to a layer through one table of regex rules
# (`_torch_names.rename_rules`); the torch block index `b` counts from 0 there and from 1 here.

TORCH_BLOCK_RULES = (
    *nested(r"layer(?P<s>\d)\.(?P<b>\d+)", lambda m: f"stage{m['s']}_block{int(m['b']) + 1}", (
        (r"conv(?P<i>[123])", "{i}_conv"),
        (r"bn(?P<i>[123])", "{i}_bn"),
        (r"downsample\.0", "0_conv"),
        (r"downsample\.1", "0_bn"),
        (r"(se|se_module)\.fc1", "se_reduce"),  # timm | legacy SENet
        (r"(se|se_module)\.fc2", "se_expand"))),
    (r"fc|last_linear", "predictions"),
)
TORCH_STEM_RULES = {
    # 7x7 stem: torchvision / timm `conv1`, `bn1`; legacy SENet `layer0.conv1`, `layer0.bn1`
    "7x7": ((r"(layer0\.)?conv1", "stem_conv"), (r"(layer0\.)?bn1", "stem_bn")),
    # three 3x3 (SENet-154): timm `conv1` = Sequential(conv, bn, relu, conv, bn, relu, conv) then
    # `bn1`; legacy SENet `layer0.conv{i}`, `layer0.bn{i}`
    "deep": ((r"conv1\.0", "stem_1_conv"), (r"conv1\.1", "stem_1_bn"),
             (r"conv1\.3", "stem_2_conv"), (r"conv1\.4", "stem_2_bn"),
             (r"conv1\.6", "stem_3_conv"), (r"bn1", "stem_3_bn"),
             (r"layer0\.conv(?P<i>[123])", "stem_{i}_conv"),
             (r"layer0\.bn(?P<i>[123])", "stem_{i}_bn")),
}


def torch_mapping(stem="7x7", stages=4) -> TorchMapping:
    """The family's `TorchMapping`: block rules + the `stem` rules; `stage{s}_out` is torch's
    `layer{s}`."""
    if stem not in TORCH_STEM_RULES:
        raise ValueError(f"stem must be one of {sorted(TORCH_STEM_RULES)}, got {stem!r}.")
    return TorchMapping(rename_rules(TORCH_STEM_RULES[stem] + TORCH_BLOCK_RULES),
                        taps={f"stage{s}_out": f"layer{s}" for s in range(1, stages + 1)})


TORCH_MAPPING = torch_mapping("7x7")
TORCH_DEEP_STEM_MAPPING = torch_mapping("deep")


# --- Published checkpoints: compact records of keras' and torchvision's files (weights.records) ---

def keras_file(model, top1, top5, size_mb, *, md5, folder, normalization="torch"):
    """keras.applications' ImageNet record of `model` (resnet, resnet_v2, densenet): its files
    `{model lower-cased}_weights_tf_dim_ordering_tf_kernels[_notop].h5` in `folder`, `md5` the
    pair (with the top, without), evaluated at 224 from 256 with `normalization`."""
    return keras_checkpoint(model, tf_kernels(model.lower(), folder, *md5),
                            Transform(224, 256, normalization=normalization), top1=top1,
                            top5=top5, size_mb=size_mb)


def torchvision_file(file, top1, top5, size_mb, *, new_recipe=False, replaces=None, **fields):
    """torchvision's ImageNet record of the model that `file` (under download.pytorch.org) is
    named after: IMAGENET1K_V1 evaluated at 224 from 256; with `new_recipe`, torchvision's new
    training recipe evaluated at 224 from 232, tagged IMAGENET1K_V2 where it `replaces` an
    IMAGENET1K_V1 file (which the note names: load it by path)."""
    model = file.rsplit("-", 1)[0]
    if not new_recipe:
        return torchvision_checkpoint(model, "IMAGENET1K_V1", file, Transform(224, 256),
                                      top1=top1, top5=top5, size_mb=size_mb, **fields)
    note = "torchvision's new training recipe" + (
        f"; IMAGENET1K_V1 is {replaces} (load it by path)" if replaces else "")
    return torchvision_checkpoint(model, "IMAGENET1K_V2" if replaces else "IMAGENET1K_V1", file,
                                  Transform(224, 232), top1=top1, top5=top5, size_mb=size_mb,
                                  note=note, **fields)
