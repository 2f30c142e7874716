"""Net2Net (kerasnets.net2net, tools.net2net): widened and deepened models compute the same
function (float32, inference mode: the largest output difference is within 1e-5 of the largest
output), parameter counts follow the new widths, noise breaks exact equality within a tolerance,
and graphs or activations that cannot be grown raise errors naming the layer."""

import csv
import functools
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers

import conftest
import kerasnets
from kerasnets import net2net
from kerasnets.layers import GroupedConv2D

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-5


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)  # initial weights, copies and noise: the same on every run


def randomize(model, seed=0):
    """Non-trivial biases and BatchNorm parameters, so that copying them is actually tested;
    BN moving statistics are about those of a random batch (one training-mode pass with
    momentum 0), so that deep networks keep input-dependent outputs."""
    rng = np.random.default_rng(seed)
    norms = [la for la in model.layers if isinstance(la, layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    if norms:
        model(inputs(model, n=32, seed=seed + 7), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    for layer in model.layers:
        if layer in norms:
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape),  # the floor on the
                               rng.normal(0, 0.2, beta.shape), mean, var + 0.01])  # variance
            # bounds each BN's gain: nearly constant channels would amplify float32 rounding
        elif getattr(layer, "bias", None) is not None:
            weights = layer.get_weights()
            weights[-1] = rng.normal(0, 0.1, weights[-1].shape)
            layer.set_weights(weights)
    return model


def inputs(model, n=3, seed=1):
    return np.random.default_rng(seed).normal(size=(n,) + tuple(model.input.shape[1:])) \
        .astype("float32")


def outputs(model, x):
    """Inference-mode outputs, checked not to be degenerate (constant outputs prove nothing)."""
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.ptp(y, axis=0).max() > 1e-3 * max(float(np.abs(y).max()), 1e-3), \
        "the outputs do not depend on the inputs"
    return y


def assert_preserved(old, new, x, tol=TOL):
    """`new`'s outputs agree with `old`'s (a model or its outputs on `x`) within `tol` x the
    largest output (float32 rounding grows with it); returns that relative error."""
    expected = old if isinstance(old, np.ndarray) else outputs(old, x)
    got = keras.ops.convert_to_numpy(new(x, training=False))
    error = float(np.abs(got - expected).max()) / max(float(np.abs(expected).max()), 1.0)
    assert error <= tol, f"relative output change {error:.2e} > {tol}"
    return error


def zoo():
    """Every layer kind wider follows: Conv2D, BN, ReLU, SeparableConv2D, DepthwiseConv2D
    (depth multiplier 2), ReLU6, a channel concatenation, zero padding, squeeze-excite's
    GAP + Multiply, a residual Add, average pooling, dropout, Flatten, Dense."""
    x0 = keras.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", name="conv")(x0)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.SeparableConv2D(6, 3, depth_multiplier=2, padding="same", activation="relu",
                               name="sep")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = layers.BatchNormalization(name="dw_bn")(x)
    x = layers.Activation("relu6", name="dw_relu6")(x)
    a = layers.Conv2D(5, 1, activation="relu", name="branch_conv")(x)
    b = layers.MaxPooling2D(3, 1, padding="same", name="branch_pool")(x)
    x = layers.Concatenate(name="concat")([a, b])
    x = layers.ZeroPadding2D(1, name="pad")(x)
    x = layers.Conv2D(7, 3, strides=2, name="post_conv")(x)
    s = layers.GlobalAveragePooling2D(keepdims=True, name="se_squeeze")(x)
    s = layers.Conv2D(3, 1, activation="relu", name="se_reduce")(s)
    s = layers.Conv2D(7, 1, activation="sigmoid", name="se_expand")(s)
    x = layers.Multiply(name="se_scale")([x, s])
    x = layers.Add(name="res_add")([x, layers.Conv2D(7, 3, padding="same", name="res_conv")(x)])
    x = layers.AveragePooling2D(2, name="avg")(x)
    x = layers.Dropout(0.5, name="drop")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(10, activation="relu", name="fc")(x)
    return randomize(keras.Model(x0, layers.Dense(4, name="logits")(x), name="zoo"))


@pytest.fixture(scope="module")
def zoo_model():
    global ZOO_X, ZOO_OUT
    model = zoo()
    ZOO_X = inputs(model)
    ZOO_OUT = outputs(model, ZOO_X)
    return model


