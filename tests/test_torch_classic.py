"""The classic families against torchvision (issue #14 §2-3): VGG, AlexNet, SqueezeNet, DenseNet,
GoogLeNet and Inception v3 load torchvision's state dicts and give its logits and stage outputs.

The default suite runs one small check per family (32-75 px, or a small head where torchvision's
Flatten + Dense head needs 224 px); every other mapped variant runs under `-m slow`.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision")

import kerasnets  # noqa: E402
from kerasnets.applications import densenet, googlenet, inception_v3  # noqa: E402
from kerasnets.applications._common import build_model  # noqa: E402
from kerasnets.applications._inception import transform_input  # noqa: E402
from kerasnets.weights import pretrained  # noqa: E402
from kerasnets.weights.convert import load_torch_state_dict  # noqa: E402
from torch_equivalence import (assert_matches_torch, randomize_torch_batchnorm,  # noqa: E402
                               torch_param_count)

RTOL = 1e-4


def _state(torch_model):
    return {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}


def _relative(got, expected):
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def _compare(keras_model, torch_model, size, taps, *, seed=0):
    """Relative differences of the keras layers `taps` (keras name -> torch module path; "" is
    the torch model's output) on one random batch."""
    import keras

    modules = dict(torch_model.named_modules())
    captured, hooks = {}, []
    for name, path in taps.items():
        def hook(module, args, output, name=name):  # a copy: later in-place ops change `output`
            captured[name] = output.detach().numpy().copy()
        hooks.append(modules[path].register_forward_hook(hook))
    x = np.random.default_rng(seed).standard_normal((2, 3, size, size)).astype(np.float32)
    try:
        with torch.no_grad():
            torch_model(torch.from_numpy(x))
    finally:
        for h in hooks:
            h.remove()
    probe = keras.Model(keras_model.input, [keras_model.get_layer(n).output for n in taps])
    outputs = probe(x.transpose(0, 2, 3, 1), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    diffs = {}
    for name, got in zip(taps, outputs):
        expected = captured[name]
        if expected.ndim == 4:
            expected = expected.transpose(0, 2, 3, 1)
        got = np.asarray(got)
        assert got.shape == expected.shape, (name, got.shape, expected.shape)
        assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), f"{name} is degenerate"
        diffs[name] = _relative(got, expected)
    return diffs


class _VGG(torch.nn.Module):
    """torchvision's VGG layout (`features`, `avgpool`, `classifier`) with a free classifier."""

    def __init__(self, config, batch_norm, classifier=None, avgpool=None):
        super().__init__()
        self.features = tv.models.vgg.make_layers(tv.models.vgg.cfgs[config], batch_norm)
        self.avgpool = avgpool or torch.nn.Identity()
        self.classifier = classifier or torch.nn.Identity()

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- VGG ------------------------------------------------------------------------------------------

def test_vgg_bn_features_match_torchvision():
    """vgg11_bn without the top at 32 px: torchvision's `features` (conv, BN, ReLU, pools) layer by
    layer; the flatten head is checked below and at 224 px under -m slow."""
    torch_model = _VGG("A", batch_norm=True).eval()
    randomize_torch_batchnorm(torch_model, 32)
    model = kerasnets.create_model("vgg11_bn", include_top=False, input_shape=(32, 32, 3))
    load_torch_state_dict(model, _state(torch_model), "torchvision")  # fc1 .. predictions skipped
    mapping = pretrained.torch_mapping("vgg11_bn")
    diffs = _compare(model, torch_model, 32, dict(mapping.taps))
    assert set(diffs) == {f"stage{s}_out" for s in range(1, 6)}
    assert max(diffs.values()) <= RTOL, diffs


def test_vgg_flatten_rows_are_permuted_from_torch_order():
    """The first Dense after the flatten reads torch's (c, h, w) rows in Keras' (h, w, c) order:
    at 64 px the last maps are 2x2, a small head (fc_units=16) gives torch's logits only with the
    rows permuted, and clearly different ones without."""
    nn = torch.nn
    head = nn.Sequential(nn.Linear(512 * 2 * 2, 16), nn.ReLU(), nn.Dropout(),
                         nn.Linear(16, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 10))
    torch_model = _VGG("A", batch_norm=False, classifier=head).eval()
    model = kerasnets.create_model("vgg11", input_shape=(64, 64, 3), fc_units=16, classes=10,
                                   classifier_activation=None)
    load_torch_state_dict(model, _state(torch_model), "torchvision")
    taps = {"stage5_out": pretrained.torch_mapping("vgg11").taps["stage5_out"],
            "fc1": "classifier.1", "predictions": ""}
    assert max(_compare(model, torch_model, 64, taps).values()) <= RTOL
    model.get_layer("fc1").set_weights([head[0].weight.detach().numpy().T,
                                        head[0].bias.detach().numpy()])  # unpermuted rows
    assert _compare(model, torch_model, 64, taps)["fc1"] > 1000 * RTOL


VGG = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VGG)
def test_vgg_matches_torchvision_at_224(variant):
    torch_model = getattr(tv.models, variant)()
    assert torch_param_count(torch_model) == kerasnets.get_entry(variant).params
    assert_matches_torch(variant, torch_model, source="torchvision", input_size=224, rtol=RTOL)


