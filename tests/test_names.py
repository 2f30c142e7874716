"""The naming rule, the aliases, and preprocessing as a verified fact of each variant.

Rule (docs/design.md, "Names"): canonical names are lower snake_case, the network's name as its
paper or torchvision spells it with the depth glued on and every version, size or width after an
underscore; a width multiplier is spelled `x<int>_<fraction>` (torchvision's `x0_5`); the network
as its paper / keras.applications builds it takes the plain name, and a rebuild that follows
another source carries that source as its one suffix, `_tv` or `_timm`.
Every name that resolved before (tests/data/registry_names_2026_12_04.txt, the rule's day, and
tests/data/resolving_names_2026_12_07.txt, this rule's) still resolves; a retired one with a
DeprecationWarning naming its replacement. torchvision's and timm's names for every network we
have (tests/data/zoo_names.txt) resolve.
"""

import os
import re
import sys
import warnings

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets import applications
from kerasnets.zoo import registry
from kerasnets.weights import pretrained

DATA = os.path.join(os.path.dirname(__file__), "data")
OLD_NAMES = os.path.join(DATA, "registry_names_2026_12_04.txt")
RESOLVING = os.path.join(DATA, "resolving_names_2026_12_07.txt")
ZOO_NAMES = os.path.join(DATA, "zoo_names.txt")
# The only old names that now mean another network: the torchvision EfficientNets gave their
# plain names to the keras.applications twins (the paper's network) and took the `_tv` suffix,
# as alexnet_tv, googlenet_tv, mobilenet_v2_tv ... always had.
FLIPPED = {f"efficientnet_b{i}" for i in range(8)} | {f"efficientnet_v2_{s}" for s in "sml"}
RENAMED = {"resnet50v2": "resnet50_v2", "efficientnetb0": "efficientnet_b0",
           "efficientnetv2b0": "efficientnet_v2_b0", "efficientnetv2s": "efficientnet_v2_s",
           "nasnetalarge": "nasnet_large_timm", "efficientnet_b0": "efficientnet_b0",
           "efficientnet_v2_l": "efficientnet_v2_l"}
# retired on 2026-12-07 for the one width spelling and the one source marker
RETIRED = {"mobilenet_025": "mobilenet_x0_25", "mobilenet_050": "mobilenet_x0_5",
           "mobilenet_075": "mobilenet_x0_75", "shufflenet_g3_0_5x": "shufflenet_g3_x0_5",
           "shufflenet_g3_1_5x": "shufflenet_g3_x1_5", "shufflenet_g3_2x": "shufflenet_g3_x2_0",
           "squeezenext23_1x": "squeezenext23_x1_0", "squeezenext23_1_5x": "squeezenext23_x1_5",
           "squeezenext23_2x": "squeezenext23_x2_0"}
# retired registry names that are timm's own names: they resolve (as timm's) without a warning
TIMM_NAMED = {"legacy_xception": "xception_timm", "legacy_seresnet18": "seresnet18_timm",
              "legacy_seresnet34": "seresnet34_timm"}
TOKEN = r"[a-z0-9]+"
SOURCES = ("_tv", "_timm")


def _lines(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip() and not line.startswith("#")]


def old_names():
    return _lines(OLD_NAMES)