@pytest.mark.parametrize("name, width, changed", [
    ("conv", 13, {"conv": 13, "sep": 6}),             # BN + ReLU -> separable's depthwise input
    ("sep", 9, {"sep": 9, "branch_conv": 5}),         # depthwise x2 + BN + ReLU6 -> concat, pad
    ("branch_conv", 8, {"branch_conv": 8, "post_conv": 7}),  # the first part of a concat
    ("post_conv", 10, {"post_conv": 10, "se_expand": 10, "res_conv": 10}),  # SE + Add tied
    ("res_conv", 11, {"post_conv": 11, "se_expand": 11, "res_conv": 11}),   # the other side
    ("se_reduce", 6, {"se_reduce": 6, "se_expand": 7}),
    ("fc", 16, {"fc": 16, "logits": 4}),              # Dense -> Dense
])
def test_wider_every_layer_kind(zoo_model, name, width, changed):
    new = net2net.wider(zoo_model, name, width, seed=3)
    assert net2net.layer_widths(new, changed) == changed
    assert_preserved(ZOO_OUT, new, ZOO_X)
    assert [la.name for la in new.layers] == [la.name for la in zoo_model.layers]


# Registry chain models: (name, builder options, input size, layers to widen, to deepen after).
CHAINS = [
    ("lenet5", {}, 32, ["stem_conv", "stage1_block1_conv"], []),  # C3's connection table
    ("lenet5", {"activation": "relu", "output": "dense"}, 32, ["fc1"], ["stage1_out"]),
    ("alexnet", {}, 63, ["stage2_block3_conv"], ["stage2_out"]),
    ("vgg11", {"fc_units": 64}, 32, ["stage3_block2_conv"], ["fc1_dropout"]),
    ("nin_cifar", {}, 32, ["stage3_block2_conv"], ["stage1_out"]),
    ("allcnn_c", {}, 32, ["stage1_block3_conv"], ["stage2_out"]),
    ("resnet20_cifar", {}, 32, ["stem_conv"], ["stage3_block3_relu"]),  # + shortcut B below
]
SLOW_CHAINS = [
    ("alexnet", {}, 63, ["stage2_block1_conv", "fc1"], ["fc1_dropout"]),
    ("zfnet", {}, 47, ["stage2_block1_conv", "fc2"], ["stage2_out"]),
    ("cnn_f", {}, 39, ["stage2_block2_conv", "fc1"], ["stage2_out"]),
    ("overfeat_fast", {}, 71, ["stem_conv", "stage2_block3_conv"], ["stage1_out"]),
    ("vgg11_bn", {"fc_units": 64}, 32, ["stage1_block1_conv", "stage4_block2_conv"],
     ["stage3_out"]),
    ("nin_cifar", {}, 32, ["stage1_block1_conv", "stage2_block3_conv"], ["stage2_block2_relu"]),
    ("resnet20_cifar", {}, 32, ["stage2_block2_1_conv"], ["stage1_out"]),
    ("resnet20_cifar", {"shortcut": "B"}, 32, ["stage2_block1_2_conv", "stage3_block3_2_conv"],
     ["stage2_out"]),
    ("mobilenet_x0_25", {}, 32, ["stem_conv", "stage2_block1_pw_conv"], ["stage1_out"]),
]


