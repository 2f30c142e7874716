"""Network in Network and All-CNN: counts against the published figures, feature-map sizes
against the papers' / released models' tables, the class-map head, Caffe's pooling, true minima."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnets
from kerasnets.applications import allcnn, nin
from kerasnets.applications._chain import class_map_head
from kerasnets.applications._common import build_model


def conv_params(table, in_channels=3):
    """Weights + biases of a chain of convolutions given as (kernel, filters) rows."""
    total = 0
    for kernel, filters in table:
        total += (kernel * kernel * in_channels + 1) * filters
        in_channels = filters
    return total


# Transcribed from the released NIN-ImageNet prototxt and the CIFAR-10 NIN (paper section 4.2).
NIN_IMAGENET = [(11, 96), (1, 96), (1, 96), (5, 256), (1, 256), (1, 256), (3, 384), (1, 384),
                (1, 384), (3, 1024), (1, 1024), (1, 1000)]
NIN_CIFAR10 = [(5, 192), (1, 160), (1, 96), (5, 192), (1, 192), (1, 192), (3, 192), (1, 192),
               (1, 10)]
# All-CNN paper, Table 1 (model C) and Table 2 (derived models); pooling has no parameters.
ALLCNN_C = [(3, 96)] * 3 + [(3, 192)] * 4 + [(1, 192), (1, 10)]
MODEL_C = [(3, 96)] * 2 + [(3, 192)] * 3 + [(1, 192), (1, 10)]

# name: (count of the layer table, published figure, half of its last rounding digit)
PUBLISHED = {
    "nin": (conv_params(NIN_IMAGENET), 7.5e6, 0.1e6),  # seed: "7.5 Million"; exact is 7.595M
    "nin_cifar": (conv_params(NIN_CIFAR10), 0.97e6, 0.005e6),
    "allcnn_c": (conv_params(ALLCNN_C), 1.4e6, 0.05e6),  # Table 3; Table 4 says 1.3M
    "convpool_cnn_c": (conv_params(ALLCNN_C), 1.4e6, 0.05e6),  # Table 3
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_exact_counts_match_layer_tables_and_published_figures(name):
    exact, published, tolerance = PUBLISHED[name]
    entry = kerasnets.get_entry(name)
    assert entry.params == exact, (entry.params, exact)
    assert abs(exact - published) < tolerance, (exact, published)


def test_nin_imagenet_size_on_disk_matches_the_seed():
    # "NIN 7.5 Million (29 Megabytes)": float32 weights of the released model
    assert round(kerasnets.get_entry("nin").params * 4 / 2**20) == 29


def test_model_c_counts():
    # pooling / striding carries no parameters: model C and Strided-CNN-C share their layers
    assert kerasnets.get_entry("base_cnn_c").params == conv_params(MODEL_C) == 954_730
    assert kerasnets.get_entry("strided_cnn_c").params == conv_params(MODEL_C)


def trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def spatial(model, name):
    return tuple(model.get_layer(name).output.shape[1:3])


def test_nin_imagenet_feature_maps():
    """Caffe at 224: 54 -> pool 27 -> 13 -> 6 (ceil-mode pooling), 6x6 class maps."""
    model = kerasnets.create_model("nin")
    assert trainable(model) == 7_595_176
    assert spatial(model, "stage1_block1_conv") == (54, 54)
    sizes = [spatial(model, f"stage{s}_out") for s in (1, 2, 3, 4)]
    assert sizes == [(27, 27), (13, 13), (6, 6), (6, 6)]
    assert model.get_layer("classifier_conv").output.shape[1:] == (6, 6, 1000)
    assert model.get_layer("stage4_out").output.shape[-1] == 1024


@pytest.mark.parametrize("name, sizes, channels", [
    ("nin_cifar", [16, 8, 8], [96, 192, 192]),
    ("allcnn_c", [16, 8, 6], [96, 192, 192]),  # Table 2: "global averaging over 6x6"
    ("convpool_cnn_c", [16, 8, 6], [96, 192, 192]),
    ("strided_cnn_c", [16, 8, 6], [96, 192, 192]),
    ("base_cnn_c", [16, 8, 6], [96, 192, 192]),
])
def test_cifar_feature_maps(name, sizes, channels):
    model = kerasnets.create_model(name)
    for s, (size, width) in enumerate(zip(sizes, channels), start=1):
        assert model.get_layer(f"stage{s}_out").output.shape[1:] == (size, size, width), s
    assert model.get_layer("classifier_conv").output.shape[1:] == (sizes[-1], sizes[-1], 10)


@pytest.mark.parametrize("name, size", [("nin", 64), ("nin_cifar", 32), ("allcnn_c", 32),
                                        ("base_cnn_c", 32)])
def test_classes_changes_only_the_class_map_conv(name, size):
    shape = (size, size, 3)

    def weight_shapes(classes):
        model = kerasnets.create_model(name, classes=classes, input_shape=shape)
        assert model.output_shape == (None, classes)
        return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers}

    a, b = weight_shapes(7), weight_shapes(13)
    assert a.keys() == b.keys()
    changed = sorted(n for n in a if a[n] != b[n])
    assert changed == ["classifier_conv"], changed
    assert b["classifier_conv"][0][-1] == 13


@pytest.mark.parametrize("name, width", [("nin", 1024), ("nin_cifar", 192), ("allcnn_c", 192)])
def test_include_top_false_returns_features_before_the_class_maps(name, width):
    entry = kerasnets.get_entry(name)
    shape = (entry.test_size,) * 2 + (3,)
    model = kerasnets.create_model(name, include_top=False, input_shape=shape)
    assert model.layers[-1].name.endswith("_out")
    assert model.output_shape[-1] == width and len(model.output_shape) == 4
    assert not any(layer.name.startswith("classifier") for layer in model.layers)
    for pooling in ("avg", "max"):
        pooled = kerasnets.create_model(name, include_top=False, pooling=pooling,
                                        input_shape=shape)
        assert pooled.output_shape == (None, width)


def test_head_is_relu_class_maps_then_average_then_activation():
    model = kerasnets.create_model("allcnn_c", classifier_activation=None)
    names = [layer.name for layer in model.layers[-4:]]
    assert names == ["classifier_conv", "classifier_relu", "avg_pool", "predictions"]
    x = tf.random.uniform((2, 32, 32, 3))
    logits = model(x)
    maps = keras.Model(model.input, model.get_layer("classifier_relu").output)(x)
    np.testing.assert_allclose(logits, tf.reduce_mean(maps, axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert float(tf.reduce_min(logits)) >= 0.0  # the released models keep the ReLU
    plain = kerasnets.create_model("allcnn_c", class_map_activation=None)
    assert "classifier_relu" not in [layer.name for layer in plain.layers]
    probs = kerasnets.create_model("nin_cifar")(x)
    np.testing.assert_allclose(np.sum(probs, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name, rates", [
    ("nin", {"stage4_dropout": 0.5}),
    ("nin_cifar", {"stage2_dropout": 0.5, "stage3_dropout": 0.5}),
    ("allcnn_c", {"stage1_dropout": 0.2, "stage2_dropout": 0.5, "stage3_dropout": 0.5}),
    ("base_cnn_c", {"stage1_dropout": 0.2, "stage2_dropout": 0.5, "stage3_dropout": 0.5}),
])
def test_dropout_placement(name, rates):
    size = kerasnets.get_entry(name).test_size
    model = kerasnets.create_model(name, input_shape=(size, size, 3))
    found = {layer.name: layer.rate for layer in model.layers
             if isinstance(layer, keras.layers.Dropout)}
    assert found == rates
    options = {"dropout": 0.0, "input_dropout": 0.0} if "cnn" in name else {"dropout": 0.0}
    bare = kerasnets.create_model(name, input_shape=(size, size, 3), **options)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in bare.layers)


def caffe_pool_reference(x, kind):
    """Caffe's PoolingLayer, kernel 3, stride 2, pad 0: ceil-mode output, edge windows clipped
    (the average divides by the clipped window's size)."""
    h, w = x.shape[1:3]
    oh, ow = math.ceil((h - 3) / 2) + 1, math.ceil((w - 3) / 2) + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]), x.dtype)
    for i in range(oh):
        for j in range(ow):
            window = x[:, 2 * i:min(2 * i + 3, h), 2 * j:min(2 * j + 3, w)]
            out[:, i, j] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape", [(8, 8), (7, 7), (6, 9), (2, 2), (54, 54), (27, 27)])
