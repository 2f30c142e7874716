"""keras.applications-style family builders ShuffleNet(groups, scale) and
ShuffleNetV2(width_multiplier): the same graphs as the fixed-width variants."""

import numpy as np
import pytest

import kerasnets
from kerasnets.applications import ShuffleNet, ShuffleNetV2

SHAPE = (32, 32, 3)


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _same_graph(a, b):
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    assert [tuple(w.shape) for w in a.weights] == [tuple(w.shape) for w in b.weights]


@pytest.mark.parametrize("variant, kwargs", [
    ("shufflenet_g3", {}),                          # the default: groups=3, scale=1.0
    ("shufflenet_g8", {"groups": 8}),
    ("shufflenet_g3_x0_5", {"scale": 0.5}),
    ("shufflenet_g3_x1_5", {"groups": 3, "scale": 1.5}),   # megvii's 24-wide conv1
])
def test_shufflenet_family_builder_is_the_variant(variant, kwargs):
    model = ShuffleNet(input_shape=SHAPE, **kwargs)
    assert model.name == variant
    assert _trainable(model) == kerasnets.get_entry(variant).params
    _same_graph(model, kerasnets.create_model(variant, input_shape=SHAPE))


@pytest.mark.parametrize("variant, multiplier", [("shufflenet_v2_x1_0", 1.0),
                                                 ("shufflenet_v2_x0_5", 0.5)])
def test_shufflenet_v2_family_builder_is_the_variant(variant, multiplier):
    model = ShuffleNetV2(input_shape=SHAPE, **({} if multiplier == 1.0 else
                                               {"width_multiplier": multiplier}))
    assert model.name == variant
    assert _trainable(model) == kerasnets.get_entry(variant).params
    _same_graph(model, kerasnets.create_model(variant, input_shape=SHAPE))


def test_family_builders_pass_the_keras_arguments_through():
    model = ShuffleNetV2(include_top=False, pooling="avg", input_shape=SHAPE, width_multiplier=2,
                         name="backbone")
    assert model.name == "backbone" and model.output.shape == (None, 1024 * 2)
    model = ShuffleNet(classes=10, input_shape=SHAPE, groups=2, classifier_activation=None)
    assert model.output.shape == (None, 10)
    assert model.get_layer("predictions").activation.__name__ == "linear"


def test_unregistered_shufflenet_scale_builds_the_same_layout():
    """g = 1 at 0.5x is in Table 2 but not registered: conv1 12 wide, stages 72/144/288."""
    model = ShuffleNet(groups=1, scale=0.5, input_shape=SHAPE)
    assert model.name == "shufflenet_g1_0_5x"
    assert model.get_layer("stem_conv").filters == 12
    assert [model.get_layer(f"stage{s}_out").output.shape[-1] for s in (1, 2, 3)] == \
        [72, 144, 288]


@pytest.mark.parametrize("call, message", [
    (lambda: ShuffleNetV2(width_multiplier=0.75), "width_multiplier must be one of 0.5, 1, 1.5, 2"),
    (lambda: ShuffleNetV2(width_multiplier="1x"), "width_multiplier must be one of"),
    (lambda: ShuffleNet(groups=5), "groups must be one of"),
    (lambda: ShuffleNet(groups=3, scale=0.3), "do not split into 3 groups"),
    (lambda: ShuffleNet(scale=-1.0), "ShuffleNet"),
    (lambda: ShuffleNet(groups=8, scale=0.5), "do not split into 8 groups"),
    (lambda: ShuffleNet(groups=1, scale=0.5, weights="imagenet"), "no published weights"),
])
def test_family_builders_refuse_bad_widths(call, message):
    with pytest.raises(ValueError, match=message):
        call()
