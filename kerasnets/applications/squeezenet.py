"""SqueezeNet: "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size" (Iandola et al., 2016, arXiv:1602.07360), Table 1 (v1.0), the released v1.1, and the
bypass variants of section 6 / Table 3.

    stage  v1.0 (Table 1)                  v1.1 (DeepScale release)
    stem   conv1 96 7x7/2, maxpool 3x3/2   conv1 64 3x3/2, maxpool 3x3/2
    1      fire2, fire3, fire4             fire2, fire3
    2      maxpool, fire5 .. fire8         maxpool, fire4, fire5
    3      maxpool, fire9                  maxpool, fire6 .. fire9
    head   dropout 0.5, conv10 (1x1, one map per class) + ReLU, global average pool, softmax

    fire (s1x1, e1x1, e3x3): 2-3 (16, 64, 64), 4-5 (32, 128, 128), 6-7 (48, 192, 192),
    8-9 (64, 256, 256)

A fire module squeezes with `s1x1` 1x1 filters and expands with `e1x1` 1x1 and `e3x3` 3x3 filters
(padded), every convolution with a bias and a ReLU; the two expansions are concatenated (1x1
first). Max-pools are 3x3/2 with Caffe's ceil-mode output size. The paper's 224x224 input gives
109/54/27/13 maps here; the Caffe models crop 227x227, which gives Table 1's 111/55/27/13.

`bypass` (keyword-only): "simple" adds the input of every fire module whose input and output
widths match (fires 3, 5, 7, 9) to its output; "complex" also gives the other fires (2, 4, 6, 8)
a bypass through a 1x1 convolution with bias (section 6, Figure 2). The sums carry no ReLU.
Parameter counts: v1.0 1,248,424 = Table 1's sum (4.8 MiB of float32, Table 3's "4.8MB");
simple bypass adds none (Table 3: 4.8MB too); complex bypass adds 341,248: 1,589,672 = 6.1 MiB,
where Table 3 says 7.7MB (about 2.0M parameters), which this reading of section 6 and Figure 2
(four 1x1 convolutions, fires 2, 4, 6, 8) does not reproduce.

`squeezenet1_0` and `squeezenet1_1` are torchvision's networks layer for layer (ceil-mode pools,
the same fire order, conv10 + ReLU + global average pool) and load its ImageNet checkpoints
through the mapping registered below (tested: equal logits).
"""

from __future__ import annotations

import dataclasses

from keras import initializers, layers

from kerasnets.applications._common import (finish, head_dtype, model_input, pool_features,
                                            register_family)
from kerasnets.applications._torch_names import rename_rules
from kerasnets.layers import CeilModeMaxPooling2D, conv_bn_act
from kerasnets.zoo.registry import Paper, Variant
from kerasnets.weights.convert import TorchMapping
from kerasnets.weights.records import Transform, torchvision_checkpoint

PAPER = Paper("SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model "
              "size", "1602.07360", 2016)
BYPASSES = ("none", "simple", "complex")


@dataclasses.dataclass(frozen=True)
class SqueezeNetSpec:
    stem: tuple[int, int]  # conv1 filters, kernel size (stride 2, no padding)
    # per stage, the fire modules' (s1x1, e1x1, e3x3); stages after the first start with a
    # 3x3/2 max-pool
    stages: tuple[tuple[tuple[int, int, int], ...], ...]


F2 = F3 = (16, 64, 64)
F4 = F5 = (32, 128, 128)
F6 = F7 = (48, 192, 192)
F8 = F9 = (64, 256, 256)
V1_0 = SqueezeNetSpec((96, 7), ((F2, F3, F4), (F5, F6, F7, F8), (F9,)))
V1_1 = SqueezeNetSpec((64, 3), ((F2, F3), (F4, F5), (F6, F7, F8, F9)))

# One record per variant; register_family (below) makes the builders and __all__.
_TABLE = [
    Variant("squeezenet1_0", "SqueezeNet1_0", V1_0, 1_248_424,
            "paper Table 1, total before pruning (= torchvision squeezenet1_0)", min_size=21),
    Variant("squeezenet1_1", "SqueezeNet1_1", V1_1, 1_235_496, "torchvision squeezenet1_1",
            min_size=17),
    Variant("squeezenet1_0_simple_bypass", "SqueezeNet1_0_SimpleBypass", V1_0, 1_248_424,
            "= v1.0 (identity bypasses); paper Table 3: 4.8MB, as vanilla",
            options={"bypass": "simple"}, min_size=21),
    Variant("squeezenet1_0_complex_bypass", "SqueezeNet1_0_ComplexBypass", V1_0, 1_589_672,
            "exact count: v1.0 + four 1x1 bypass convolutions (section 6); paper Table 3 gives "
            "7.7MB", options={"bypass": "complex"}, min_size=21),
]


