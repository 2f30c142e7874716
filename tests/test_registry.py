import re

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets import applications
from kerasnets.applications._common import FlattenHead, GapHead, build_model


def test_list_models_is_sorted_and_filters():
    names = kerasnets.list_models()
    assert names == sorted(names) and len(names) == len(set(names))
    vgg = kerasnets.list_models("vgg1?")
    assert vgg == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert kerasnets.list_models("VGG16") == ["vgg16"]
    assert kerasnets.list_models("nothing*") == []
    assert set(kerasnets.list_models(family="vgg")) >= {"vgg11", "vgg16_bn"}


def test_unknown_name_lists_closest():
    with pytest.raises(ValueError, match=r"Unknown model name 'vgg61'.*vgg16"):
        kerasnets.create_model("vgg61")
    with pytest.raises(ValueError, match="list_models"):
        kerasnets.get_entry("zzzzzz")


def test_create_model_matches_public_builder():
    a = kerasnets.create_model("vgg11", classes=7, input_shape=(32, 32, 3))
    b = applications.VGG11(classes=7, input_shape=(32, 32, 3))
    assert a.count_params() == b.count_params()
    assert a.output_shape == (None, 7)
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    assert kerasnets.create_model("lenet5", name="student").name == "student"


def test_fixed_spec_keyword_raises_but_same_value_is_accepted():
    from kerasnets.applications.vgg import VARIANTS

    kernels = VARIANTS["vgg16"].spec.kernels
    model = kerasnets.create_model("vgg16", kernels=kernels, input_shape=(32, 32, 3))
    assert model.name == "vgg16"
    with pytest.raises(ValueError, match="VGG16 fixes batch_norm=False"):
        kerasnets.create_model("vgg16", batch_norm=True)


def test_unknown_keyword_is_an_error():
    with pytest.raises(TypeError):
        kerasnets.create_model("vgg11", not_an_option=1)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="minimum is 32x32"):
        applications.VGG11(input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match=r"\(height, width, channels\)"):
        applications.VGG11(input_shape=(64, 64))
    with pytest.raises(ValueError, match="fixed input size"):
        applications.VGG11(input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="pooling must be"):
        applications.VGG11(include_top=False, pooling="mean", input_shape=(32, 32, 3))
    model = applications.VGG11(include_top=False, pooling="max", input_shape=(None, None, 3))
    assert model.output_shape == (None, 512)


def test_model_info_fields_and_flops():
    info = kerasnets.model_info("vgg16")
    assert info["family"] == "vgg"
    assert info["arxiv"] == "1409.1556"
    assert info["params"] == 138_357_544
    assert info["input_shape"] == (224, 224, 3)
    assert info["keras_equivalent"] == "VGG16"
    assert info["builder"] == "kerasnets.applications.VGG16"
    # VGG-16 at 224 px: 15.47 G multiply-adds (the widely quoted 15.5 GMACs).
    assert abs(info["flops"] - 15.47e9) / 15.47e9 < 0.005
    assert "flops" not in kerasnets.model_info("vgg11", flops=False)


def test_input_tensor_is_used():
    import keras

    tensor = keras.Input((40, 40, 3))
    model = applications.VGG11(input_tensor=tensor, include_top=False)
    assert model.inputs[0] is tensor
    assert model.output_shape == (None, 1, 1, 512)


def test_every_builder_has_a_docstring_with_the_reference():
    for name in kerasnets.list_models():
        entry = kerasnets.get_entry(name)
        assert f"{entry.params:,}" in entry.builder.__doc__


def test_builders_are_visible_to_static_tools():
    """kerasnets/applications/__init__.pyi holds every public builder as a `def` with its
    docstring (paper, parameters, input size, weights), equal to what the registry renders."""
    from kerasnets.applications import _stub

    with open(_stub.STUB) as f:
        text = f.read()
    assert text == _stub.render(), "run `python -m kerasnets.applications._stub`"
    defined = re.findall(r"^def (\w+)\(", text, flags=re.M)
    assert defined == applications.__all__ and len(defined) >= len(kerasnets.list_models())


