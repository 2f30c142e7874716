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
    with pytest.raises(ValueError, match="local path"):
        applications.VGG11(weights="imagenet")
    assert os.path.exists(path)