def test_caffe_pool_matches_caffe(kind, shape):
    x = np.random.default_rng(0).uniform(0, 1, size=(2,) + shape + (3,)).astype("float32")
    inputs = keras.Input(shape + (3,))
    model = keras.Model(inputs, nin.caffe_pool(inputs, kind, name="pool"))
    expected = caffe_pool_reference(x, kind)
    got = model(x).numpy()
    assert got.shape == expected.shape
    if kind == "avg" and shape[0] % 2 != shape[1] % 2:
        return  # mixed parity: documented as approximate at the edge for averages
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("module, body, name", [
    (nin, nin._nin, "nin"), (nin, nin._nin, "nin_cifar"),
    (allcnn, allcnn._allcnn, "allcnn_c"), (allcnn, allcnn._allcnn, "base_cnn_c"),
])
def test_registered_minimum_is_the_true_minimum(module, body, name):
    """Without the registry's check, min_size builds and min_size - 1 leaves no pixel."""
    entry = kerasnets.get_entry(name)
    spec = module.VARIANTS[name].spec

    def build(size):
        return build_model(spec, body, class_map_head, input_shape=(size, size, 3), classes=10,
                           name=name, default_shape=entry.input_shape, min_size=1)

    model = build(entry.min_size)
    assert model.get_layer("classifier_conv").output.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match="zero or negative"):
        build(entry.min_size - 1)


def test_nin_dynamic_size_features():
    model = kerasnets.create_model("nin", include_top=False, input_shape=(None, None, 3))
    assert model(tf.zeros((1, 224, 224, 3))).shape == (1, 6, 6, 1024)
    # Caffe's sizes: 100 x 80 -> conv1 23 x 18 -> 11 x 9 -> 5 x 4 -> 2 x 2
    assert model(tf.zeros((1, 100, 80, 3))).shape == (1, 2, 2, 1024)