# --- the builder protocol: a family's body and head, the factory's input, top and weights --------

def _toy_body(x, spec, *, name, classes, width=4):
    """A body with an auxiliary classifier: it names `classes`, so the factory passes it."""
    x = keras.layers.Conv2D(width, 3, name="stage1_conv")(x)
    x = keras.layers.Identity(name="stage1_out")(x)
    aux = keras.layers.Dense(classes, name="aux")(keras.layers.GlobalAveragePooling2D()(x))
    return x, [aux]


def _toy_head(x, spec, *, classes, classifier_activation, head_dropout=0.0):
    return GapHead(head_dropout)(x, spec, classes=classes,
                                 classifier_activation=classifier_activation)


def test_factory_hands_each_option_to_the_part_that_names_it():
    def toy(**kwargs):
        return build_model(None, _toy_body, _toy_head, input_shape=(8, 8, 3), min_size=8,
                           name="toy", **kwargs)

    model = toy(classes=3, width=2, head_dropout=0.25)
    assert [tuple(t.shape) for t in model.outputs] == [(None, 3), (None, 3)]
    assert model.get_layer("stage1_conv").filters == 2
    assert model.get_layer("head_dropout").rate == 0.25
    with pytest.raises(TypeError, match="toy.*'depth'"):
        toy(depth=3)
    with pytest.raises(ValueError, match="classes must be a positive integer"):
        toy(classes=0)
    features = toy(include_top=False, pooling="max")
    assert [tuple(t.shape) for t in features.outputs] == [(None, 4), (None, 1000)]


def test_options_may_share_a_name_with_the_factorys_own_arguments():
    """`spec`, `body` and `head` are positional-only, so a family option may be called `head`
    (MobileNetV3 once needed one)."""
    def body(x, spec, *, name, head="conv"):
        return keras.layers.Conv2D(2, 3, name=f"stage1_{head}")(x)

    model = build_model(None, body, GapHead(), head="linear", input_shape=(6, 6, 3), classes=4,
                        min_size=3)
    assert model.get_layer("stage1_linear").filters == 2


def test_flatten_head_needs_a_fixed_size_only_with_the_top():
    def body(x, spec, *, name):
        return keras.layers.Conv2D(2, 3, name="stage1_conv")(x)

    head = FlattenHead(units=(5,), dropout=0.0)
    model = build_model(None, body, head, input_shape=(6, 6, 3), classes=4, min_size=3)
    assert [layer.name for layer in model.layers][-3:] == ["flatten", "fc1", "predictions"]
    assert model.get_layer("fc1").units == 5
    with pytest.raises(ValueError, match="fixed input size"):
        build_model(None, body, head, input_shape=(None, None, 3), min_size=3)
    model = build_model(None, body, head, include_top=False, input_shape=(None, None, 3),
                        min_size=3)
    assert model.output_shape == (None, None, None, 2)


def test_custom_model_builds_a_spec_as_its_variant_is_built():
    from kerasnets.applications._resnet_blocks import ResNetSpec

    spec = kerasnets.get_entry("resnet18").spec
    same = applications.custom_model(spec, like="ResNet18", input_shape=(32, 32, 3))
    assert same.name == "resnet18_custom"
    assert sum(int(np.prod(w.shape)) for w in same.trainable_weights) == 11_689_512
    small = ResNetSpec("bottleneck", (1, 1), widths=(16, 32))
    v15 = applications.custom_model(small, like="resnet50_v1_5", classes=10, name="mine")
    assert (v15.name, v15.output_shape) == ("mine", (None, 10))
    assert not v15.get_layer("stage1_block1_1_conv").use_bias  # the variant's version="1.5"
    v1 = applications.custom_model(small, like="resnet50_v1_5", version="1")
    assert v1.get_layer("stage1_block1_1_conv").use_bias  # the spec is yours: options may change
