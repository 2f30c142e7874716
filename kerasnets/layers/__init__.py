"""Family-agnostic building blocks, and the one home of kerasnets' custom layers.

Every saveable custom layer (and LeCun's `scaled_tanh`) of a kerasnets model is defined in a
module of this package and registered with Keras under `package="kerasnets"` when this package
is imported (a test checks that no registered layer lives elsewhere). Loading a `.keras` file
therefore needs this package only, not the model families (`kerasnets.load_model`).
"""

from kerasnets.layers.conv import GroupedConv2D, conv2d, conv_bn_act
from kerasnets.layers.ensemble import EnsembleLogits
from kerasnets.layers.lenet import (ConnectionTableConv2D, EuclideanRBF, TrainableSubsampling,
                                    scaled_tanh)
from kerasnets.layers.normalization import LocalResponseNormalization, Renormalize
from kerasnets.layers.pooling import CeilModeMaxPooling2D, PaddedMaxPooling2D
from kerasnets.layers.residual import ScaledAdd, WeightedSum, ZeroPadChannels
from kerasnets.layers.shift import Shift
from kerasnets.layers.shuffle import ChannelShuffle, ChannelSplit
from kerasnets.layers.squeeze_excite import squeeze_excite

__all__ = ["CeilModeMaxPooling2D", "ChannelShuffle", "ChannelSplit", "ConnectionTableConv2D",
           "EnsembleLogits", "EuclideanRBF", "GroupedConv2D", "LocalResponseNormalization",
           "PaddedMaxPooling2D",
           "Renormalize", "ScaledAdd", "Shift", "TrainableSubsampling", "WeightedSum",
           "ZeroPadChannels", "conv2d", "conv_bn_act", "scaled_tanh", "squeeze_excite"]
