import re

import pytest

import kerasnets
from kerasnets import applications


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
