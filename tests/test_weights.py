import os

import h5py
import keras
import numpy as np
import pytest

from kerasnets import applications
from kerasnets.weights import WeightsMismatchError, load_weights, sha256sum

SHAPE = (32, 32, 3)


def _pair():
    src = applications.VGG11(input_shape=SHAPE, classes=4)
    dst = applications.VGG11(input_shape=SHAPE, classes=4)
    return src, dst


def _same_outputs(a, b):
    x = np.random.default_rng(0).uniform(size=(2,) + SHAPE).astype("float32")
    np.testing.assert_allclose(a.predict(x, verbose=0), b.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_round_trip_through_builder_argument(tmp_path, suffix):
    src, _ = _pair()
    path = str(tmp_path / f"w{suffix}")
    src.save_weights(path) if suffix == ".weights.h5" else src.save(path)
    dst = applications.VGG11(input_shape=SHAPE, classes=4, weights=path)
    _same_outputs(src, dst)


def test_legacy_h5_as_keras_applications_publishes(tmp_path):
    """keras.applications' published files are legacy .h5: write one the same way and load it."""
    from keras.src.legacy.saving import legacy_h5_format

    reference = keras.applications.VGG16(weights=None, input_shape=SHAPE)
    path = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    ours = applications.VGG16(input_shape=SHAPE, weights=path)
    _same_outputs(reference, ours)


def test_mismatch_names_file_and_first_layer(tmp_path):
    src = applications.VGG11(input_shape=SHAPE, classes=4)
    path = str(tmp_path / "four.weights.h5")
    src.save_weights(path)
    with pytest.raises(WeightsMismatchError, match=r"four\.weights\.h5.*'predictions'"):
        applications.VGG11(input_shape=SHAPE, classes=5, weights=path)
    keras_path = str(tmp_path / "vgg11.keras")
    src.save(keras_path)
    with pytest.raises(WeightsMismatchError, match=r"vgg11\.keras.*'stage1_block2_conv'"):
        applications.VGG13(input_shape=SHAPE, classes=4, weights=keras_path)


def test_nothing_is_assigned_on_mismatch(tmp_path):
    src = applications.VGG11(input_shape=SHAPE, classes=4)
    path = str(tmp_path / "vgg11.keras")
    src.save(path)
    dst = applications.VGG11(input_shape=SHAPE, classes=5)
    before = [w.numpy().copy() for w in dst.weights]
    with pytest.raises(WeightsMismatchError):
        load_weights(dst, path)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, dst.weights))


def test_missing_file_bad_hash_and_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.weights.h5"):
        applications.VGG11(input_shape=SHAPE, weights=str(tmp_path / "nowhere.weights.h5"))
    model = applications.VGG11(input_shape=SHAPE, classes=2)
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    assert len(sha256sum(path)) == 64
    load_weights(model, path, sha256=sha256sum(path))
    with pytest.raises(ValueError, match="sha256"):
        load_weights(model, path, sha256="0" * 64)
    other = str(tmp_path / "weights.bin")
    with open(other, "wb") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match="Unknown weights format"):
        load_weights(model, other)
    with pytest.raises(ValueError, match="has no published ImageNet weights|local path"):
        applications.VGG11_LRN(weights="imagenet")   # no source publishes VGG-A with LRN
    assert os.path.exists(path)


# ----------------------------------------------------------------------------- weights="imagenet"

def _keras_sources() -> str:
    import glob

    folder = os.path.dirname(keras.src.applications.resnet.__file__)
    return "".join(open(p).read() for p in sorted(glob.glob(os.path.join(folder, "*.py"))))


def test_published_table_matches_keras_and_the_registry():
    import kerasnets
    from kerasnets.weights import PUBLISHED

    text = _keras_sources()
    for name, published in PUBLISHED.items():
        assert hasattr(keras.applications, name), name
        for md5 in (published.top_md5, published.notop_md5):
            assert md5 is None or f'"{md5}"' in text, (name, md5)
        assert published.base.rstrip("/").split("/")[-1] in text, name
    equivalents = {kerasnets.get_entry(n).keras_equivalent for n in kerasnets.list_models()}
    assert equivalents - {None} <= set(PUBLISHED)
    assert PUBLISHED["ResNet50"].file(False) == (
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "4d473c1dd8becc155b73f8504c6f6626")
    assert PUBLISHED["MobileNet"].file(True, 160)[0] == "mobilenet_1_0_160_tf.h5"
    assert PUBLISHED["MobileNet"].file(True, 32)[0] == "mobilenet_1_0_224_tf.h5"


