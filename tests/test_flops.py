"""kerasnets.zoo.flops: per-layer arithmetic on hand-computed layers, graph traversal, and a
cross-check against TensorFlow's profiler (which counts 2 FLOPs per multiply-add)."""

import re

import keras
import pytest
import tensorflow as tf
from keras import layers

import kerasnets
from kerasnets.zoo.flops import count_flops, format_flops
from kerasnets.layers import GroupedConv2D


def small_model():
    inputs = keras.Input((16, 16, 8))
    x = GroupedConv2D(16, 3, groups=4, padding="same", name="gconv")(inputs)
    x = layers.Conv2D(16, 3, groups=4, padding="same", name="kgconv")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    x = layers.SeparableConv2D(24, 3, strides=2, depth_multiplier=2, name="sep")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, name="tconv")(x)
    x = layers.Reshape((-1, 8), name="reshape")(x)
    x = layers.Conv1D(5, 3, name="c1d")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Dense(7, name="dense")(x)
    return keras.Model(inputs, x)


def test_per_layer_arithmetic():
    total, table = count_flops(small_model(), per_layer=True)
    expected = {
        "gconv": 16 * 16 * 16 * 9 * (8 // 4),  # out positions x out channels x k^2 x in/groups
        "kgconv": 16 * 16 * 16 * 9 * (16 // 4),
        "dw": 14 * 14 * 32 * 9,  # valid 3x3 on 16x16, 16 channels x multiplier 2
        "sep": 6 * 6 * 32 * 2 * 9 + 6 * 6 * 32 * 2 * 24,  # depthwise + pointwise, 14 -> 6
        "tconv": 6 * 6 * 24 * 9 * 8,  # each input pixel scatters a 3x3x8 patch
        "c1d": 167 * 5 * 3 * 8,  # 13 x 13 = 169 positions -> 167
        "dense": 167 * 5 * 7,  # applied at every position
    }
    assert table == expected
    assert total == sum(expected.values())


def test_grouped_conv2d_counts_like_conv2d_groups():
    inputs = keras.Input((10, 10, 32))
    ours = GroupedConv2D(64, 3, groups=8, name="ours")(inputs)
    keras_groups = layers.Conv2D(64, 3, groups=8, name="keras")(inputs)
    dense = layers.Conv2D(64, 3, name="dense")(inputs)
    _, table = count_flops(keras.Model(inputs, [ours, keras_groups, dense]), per_layer=True)
    assert table["ours"] == table["keras"] == table["dense"] // 8 == 8 * 8 * 64 * 9 * 4


def test_channels_first_layers():
    last = keras.Input((12, 12, 6))
    first = keras.Input((6, 12, 12))
    a = count_flops(keras.Model(last, layers.Conv2D(4, 3)(last)))
    b = count_flops(keras.Model(first, layers.Conv2D(4, 3, data_format="channels_first")(first)))
    c = count_flops(keras.Model(first, layers.SeparableConv2D(
        4, 3, data_format="channels_first")(first)))
    assert a == b == 10 * 10 * 4 * 9 * 6
    assert c == 10 * 10 * 6 * 9 + 10 * 10 * 6 * 4


def test_sequential_counts_each_layer_once():
    """A Sequential rebuilds its graph (on `build`, `add`, ...); old calls must not count."""
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3), layers.Flatten(),
                              layers.Dense(2)])
    model.build((None, 8, 8, 3))
    model.add(layers.Dense(3))
    assert count_flops(model) == 6 * 6 * 4 * 27 + 144 * 2 + 2 * 3


def test_only_this_models_graph_counts():
    conv = layers.Conv2D(4, 3, name="shared")
    small, large = keras.Input((8, 8, 3)), keras.Input((32, 32, 3))
    small_model = keras.Model(small, conv(small))
    keras.Model(large, conv(large))  # the same layer in another model
    assert count_flops(small_model) == 6 * 6 * 4 * 27


def test_nested_model_counted_per_call():
    inner = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, name="c")],
                             name="inner")
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, layers.Add()([inner(inputs), inner(inputs)]))
    total, table = count_flops(outer, per_layer=True)
    assert table == {"inner/c": 2 * 6 * 6 * 4 * 27} and total == table["inner/c"]