def _check_chain(name, options, size, widen, deepen):
    channels = kerasnets.get_entry(name).input_shape[2]
    model = randomize(kerasnets.create_model(name, input_shape=(size, size, channels), classes=10,
                                             classifier_activation=None, **options))
    x = inputs(model)
    expected = outputs(model, x)
    for layer in widen:
        old = net2net.layer_widths(model, [layer])[layer]
        new = net2net.wider(model, layer, old + max(2, old // 4), seed=0)
        assert net2net.layer_widths(new, [layer])[layer] == old + max(2, old // 4)
        assert new.count_params() > model.count_params()
        assert_preserved(expected, new, x)
    for layer in deepen:
        new = net2net.deeper(model, layer, kind="dense" if len(
            model.get_layer(layer).output.shape) == 2 else "conv")
        assert len(new.layers) > len(model.layers)
        assert_preserved(expected, new, x)


@pytest.mark.parametrize("name, options, size, widen, deepen", CHAINS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CHAINS)])
def test_registry_chain_models_keep_their_function(name, options, size, widen, deepen):
    _check_chain(name, options, size, widen, deepen)


@pytest.mark.slow
@pytest.mark.parametrize("name, options, size, widen, deepen", SLOW_CHAINS,
                         ids=[c[0] for c in SLOW_CHAINS])
def test_more_registry_models_keep_their_function(name, options, size, widen, deepen):
    _check_chain(name, options, size, widen, deepen)


@pytest.fixture(scope="module")
def vgg():
    return kerasnets.create_model("vgg11", input_shape=(32, 32, 3), classes=10, fc_units=64,
                                  classifier_activation=None)


@pytest.mark.parametrize("layer, width, added", [
    # 32 new filters (3x3x3 + bias) and 32 more inputs of stage2's 3x3x128 convolution
    ("stage1_block1_conv", 96, (27 + 1) * 32 + 9 * 32 * 128),
    # 88 new filters (3x3x512 + bias); the 1x1 maps flatten to 88 more inputs of fc1 (64 units)
    ("stage5_block2_conv", 600, (9 * 512 + 1) * 88 + 88 * 64),
    # 36 new units (512 inputs + bias) and 36 more inputs of fc2 (64 units)
    ("fc1", 100, (512 + 1) * 36 + 36 * 64),
])
def test_wider_parameter_counts(vgg, layer, width, added):
    assert net2net.wider(vgg, layer, width).count_params() == vgg.count_params() + added


def test_wider_residual_stream_widens_both_sides_of_every_addition():
    model = randomize(kerasnets.create_model("resnet20_cifar", shortcut="B",
                                             classifier_activation=None))
    new = net2net.wider(model, "stem_conv", 24, seed=1)
    stage1 = ["stem_conv"] + [f"stage1_block{b}_2_conv" for b in (1, 2, 3)]
    assert set(net2net.layer_widths(new, stage1).values()) == {24}
    assert net2net.layer_widths(new, ["stage1_block2_1_conv", "stage2_block1_0_conv"]) == \
        {"stage1_block2_1_conv": 16, "stage2_block1_0_conv": 32}
    # stem conv 3x3x3x8 + its BN 4x8; three 3x3 convs reading 8 more inputs (16 filters) and
    # three writing 8 more filters (16 inputs) + their BNs; stage 2's 1x1 projection and first
    # 3x3 (32 filters) read 8 more inputs.
    added = 27 * 8 + 4 * 8 + 3 * 9 * 8 * 16 + 3 * (9 * 16 * 8 + 4 * 8) + 8 * 32 + 9 * 8 * 32
    assert new.count_params() == model.count_params() + added
    assert_preserved(model, new, inputs(model))


def test_wider_noise_breaks_symmetry_within_tolerance(vgg):
    x = inputs(vgg)
    exact = net2net.wider(vgg, "stage3_block1_conv", 320, seed=5)
    noisy = net2net.wider(vgg, "stage3_block1_conv", 320, noise=0.05, seed=5)
    again = net2net.wider(vgg, "stage3_block1_conv", 320, noise=0.05, seed=5)
    scale = float(np.abs(keras.ops.convert_to_numpy(vgg(x))).max())
    error = net2net.max_output_difference(vgg, noisy, x) / scale
    assert 1e-4 < error < 0.1
    assert net2net.max_output_difference(noisy, again, x) == 0.0  # the seed fixes the noise
    # noise only on the outgoing weights of copied units: the new filters are exact copies
    np.testing.assert_array_equal(noisy.get_layer("stage3_block1_conv").get_weights()[0],
                                  exact.get_layer("stage3_block1_conv").get_weights()[0])
    reader_noisy = noisy.get_layer("stage3_block2_conv").get_weights()[0]
    reader_exact = exact.get_layer("stage3_block2_conv").get_weights()[0]
    changed_rows = np.any(reader_noisy != reader_exact, axis=(0, 1, 3))
    mapping = np.concatenate([np.arange(256), _copied_sources(exact)])
    np.testing.assert_array_equal(changed_rows, np.bincount(mapping)[mapping] > 1)


def _copied_sources(model):
    """Which of stage3_block1_conv's 256 old filters its 64 new ones copy (by equal kernels)."""
    kernel = model.get_layer("stage3_block1_conv").get_weights()[0]
    old = kernel[..., :256].reshape(-1, 256)
    return np.array([int(np.argmax(np.all(old == kernel[..., j].reshape(-1, 1), axis=0)))
                     for j in range(256, 320)])


def test_deeper_parameter_counts_names_and_batchnorm_statistics(vgg):
    new = net2net.deeper(vgg, "stage2_out")
    assert new.count_params() == vgg.count_params() + 9 * 128 * 128 + 128
    names = [la.name for la in new.layers]
    assert names[names.index("stage2_out") + 1:][:2] == ["stage2_out_deeper1_conv",
                                                           "stage2_out_deeper1_relu"]
    twice = net2net.deeper(net2net.deeper(vgg, "fc1_dropout", kind="dense"), "fc1_dropout",
                           kind="dense")
    assert twice.count_params() == vgg.count_params() + 2 * (64 * 64 + 64)
    assert {"fc1_dropout_deeper1_dense", "fc1_dropout_deeper2_dense"} <= \
        {la.name for la in twice.layers}
    assert {la.name for la in vgg.layers} <= {la.name for la in twice.layers}

    resnet = randomize(kerasnets.create_model("resnet20_cifar", classifier_activation=None))
    x = inputs(resnet, n=8)
    grown = net2net.deeper(resnet, "stage1_out", kernel_size=5, data=x)
    assert grown.count_params() == resnet.count_params() + 25 * 16 * 16 + 4 * 16  # conv + BN
    assert [la.name for la in grown.layers if "deeper" in la.name] == [
        "stage1_out_deeper1_conv", "stage1_out_deeper1_bn", "stage1_out_deeper1_relu"]
    assert_preserved(resnet, grown, x)
    features = keras.Model(resnet.input, resnet.get_layer("stage1_out").output)(x).numpy()
    np.testing.assert_allclose(grown.get_layer("stage1_out_deeper1_bn").moving_mean.numpy(),
                               features.mean((0, 1, 2)), rtol=1e-5, atol=1e-6)


def test_deeper_batchnorm_from_data_is_the_identity_in_training_mode():
    """With the insertion point's statistics, training-mode BatchNorm (batch statistics) starts
    as the identity too; with the default mean 0 / variance 1 it does not."""
    model = randomize(kerasnets.create_model("lenet5", activation="relu", output="dense",
                                             classifier_activation=None))
    x = inputs(model, n=16)
    expected = model(x, training=True).numpy()  # no BN, no dropout: the same as inference
    scale = np.abs(expected).max()
    for data, close in ((x, True), (None, False)):
        new = net2net.deeper(model, "stage1_out", batch_norm=True, data=data)
        assert_preserved(expected, new, x)
        error = np.abs(new(x, training=True).numpy() - expected).max() / scale
        assert (error < 1e-4) == close, error


def test_grown_model_round_trips_through_keras_file(tmp_path):
    model = kerasnets.create_model("lenet5", classifier_activation=None)
    # after C5's convolution, before its tanh: a linear layer (no activation) is inserted
    grown = net2net.deeper(net2net.wider(model, "stage1_block1_conv", 20, seed=0),
                           "stage2_block1_conv", kind="conv", kernel_size=1)
    assert "stage2_block1_conv_deeper1_conv" in [la.name for la in grown.layers]
    assert not [la.name for la in grown.layers if la.name.startswith("stage2_block1_conv_deeper1_")
                and la.name != "stage2_block1_conv_deeper1_conv"]
    grown.save(tmp_path / "g.keras")
    loaded = kerasnets.load_model(tmp_path / "g.keras")
    x = inputs(model)
    assert net2net.max_output_difference(grown, loaded, x) == 0.0
    assert len(loaded.get_layer("stage1_block1_conv").table) == 20


# ----------------------------------------------------------------------------- errors


def _mini(*hidden, activation="relu"):
    x0 = keras.Input((8, 8, 4))
    x = layers.Conv2D(6, 3, activation=activation, name="c1")(x0)
    for layer in hidden:
        x = layer(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(x0, layers.Dense(3, name="out")(x))


@pytest.mark.parametrize("build, layer, width, message", [
    (lambda: kerasnets.create_model("alexnet", input_shape=(63, 63, 3), classes=10),
     "stem_conv", 100, "'stem_lrn' (LocalResponseNormalization)"),
    (lambda: kerasnets.create_model("lenet5"), "fc1", 90, "'predictions' (EuclideanRBF)"),
    (lambda: kerasnets.create_model("vgg11", input_shape=(32, 32, 3), classes=10, fc_units=8),
     "predictions", 12, "width of the model output 'predictions'"),
    (lambda: kerasnets.create_model("nin_cifar"), "classifier_conv", 12,
     "'predictions' (Activation), which cannot take copied channels: softmax"),
    (lambda: kerasnets.create_model("nin_cifar", classifier_activation=None), "classifier_conv",
     12, "width of the model output 'predictions'"),
    (lambda: kerasnets.create_model("resnet20_cifar"), "stage2_block1_2_conv", 40,
     "'stage2_block1_0_pad' (ZeroPadChannels)"),
    (lambda: _mini(GroupedConv2D(6, 3, 2, name="grouped")), "c1", 8,
     "'grouped' (GroupedConv2D)"),
    (lambda: _mini(layers.Conv2D(6, 1, groups=2, name="g2")), "c1", 8, "'g2' (Conv2D, groups=2)"),
    (lambda: _mini(layers.Reshape((6, 6, 6), name="reshape")), "c1", 8, "'reshape' (Reshape)"),
    (lambda: _mini(), "gap", 8, "wider supports Dense, Conv2D"),
    (lambda: _mini(layers.DepthwiseConv2D(3, name="dw")), "dw", 8, "widen the layer that feeds"),
    (lambda: _mini(), "c1", 4, "must be an integer >= its current width 6"),
    (lambda: _mini(), "conv1", 8, "no layer named 'conv1'. Did you mean 'c1'"),
])
def test_wider_refuses_with_the_layer_named(build, layer, width, message):
    with pytest.raises(ValueError) as error:
        net2net.wider(build(), layer, width)
    assert message in str(error.value)


def test_wider_without_following_additions_names_the_addition():
    model = kerasnets.create_model("resnet20_cifar", shortcut="B")
    with pytest.raises(ValueError, match="'stage1_block1_add' \\(Add\\) merges it with the "
                                         "output of 'stage1_block1_2"):
        net2net.wider(model, "stem_conv", 24, follow_additions=False)


@pytest.mark.parametrize("build, after, kwargs, message", [
    (lambda: kerasnets.create_model("lenet5"), "stage1_out", {},
     "activation 'tanh' of layer 'stage1_pool_tanh'"),
    (lambda: _mini(activation="sigmoid"), "c1", {}, "activation 'sigmoid' of layer 'c1'"),
    (lambda: _mini(layers.LeakyReLU(name="leaky")), "leaky", {}, "'LeakyReLU' of layer 'leaky'"),
    (lambda: _mini(), "c1", {"kind": "dense"}, "use kind='conv'"),
    (lambda: _mini(), "gap", {"kind": "conv"}, "use kind='dense'"),
    (lambda: _mini(), "c1", {"kernel_size": 2}, "positive odd integer"),
    (lambda: _mini(), "c1", {"kind": "attention"}, "kind must be 'conv' or 'dense'"),
])
def test_deeper_refuses_with_a_clear_error(build, after, kwargs, message):
    with pytest.raises(ValueError) as error:
        net2net.deeper(build(), after, **kwargs)
    assert message in str(error.value)


def test_parse_schedule():
    steps = net2net.parse_schedule("train:3, wider:stage1_block1_conv:2x,train:1,"
                                   "deeper:stage2_out,deeper:fc1_relu:dense,wider:fc1:96,"
                                   "deeper:stage1_out:conv:5")
    assert [str(s) for s in steps] == [
        "train:3", "wider:stage1_block1_conv:2x", "train:1", "deeper:stage2_out",
        "deeper:fc1_relu:dense", "wider:fc1:96", "deeper:stage1_out:conv:5"]
    assert steps[-1].kernel_size == 5 and steps[0].epochs == 3
    for bad in ("train:0", "wider:fc1", "wider:fc1:double", "grow:fc1", "deeper:", ""):
        with pytest.raises(ValueError, match="schedule"):
            net2net.parse_schedule(bad)


def test_resolve_width(vgg):
    assert net2net.resolve_width(vgg, "stage2_block1_conv", "1.5x") == 192
    assert net2net.resolve_width(vgg, "fc1", "100") == 100
    with pytest.raises(ValueError, match="no width"):
        net2net.resolve_width(vgg, "stage1_pool", "2x")


# ----------------------------------------------------------------------------- the experiment


def test_grow_trains_grows_saves_and_compares_with_scratch(tmp_path):
    import tensorflow as tf

    from kerasnets.experiments import net2net as N

    x_in = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same", name="conv")(x_in)
    x = layers.ReLU(name="conv_relu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(8, name="fc")(x)
    x = layers.ReLU(name="fc_relu")(x)
    model = keras.Model(x_in, layers.Dense(2, name="predictions")(x), name="small")
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 2
    images = (rng.normal(size=(32, 8, 8, 1)) + labels[:, None, None, None]).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    steps = net2net.parse_schedule("train:1,wider:conv:2x,deeper:fc_relu,train:1")
    with pytest.raises(ValueError, match="cannot be applied to small: No such layer: nope"):
        N.check_schedule(model, net2net.parse_schedule("train:1,wider:nope:2x"))
    with pytest.raises(ValueError, match="no train:EPOCHS"):
        N.check_schedule(model, net2net.parse_schedule("wider:conv:2x"))
    result = N.grow(model, steps, data, data, loss="sparse_categorical_crossentropy", lr=0.05,
                    model_dir=str(tmp_path), verbose=0)
    assert [r["epoch"] for r in result.rows] == [0, 1, 2] and result.epochs == 2
    before, after = result.rows[0]["grown_params"], result.rows[2]["grown_params"]
    # 4 more conv filters (9 + 1 weights each), their 8x8 positions read by fc's 8 units, and
    # the identity Dense inserted after fc_relu.
    assert after == result.model.count_params() == before + 4 * 10 + 4 * 64 * 8 + 8 * 9
    assert result.rows[1]["then_grown"].startswith(f"wider:conv:2x ({before:,} -> ")
    assert "; deeper:fc_relu (" in result.rows[1]["then_grown"]
    assert result.rows[1]["max_abs_diff"] < TOL
    assert result.marks == {"wider:conv:2x + deeper:fc_relu": 1.5}
    assert len(result.history["loss"]) == 2 and set(N.COLUMNS) <= set(result.rows[1])
    assert all("scratch_val_loss" in r for r in result.rows)
    assert sorted(os.listdir(tmp_path)) == ["final.keras", "step02_wider_conv.keras",
                                            "step03_deeper_fc_relu.keras"]
    assert result.final_path == str(tmp_path / "final.keras")


# ----------------------------------------------------------------------------- the tool


run_tool = functools.partial(conftest.run_tool, "tools.net2net")


def test_tool_grows_saves_and_compares_with_scratch(tmp_path):
    out, models = tmp_path / "n2n.csv", tmp_path / "models"
    run_tool("--model", "lenet5", "--model_options", "activation=relu,output=dense",
             "--dataset", "digits", "--image_size", "32", "--steps_per_epoch", "3",
             "--batch_size", "32", "--lr", "0.1", "--schedule", "train:1,wider:stem_conv:2x,"
             "deeper:fc1_relu,train:1", "--output", str(out), "--model_dir", str(models))
    rows = list(csv.DictReader(open(out)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert "wider:stem_conv:2x (60,850 -> 62,518)" in rows[1]["then_grown"]
    assert "deeper:fc1_relu" in rows[1]["then_grown"]
    assert float(rows[1]["max_abs_diff"]) < 1e-5
    final = kerasnets.load_model(models / "final.keras")
    assert int(rows[2]["grown_params"]) == final.count_params() == 62_518 + 84 * 84 + 84
    assert final.get_layer("stem_conv").filters == 12
    assert "fc1_relu_deeper1_dense" in [la.name for la in final.layers]
    assert sorted(p.name for p in models.iterdir()) == [
        "final.keras", "step02_wider_stem_conv.keras", "step03_deeper_fc1_relu.keras"]
    # Both networks learn (10 classes, chance 0.1) and growing does not undo training: the
    # grown model's validation loss keeps falling across the growth. Measured: grown val
    # accuracy 0.10 -> 0.26 -> 0.55 (loss 2.30 -> 2.19 -> 1.72); scratch 0.08 -> 0.22
    # (loss 2.305 -> 2.238).
    grown_loss = [float(r["grown_val_loss"]) for r in rows]
    assert grown_loss[0] > grown_loss[1] > grown_loss[2], grown_loss
    assert float(rows[2]["grown_val_accuracy"]) > 0.35, rows[2]
    assert float(rows[2]["scratch_val_loss"]) < float(rows[0]["scratch_val_loss"]) - 0.03
    assert "| 1 | 60850 |" in (tmp_path / "n2n.md").read_text()
    for png in ("n2n.png", "n2n_grown.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tool_rejects_a_bad_schedule_before_writing(tmp_path):
    proc = run_tool("--model", "lenet5", "--schedule", "train:1,deeper:stage1_out",
                    "--output", str(tmp_path / "x.csv"), "--model_dir", str(tmp_path / "m"),
                    check=False)
    assert proc.returncode == 2
    assert "activation 'tanh' of layer 'stage1_pool_tanh'" in proc.stderr
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "m").exists()