def _publish(reference, path):
    """Write `reference`'s weights the way keras.applications' files are: legacy HDF5, one
    group per layer in order, attributes `layer_names` / `weight_names`."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    return path


@pytest.fixture
def fake_download(tmp_path, monkeypatch):
    """keras.utils.get_file answered from local files; records what was asked for."""
    from kerasnets.weights import keras_files as weights

    files, calls = {}, []

    def get_file(fname, origin, cache_subdir="datasets", file_hash=None, **kwargs):
        calls.append((fname, origin, cache_subdir, file_hash))
        return files[fname]

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    monkeypatch.setattr(weights, "_keras_cache_dir", lambda: str(tmp_path / "cache"))
    monkeypatch.setattr("kerasnets.utils.network_available", lambda *a, **k: True)
    return files, calls


@pytest.mark.parametrize("include_top", [False, True])
def test_imagenet_loads_keras_published_h5_into_resnet50(tmp_path, fake_download, include_top):
    from conftest import randomize_weights
    from kerasnets.weights import PUBLISHED

    files, calls = fake_download
    reference = keras.applications.ResNet50(weights=None, include_top=include_top,
                                            input_shape=SHAPE, classifier_activation=None)
    randomize_weights(reference)
    fname, url, md5 = PUBLISHED["ResNet50"].file(include_top)
    files[fname] = _publish(reference, str(tmp_path / fname))
    ours = applications.ResNet50(weights="imagenet", include_top=include_top, input_shape=SHAPE,
                                 classifier_activation=None)
    assert calls == [(fname, url, "models", md5)]
    x = np.random.default_rng(0).uniform(0, 255, size=(2,) + SHAPE).astype("float32")
    want = reference.predict(x, verbose=0)
    assert np.std(want) > 1e-3                   # not a degenerate output
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


def test_imagenet_backbone_of_a_transfer_classifier(tmp_path, fake_download):
    from conftest import randomize_weights
    from kerasnets import transfer
    from kerasnets.weights import PUBLISHED

    files, calls = fake_download
    reference = keras.applications.MobileNet(weights=None, include_top=False, input_shape=SHAPE)
    randomize_weights(reference)
    fname = PUBLISHED["MobileNet"].file(False, SHAPE[0])[0]
    files[fname] = _publish(reference, str(tmp_path / fname))
    model = transfer.build_classifier("mobilenet", 5, input_shape=SHAPE, weights="imagenet")
    assert calls[0][0] == "mobilenet_1_0_224_tf_no_top.h5"
    features = keras.Model(model.input, model.get_layer(transfer.BACKBONE_OUT).output)
    x = np.random.default_rng(0).uniform(-1, 1, size=(2,) + SHAPE).astype("float32")
    np.testing.assert_allclose(features.predict(x, verbose=0), reference.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-4)


def test_imagenet_offline_fails_fast_saying_how_to_pass_a_file(tmp_path, monkeypatch):
    import time

    from kerasnets.weights import keras_files as weights
    from kerasnets.weights import WeightsUnavailableError, imagenet_weights

    monkeypatch.setattr(weights, "_keras_cache_dir", lambda: str(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")   # a closed port: no route out
    start = time.time()
    with pytest.raises(WeightsUnavailableError,
                       match=r"resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5.*no network"
                             r".*pass its local path \(weights='/path/to/resnet50_weights"):
        applications.ResNet50(weights="imagenet", include_top=False)
    assert time.time() - start < 10
    with pytest.raises(ValueError, match="classes=1000"):
        imagenet_weights("resnet50", include_top=True, classes=10)
    with pytest.raises(ValueError, match="no published keras.applications weights.*resnet50"):
        imagenet_weights("resnet18", include_top=False)