def test_unknown_size_and_subclassed_models_raise():
    inputs = keras.Input((None, None, 3))
    with pytest.raises(ValueError, match="static input size"):
        count_flops(keras.Model(inputs, layers.Conv2D(4, 3)(inputs)))

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="no layer graph"):
        count_flops(Sub())


def vgg16_macs(size=224, classes=1000):
    """VGG16 by hand: 13 'same' 3x3 convolutions in five stages, then 3 fully connected."""
    macs, channels = 0, 3
    for stage, (width, depth) in enumerate(zip((64, 128, 256, 512, 512), (2, 2, 3, 3, 3))):
        side = size // 2 ** stage
        for _ in range(depth):
            macs += side * side * width * 9 * channels
            channels = width
    flat = (size // 32) ** 2 * 512
    return macs + flat * 4096 + 4096 * 4096 + 4096 * classes


def test_vgg16_224_is_15_47_gmacs():
    macs = count_flops(kerasnets.create_model("vgg16"))
    assert macs == vgg16_macs() == 15_470_264_320
    assert format_flops(macs) == "15.5 G" and round(macs / 1e9, 2) == 15.47


# --- cross-check with TensorFlow's profiler -----------------------------------------------------

def profiler_flops(model, shape):
    """(all FLOPs, {layer name: Conv2D + MatMul FLOPs}) of the profiler on a frozen concrete
    function of `model` at batch 1."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    fn = tf.function(lambda x: model(x, training=False))
    graph = convert_variables_to_constants_v2(
        fn.get_concrete_function(tf.TensorSpec((1,) + shape, tf.float32))).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(),
                                         cmd="scope", options=options)
    names = {layer.name for layer in model.layers}
    by_layer, stack = {}, list(info.children)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.float_ops and graph.get_operation_by_name(node.name).type in ("Conv2D", "MatMul"):
            scope = node.name.split("/")[1]  # "<model>/<layer>[_n]/.../<op>"
            layer = scope if scope in names else re.sub(r"_\d+$", "", scope)
            by_layer[layer] = by_layer.get(layer, 0) + node.float_ops
    return info.total_float_ops, by_layer


def check_against_profiler(model, shape, extras=0.01):
    ours, table = count_flops(model, per_layer=True)
    total, by_layer = profiler_flops(model, shape)
    assert by_layer == {name: 2 * macs for name, macs in table.items()}
    # the profiler also counts bias adds, pooling and softmax: a fraction of a percent in CNNs
    assert 2 * ours <= total < 2 * ours * (1 + extras), (2 * ours, total)
    return ours, total


@pytest.mark.parametrize("name, size", [("vgg11", 32), ("nin_cifar", 32), ("allcnn_c", 32),
                                        ("nin", 224)])
def test_matches_tensorflow_profiler(name, size):
    model = kerasnets.create_model(name, input_shape=(size, size, 3))
    check_against_profiler(model, (size, size, 3))


def test_grouped_conv2d_matches_profiler():
    """The profiler sees GroupedConv2D's per-group convolutions (it counts Keras'
    Conv2D(groups>1), depthwise and separable convolutions as zero, so those are left out)."""
    inputs = keras.Input((16, 16, 8))
    x = GroupedConv2D(16, 3, groups=4, padding="same", name="gconv")(inputs)
    x = layers.Conv2D(12, 1, name="pw")(x)
    x = layers.Dense(5, name="dense")(layers.Flatten()(x))
    check_against_profiler(keras.Model(inputs, x), (16, 16, 8), extras=0.05)  # biases: 2.6%


@pytest.mark.slow
def test_vgg16_224_matches_tensorflow_profiler():
    ours, total = check_against_profiler(kerasnets.create_model("vgg16"), (224, 224, 3))
    assert ours == 15_470_264_320 and abs(total / 2 - ours) / ours < 0.001


def test_custom_layers_count_themselves_lenet5():
    """LeNet-5's sparse C3 and RBF output count through their `macs` hook:
    C1 28*28*6*25 + C3 10*10*60 connections*25 + C5 120*400 + F6 120*84 + RBF 84*10."""
    model = kerasnets.create_model("lenet5")
    total, table = count_flops(model, per_layer=True)
    assert total == 117_600 + 150_000 + 48_000 + 10_080 + 840
    assert table["stage1_block1_conv"] == 150_000 and table["predictions"] == 840