# --- AlexNet --------------------------------------------------------------------------------------

def test_alexnet_tv_matches_torchvision():
    """At 64 px the last maps are 1x1: torchvision's AdaptiveAvgPool2d(6) spreads them to 6x6,
    and so does alexnet_tv's `avg_pool`."""
    torch_model = tv.models.alexnet()
    assert torch_param_count(torch_model) == kerasnets.get_entry("alexnet_tv").params
    assert_matches_torch("alexnet_tv", torch_model, source="torchvision", input_size=64, rtol=RTOL)


@pytest.mark.slow
def test_alexnet_tv_matches_torchvision_at_224():
    assert_matches_torch("alexnet_tv", tv.models.alexnet(), source="torchvision", input_size=224,
                         rtol=RTOL)


def test_alexnet_tv_is_a_new_variant():
    """The paper's AlexNet (96 first filters, LRN, 62.4M) is unchanged next to torchvision's."""
    assert kerasnets.get_entry("alexnet").params == 62_378_344
    model = kerasnets.create_model("alexnet_tv", include_top=False, input_shape=(64, 64, 3))
    assert not [layer.name for layer in model.layers if layer.name.endswith("_lrn")]
    assert [model.get_layer(n).filters for n in ("stem_conv", "stage1_block1_conv")] == [64, 192]
    with pytest.raises(ValueError, match="no grouped"):
        kerasnets.create_model("alexnet_tv", groups=2)


# --- SqueezeNet -----------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", [
    "squeezenet1_1", pytest.param("squeezenet1_0", marks=pytest.mark.slow)])
def test_squeezenet_matches_torchvision(variant):
    torch_model = getattr(tv.models, variant)()
    assert torch_param_count(torch_model) == kerasnets.get_entry(variant).params
    assert_matches_torch(variant, torch_model, source="torchvision", input_size=64, rtol=RTOL)


# --- DenseNet -------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", [
    "densenet121", *[pytest.param(v, marks=pytest.mark.slow)
                     for v in ("densenet161", "densenet169", "densenet201")]])
def test_densenet_matches_torchvision(variant):
    torch_model = getattr(tv.models, variant)()
    assert torch_param_count(torch_model) == kerasnets.get_entry(variant).params
    assert_matches_torch(variant, torch_model, source="torchvision", input_size=32, rtol=RTOL)


def test_densenet161_is_torchvisions():
    entry = kerasnets.get_entry("densenet161")
    assert entry.params == tv.models.DenseNet161_Weights.IMAGENET1K_V1.meta["num_params"]
    assert densenet.VARIANTS["densenet161"].spec.bn_epsilon == 1e-5  # torchvision's, not keras'


def test_densenet_mapping_reads_the_published_files_old_names():
    """torchvision's published DenseNet files say `norm.1` / `conv.2` (torchvision renames them
    on load); both spellings map to the same layers."""
    rename = densenet.TORCH_MAPPING.rename
    for new, old in (("norm1", "norm.1"), ("conv2", "conv.2")):
        path = "features.denseblock3.denselayer17.{}"
        assert rename(path.format(new)) == rename(path.format(old)) == \
            f"stage3_block17_{new[-1]}_{'bn' if new.startswith('norm') else 'conv'}"


# --- GoogLeNet and Inception v3 -------------------------------------------------------------------