def fire(x, squeeze, expand1x1, expand3x3, *, bypass="none", name):
    """Fire module (Figure 1): `{name}_squeeze_*`, `{name}_expand1x1_*`, `{name}_expand3x3_*`,
    `{name}_concat`; with a bypass `{name}_bypass_conv` (complex, widths differ) and
    `{name}_add`."""
    conv = dict(batch_norm=False, use_bias=True, padding="same")
    shortcut = x
    x = conv_bn_act(x, squeeze, 1, name=f"{name}_squeeze", **conv)
    x = layers.Concatenate(name=f"{name}_concat")([
        conv_bn_act(x, expand1x1, 1, name=f"{name}_expand1x1", **conv),
        conv_bn_act(x, expand3x3, 3, name=f"{name}_expand3x3", **conv)])
    if bypass == "none" or (bypass == "simple" and shortcut.shape[-1] != x.shape[-1]):
        return x
    if shortcut.shape[-1] != x.shape[-1]:
        shortcut = layers.Conv2D(x.shape[-1], 1, name=f"{name}_bypass_conv")(shortcut)
    return layers.Add(name=f"{name}_add")([shortcut, x])


def _squeezenet(spec: SqueezeNetSpec, *, include_top, weights, input_tensor, input_shape,
                pooling, classes, classifier_activation, name, default_shape, min_size,
                bypass="none", dropout=0.5):
    if bypass not in BYPASSES:
        raise ValueError(f"{name}: bypass must be one of {BYPASSES}, got {bypass!r}.")
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    filters, kernel = spec.stem
    x = conv_bn_act(x, filters, kernel, strides=2, padding="valid", batch_norm=False,
                    use_bias=True, name="stem")
    x = CeilModeMaxPooling2D(3, strides=2, name="stem_pool")(x)
    for s, fires in enumerate(spec.stages, start=1):
        if s > 1:
            x = CeilModeMaxPooling2D(3, strides=2, name=f"stage{s}_pool")(x)
        for b, widths in enumerate(fires, start=1):
            x = fire(x, *widths, bypass=bypass, name=f"stage{s}_block{b}")
        x = layers.Identity(name=f"stage{s}_out")(x)
    if include_top:
        if classes is None or classes < 1:
            raise ValueError(f"classes must be a positive integer, got {classes!r}.")
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        # conv10, initialised N(0, 0.01) as in the released Caffe model and torchvision
        x = conv_bn_act(x, classes, 1, padding="valid", batch_norm=False, use_bias=True,
                        kernel_initializer=initializers.RandomNormal(stddev=0.01),
                        name="classifier")
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Activation(classifier_activation, name="predictions", dtype=head_dtype())(x)
    else:
        x = pool_features(x, pooling)
    return finish(inputs, x, name=name, weights=weights)


# Published checkpoints: one `Checkpoint` record each, the default first (weights.records).
WEIGHTS = {
    "squeezenet1_0": (
        torchvision_checkpoint("squeezenet1_0", "IMAGENET1K_V1", "squeezenet1_0-b66bff10.pth",
            Transform(224, 256), top1=58.092, top5=80.42, size_mb=4.778),
    ),
    "squeezenet1_1": (
        torchvision_checkpoint("squeezenet1_1", "IMAGENET1K_V1", "squeezenet1_1-b8a52dc0.pth",
            Transform(224, 256), top1=58.178, top5=80.624, size_mb=4.729),
    ),
}

VARIANTS = register_family(
    globals(), _squeezenet, _TABLE, family="squeezenet", paper=PAPER, test_size=32,
    doc=lambda v: f"SqueezeNet {v.name[10:13].replace('_', '.')}"
                  + (f" with {v.options['bypass']} bypass" if v.options else ""),
    weights=WEIGHTS, torch_mapping=lambda variant: torch_mapping(variant.spec))


def torch_mapping(spec: SqueezeNetSpec) -> TorchMapping:
    """torchvision's SqueezeNet: `features` is conv1, ReLU, max-pool, then the fires with a max-pool
    before every stage but the first, so the fire indices follow from the spec; `classifier.1` is
    conv10."""
    rules = [(r"features\.0", "stem_conv"), (r"classifier\.1", "classifier_conv")]
    taps, index = {}, 3
    for s, fires in enumerate(spec.stages, start=1):
        index += 1 if s > 1 else 0  # the max-pool that opens the stage
        for b in range(1, len(fires) + 1):
            rules.append((rf"features\.{index}\.(?P<part>squeeze|expand1x1|expand3x3)",
                          f"stage{s}_block{b}_{{part}}_conv"))
            index += 1
        taps[f"stage{s}_out"] = f"features.{index - 1}"
    return TorchMapping(rename_rules(rules), taps=taps, head=("classifier_conv",))
