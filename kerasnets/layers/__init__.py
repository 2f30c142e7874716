"""Family-agnostic building blocks."""

from kerasnets.layers.conv import GroupedConv2D, conv2d, conv_bn_act
from kerasnets.layers.normalization import LocalResponseNormalization
from kerasnets.layers.pooling import CeilModeMaxPooling2D, PaddedMaxPooling2D
from kerasnets.layers.residual import ScaledAdd
from kerasnets.layers.shift import Shift
from kerasnets.layers.shuffle import ChannelShuffle, ChannelSplit
from kerasnets.layers.squeeze_excite import squeeze_excite

__all__ = ["CeilModeMaxPooling2D", "ChannelShuffle", "ChannelSplit", "GroupedConv2D",
           "LocalResponseNormalization", "PaddedMaxPooling2D", "ScaledAdd", "Shift", "conv2d",
           "conv_bn_act", "squeeze_excite"]