def test_transform_input_is_torchvisions():
    """The `stem_transform_input` layer turns ImageNet mean/std input into [-1, 1], as
    torchvision's `transform_input` does."""
    import keras

    pixels = np.random.default_rng(0).uniform(size=(2, 3, 5, 5)).astype(np.float32)
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
    normalised = (pixels - mean) / std
    net = tv.models.googlenet(transform_input=True, aux_logits=False, init_weights=True)
    expected = net._transform_input(torch.from_numpy(normalised)).numpy()
    np.testing.assert_allclose(expected, pixels * 2 - 1, atol=1e-5)
    inputs = keras.Input((5, 5, 3))
    got = keras.Model(inputs, transform_input(inputs, name="t"))(normalised.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(np.asarray(got), expected.transpose(0, 2, 3, 1), atol=1e-6)


def _googlenet(**kwargs):
    return tv.models.googlenet(aux_logits=False, transform_input=True, init_weights=True, **kwargs)


def test_googlenet_tv_matches_torchvision():
    torch_model = _googlenet()
    assert torch_param_count(torch_model) == kerasnets.get_entry("googlenet_tv").params
    assert_matches_torch("googlenet_tv", torch_model, source="torchvision", input_size=64,
                         rtol=RTOL)


@pytest.mark.slow
def test_googlenet_tv_matches_torchvision_at_224():
    assert_matches_torch("googlenet_tv", _googlenet(), source="torchvision", input_size=224,
                         rtol=RTOL)


def test_googlenet_tv_side_heads_are_torchvisions_and_not_loaded():
    """aux_logits=True builds torchvision's side heads (adaptive 4x4 pool, any input size) with its
    parameter count; its file's side heads were never trained, so they are not loaded: a model
    that has them says which layer found no tensor."""
    from kerasnets.weights import WeightsMismatchError

    with_aux = tv.models.googlenet(aux_logits=True, init_weights=True)
    model = kerasnets.create_model("googlenet_tv", aux_logits=True, input_shape=(64, 64, 3))
    assert model.output_names == ["predictions", "aux1_predictions", "aux2_predictions"]
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == \
        torch_param_count(with_aux)
    with pytest.raises(WeightsMismatchError, match="aux1_1_conv"):
        load_torch_state_dict(model, _state(with_aux), "torchvision")


def test_googlenet_tv_refuses_lrn_and_its_minimum_is_the_true_one():
    with pytest.raises(ValueError, match="no LRN"):
        kerasnets.create_model("googlenet_tv", lrn=True)
    size = googlenet.TV_MIN_SIZE - 1  # one pixel less: the 2x2/2 pool before 5a has no input
    with pytest.raises(ValueError):
        build_model(googlenet.GoogLeNetSpec(style="torchvision"), googlenet._googlenet,
                    googlenet._head, include_top=False, input_shape=(size, size, 3),
                    name="probe", min_size=1)


def _inception_v3(**kwargs):
    return tv.models.inception_v3(aux_logits=False, transform_input=True, init_weights=True,
                                  **kwargs)


def test_inception_v3_tv_matches_torchvision():
    torch_model = _inception_v3()
    assert torch_param_count(torch_model) == kerasnets.get_entry("inception_v3_tv").params
    assert_matches_torch("inception_v3_tv", torch_model, source="torchvision", input_size=75,
                         rtol=RTOL)


def test_inception_v3_tv_pool_branches_count_the_padding():
    """torchvision's 3x3/1 average pools divide border sums by 9 (count_include_pad); keras'
    InceptionV3 by the pixels inside: the two variants differ exactly there (and in BN's scale)."""
    tv_pool = inception_v3.TV_MODULES[0][0][3][0]
    keras_pool = inception_v3.MODULES[0][0][3][0]
    assert (tv_pool.kind, tv_pool.padding, keras_pool.padding) == ("avg", 1, "same")
    model = kerasnets.create_model("inception_v3_tv", input_shape=(75, 75, 3))
    assert model.get_layer("stage1_block1_4_1_pad").padding == ((1, 1), (1, 1))
    assert model.get_layer("stage1_block1_1_1_bn").scale
    assert not kerasnets.create_model("inception_v3", input_shape=(75, 75, 3)).get_layer(
        "stage1_block1_1_1_bn").scale


@pytest.mark.slow
def test_inception_v3_tv_matches_torchvision_at_299_with_the_side_head_count():
    torch_model = _inception_v3()
    assert_matches_torch("inception_v3_tv", torch_model, source="torchvision", input_size=299,
                         rtol=RTOL)
    model = kerasnets.create_model("inception_v3_tv", aux_logits=True)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == \
        tv.models.Inception_V3_Weights.IMAGENET1K_V1.meta["num_params"]


# --- registrations --------------------------------------------------------------------------------

TORCHVISION_NAMES = {
    **{v: v for v in VGG}, "alexnet": "alexnet_tv", "squeezenet1_0": "squeezenet1_0",
    "squeezenet1_1": "squeezenet1_1", "densenet121": "densenet121", "densenet161": "densenet161",
    "densenet169": "densenet169", "densenet201": "densenet201", "googlenet": "googlenet_tv",
    "inception_v3": "inception_v3_tv",
}


def test_every_torchvision_model_of_the_classic_families_is_registered():
    """Each torchvision builder names its variant; the URL and hash are torchvision's DEFAULT
    weights and the reference count is torchvision's."""
    for name, variant in TORCHVISION_NAMES.items():
        assert pretrained.variant_for("torchvision", name) == variant
        (weights,) = pretrained.torch_weights(variant)
        published = tv.models.get_model_weights(name).DEFAULT
        assert weights.url == published.url
        assert published.url.rsplit("-", 1)[1].startswith(weights.sha256)
        assert weights.top1 == published.meta["_metrics"]["ImageNet-1K"]["acc@1"]
        if name != "inception_v3":  # torchvision counts its side head; the variant has none
            assert kerasnets.get_entry(variant).params == published.meta["num_params"], name