def _quiet_entry(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return kerasnets.get_entry(name)


def _builder(name):
    """A builder name as it is today (a retired builder name becomes its replacement)."""
    return registry._RETIRED_BUILDERS.get(name, name)


def test_every_old_name_resolves_to_the_same_builder():
    moved = []
    for name, builder in old_names():
        entry = _quiet_entry(name)
        if name in FLIPPED:
            assert entry.name == name and entry.keras_equivalent, name
            assert kerasnets.get_entry(name + "_tv").builder_name == builder
            continue
        assert entry.builder_name == _builder(builder), (name, entry.name)
        if entry.name != name:
            moved.append((name, entry.name))
    assert {old: new for old, new in moved if old in RENAMED} == {
        old: new for old, new in RENAMED.items() if old not in FLIPPED}
    assert {old: new for old, new in moved if old in RETIRED or old in TIMM_NAMED} == {
        **RETIRED, **TIMM_NAMED}
    assert len(moved) == 3 + 8 + 7 + 1 + len(RETIRED) + len(TIMM_NAMED)


def test_every_name_that_resolved_before_this_rule_still_resolves():
    names = _lines(RESOLVING)
    assert len(names) > 250
    for name, builder in names:
        entry = _quiet_entry(name)
        assert entry.builder_name == _builder(builder), (name, entry.name)


@pytest.mark.parametrize("old, new", sorted(RETIRED.items()))
def test_a_retired_name_warns_naming_its_replacement(old, new):
    with pytest.warns(DeprecationWarning, match=f"'{old}' is retired; use '{new}'"):
        assert kerasnets.get_entry(old).name == new
    with pytest.warns(DeprecationWarning, match=f"retired; use '{new}'"):
        assert registry.resolve(old.upper().replace("_", "-")) == new


def test_a_retired_builder_warns_naming_its_replacement():
    with pytest.warns(DeprecationWarning, match="MobileNet_025 is retired; use MobileNet_x0_25"):
        assert applications.MobileNet_025 is applications.MobileNet_x0_25
    with pytest.warns(DeprecationWarning, match="LegacyXception is retired; use XceptionTimm"):
        from kerasnets.applications import LegacyXception
    assert LegacyXception is applications.XceptionTimm
    with pytest.raises(AttributeError, match="NoSuchNet"):
        applications.NoSuchNet


def test_a_name_whose_meaning_changed_warns():
    with pytest.warns(DeprecationWarning, match="torchvision's is 'efficientnet_b3_tv'"):
        assert kerasnets.get_entry("efficientnet_b3").keras_equivalent == "EfficientNetB3"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        kerasnets.get_entry("resnet50_v2")  # an unchanged name never warns


def test_canonical_names_follow_the_rule():
    names = kerasnets.list_models()
    for name in names:
        assert re.fullmatch(rf"{TOKEN}(_{TOKEN})*", name), name
        assert not re.search(r"[a-z]v\d", name.removeprefix("squeezenext")), (
            f"{name}: a version goes after an underscore (mobilenet_v2, resnet50_v2)")
        # widths: one spelling, x<int>_<fraction> (shufflenet_v2_x0_5, mobilenet_x0_25)
        assert not re.search(r"_\d+(_\d+)?x(_|$)|_0\d+$", name), (
            f"{name}: a width multiplier is spelled x<int>_<fraction>")
        for width in re.findall(r"(?:^|_)x(\d\w*)", name):
            assert re.fullmatch(r"\d_\d+", width), name
        # one source marker: a suffix _tv / _timm, beside the network it rebuilds
        assert not name.startswith("legacy_"), f"{name}: the source is a suffix (_timm)"
        entry = kerasnets.get_entry(name)
        if entry.keras_equivalent:  # the paper's / keras.applications' network: the plain name
            assert not name.endswith(SOURCES), name
        for suffix in SOURCES:
            if name.endswith(suffix):
                assert name.removesuffix(suffix) in names, name
        # builders: CamelCase of the name (a source suffix as TV / Timm)
        builder = entry.builder_name
        assert re.fullmatch(r"[A-Z][A-Za-z0-9_]*", builder), builder
        assert not builder.startswith("Legacy"), builder


def test_documented_torchvision_and_timm_names_resolve():
    lines = _lines(ZOO_NAMES)
    assert len(lines) >= 118
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for name, target in lines:
            assert kerasnets.get_entry(name).name == target, name
            bare = name.split("/", 1)[1]
            if bare not in kerasnets.list_models():  # bare where no canonical name claims it
                assert kerasnets.get_entry(bare).name == target, bare
    for typed in ("mobilenetv2_100", "tf_efficientnet_lite0", "tf_efficientnetv2_s"):
        assert kerasnets.get_entry(typed).name in {"mobilenet_v2_tv", "efficientnet_lite0",
                                                   "efficientnet_v2_s"}


def test_no_two_names_collide_once_case_and_underscores_are_ignored():
    squashed = {}
    for name in kerasnets.list_models():
        assert registry._squash(name) not in squashed, (name, squashed.get(registry._squash(name)))
        squashed[registry._squash(name)] = name
    for alias, target in registry._ALIASES.items():
        assert alias not in kerasnets.list_models(), alias
        assert squashed.get(registry._squash(alias), target) == target, (alias, target)


@pytest.mark.parametrize("typed, expected", [
    ("mobilenetv2", "mobilenet_v2"), ("MobileNetV2", "mobilenet_v2"),
    ("ResNet50V2", "resnet50_v2"), ("resnet50v2", "resnet50_v2"),
    ("EfficientNetB0", "efficientnet_b0"), ("efficientnet-b0", "efficientnet_b0"),
    ("ResNeXt50", "resnext50_32x4d"), ("MobileNet-V3-Large", "mobilenet_v3_large"),
    ("torchvision/resnet50", "resnet50_v1_5"), ("torchvision/efficientnet_b0", "efficientnet_b0_tv"),
    ("torchvision/mobilenet_v2", "mobilenet_v2_tv"), ("timm/seresnet50", "seresnet50_timm"),
    ("seresnet50.a1_in1k", "seresnet50_timm"), ("nasnetalarge", "nasnet_large_timm"),
    ("timm/legacy_xception", "xception_timm"), ("inception_resnet_v2", "inception_resnet_v2"),
    ("mobilenetv2_100", "mobilenet_v2_tv"), ("tf_efficientnet_lite0", "efficientnet_lite0"),
    ("timm/resnet50", "resnet50_v1_5"), ("MobileNet-x0.25", "mobilenet_x0_25"),
])
def test_names_users_type_resolve(typed, expected):
    assert kerasnets.get_entry(typed).name == expected


def test_other_zoos_names_resolve_to_the_variant_holding_their_weights():
    checked = 0
    for name in kerasnets.list_models(pretrained=True):
        for weights in pretrained.torch_weights(name):
            if weights.source == "package":
                continue
            model = weights.model.split(".")[0]
            assert kerasnets.get_entry(f"{weights.source}/{model}").name == name
            assert pretrained.variant_for(weights.source, model) == name
            checked += 1
    assert checked >= 60


def test_model_info_lists_aliases_and_list_models_only_canonical_names():
    info = kerasnets.model_info("resnet50_v2", flops=False)
    assert "resnet50v2" in info["aliases"]
    assert "torchvision/resnet50" in kerasnets.model_info("resnet50_v1_5", flops=False)["aliases"]
    assert "resnext50" in kerasnets.model_info("resnext50_32x4d", flops=False)["aliases"]
    names = kerasnets.list_models()
    assert "resnet50_v2" in names and "resnet50v2" not in names and "efficientnetb0" not in names


def test_ambiguous_or_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown model name 'resnet'. Did you mean: resnet"):
        kerasnets.get_entry("resnet")
    with pytest.raises(ValueError, match="already resolves to"):
        registry.register_alias("resnext50", "resnet50")
    with pytest.raises(ValueError, match="canonical name of another model"):
        registry.register_alias("resnet18", "resnet50")


# --- preprocessing: declared per variant, verified against its sources -----------------------

def _keras_preprocess(keras_name):
    module = sys.modules[getattr(keras.applications, keras_name).__module__]
    return module.preprocess_input


def test_every_variant_declares_its_preprocessing():
    for name in kerasnets.list_models():
        entry = kerasnets.get_entry(name)
        assert entry.preprocessing in registry.PREPROCESSING, name


@pytest.mark.parametrize("name", [n for n in kerasnets.list_models()
                                  if kerasnets.get_entry(n).keras_equivalent])
def test_keras_twins_preprocess_as_keras_applications(name):
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    theirs = np.asarray(_keras_preprocess(kerasnets.get_entry(name).keras_equivalent)(pixels.copy()))
    np.testing.assert_allclose(np.asarray(kerasnets.preprocess_input(name, pixels)), theirs,
                               rtol=1e-5, atol=1e-5)


def test_torch_ports_preprocess_as_their_checkpoints():
    checked = 0
    for name in kerasnets.list_models():
        entry = kerasnets.get_entry(name)
        checkpoints = pretrained.torch_weights(name)
        if checkpoints and not entry.keras_equivalent:
            assert entry.preprocessing == checkpoints[0].preprocessing, name
            checked += 1
    assert checked >= 60


def test_model_info_names_each_checkpoints_preprocessing():
    # vgg16 loads Keras' file (caffe: BGR, mean subtracted) and torchvision's (torch: RGB / 255,
    # ImageNet mean and std): each source's own normalisation is reported
    info = kerasnets.model_info("vgg16", flops=False)
    assert info["pretrained_preprocessing"] == {"keras.applications:VGG16": "caffe",
                                                "torchvision:vgg16": "torch"}
    assert info["preprocessing"] == "caffe"
    for name in kerasnets.list_models(pretrained=True):
        per_source = kerasnets.model_info(name, flops=False)["pretrained_preprocessing"]
        assert list(per_source) == pretrained.pretrained_sources(name), name
        assert set(per_source.values()) <= set(registry.PREPROCESSING), name
    assert kerasnets.model_info("resnet20_cifar", flops=False)["pretrained_preprocessing"] == {}
