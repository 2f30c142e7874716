"""The classic chains: LeNet-5, AlexNet, ZFNet, OverFeat, CNN-F/M/S, and their special layers.

Expected numbers are typed from the papers (sizes, parameter counts) or computed by independent
numpy references, never taken from the code under test.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnets
from kerasnets.applications import (CNN_F, CNN_M, CNN_M2048, CNN_S, AlexNet, AlexNet2Tower,
                                    LeNet5, OverFeatAccurate, OverFeatFast, ZFNet)
from kerasnets.applications import _common, alexnet, chatfield, lenet, overfeat, zfnet
from kerasnets.applications._common import build_model
from kerasnets.layers import CeilModeMaxPooling2D, GroupedConv2D, LocalResponseNormalization


def n_params(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def layer_params(model) -> dict:
    return {layer.name: n_params(layer.trainable_weights) for layer in model.layers
            if layer.trainable_weights}


def sizes(model, names) -> list:
    return [model.get_layer(n).output.shape[1] for n in names]


# --------------------------------------------------------------------------------------------
# Layers

def lrn_reference(a, size, k, alpha, beta):
    """b[c] = a[c] / (k + alpha * sum_{|c'-c| <= size//2} a[c']^2)^beta, window clipped at edges."""
    channels = a.shape[-1]
    out = np.empty_like(a, dtype=np.float64)
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels, c + size // 2 + 1)
        out[..., c] = a[..., c] / (k + alpha * np.sum(a[..., lo:hi] ** 2, axis=-1)) ** beta
    return out


@pytest.mark.parametrize("size,k,alpha,beta,scale", [
    (5, 2.0, 1e-4, 0.75, 40.0),  # the paper's constants; large inputs so the sum matters
    (3, 1.0, 0.5, 0.5, 1.0),
    (7, 0.5, 0.05, 1.0, 2.0),
])
def test_lrn_matches_its_formula(size, k, alpha, beta, scale):
    a = np.random.default_rng(1).normal(0, scale, size=(2, 4, 5, 11)).astype("float32")
    got = LocalResponseNormalization(size=size, k=k, alpha=alpha, beta=beta)(a)
    want = lrn_reference(a.astype(np.float64), size, k, alpha, beta)
    assert np.abs(want / a - 1).max() > 1e-3  # the normalisation is not a no-op here
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("groups,strides,padding", [(2, 1, "valid"), (2, 2, "same"),
                                                     (4, 1, "same")])
def test_grouped_conv_equals_keras_grouped_conv(groups, strides, padding):
    x = np.random.default_rng(2).normal(size=(2, 9, 9, 8)).astype("float32")
    reference = keras.layers.Conv2D(12, 3, strides=strides, padding=padding, groups=groups)
    ours = GroupedConv2D(12, 3, groups, strides=strides, padding=padding)
    want = reference(x)
    ours.build(x.shape)
    ours.set_weights(reference.get_weights())  # the same layout: kernel (3, 3, 8 / groups, 12)
    assert n_params(ours.weights) == n_params(reference.weights)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(want), rtol=1e-5, atol=1e-5)


def ceil_max_pool_reference(a, k, s):
    n = a.shape[1]
    out_n = -(-(n - k) // s) + 1  # ceil((n - k) / s) + 1
    out = np.empty((a.shape[0], out_n, out_n, a.shape[3]), a.dtype)
    for i in range(out_n):
        for j in range(out_n):
            out[:, i, j] = a[:, i * s:i * s + k, j * s:j * s + k].max(axis=(1, 2))
    return out


@pytest.mark.parametrize("n,k,s", [(26, 3, 2), (27, 3, 2), (109, 3, 3), (35, 2, 2), (2, 3, 2),
                                   (7, 3, 3)])
def test_ceil_mode_max_pooling(n, k, s):
    # all-negative input: padding with zeros instead of -inf would change the edge windows
    a = -np.abs(np.random.default_rng(3).normal(size=(2, n, n, 3))).astype("float32") - 1
    layer = CeilModeMaxPooling2D(k, strides=s)
    want = ceil_max_pool_reference(a, k, s)
    np.testing.assert_array_equal(np.asarray(layer(a)), want)
    assert layer.compute_output_shape((None, n, n, 3)) == (None,) + want.shape[1:]
    assert CeilModeMaxPooling2D.from_config(layer.get_config()).strides == (s, s)


def test_ceil_mode_pooling_refuses_strides_beyond_the_window():
    with pytest.raises(ValueError, match="strides <= pool_size"):
        CeilModeMaxPooling2D(2, strides=3)


# --------------------------------------------------------------------------------------------
# LeNet-5

# Table I of the paper: rows are S2 maps 0-5, columns C3 maps 0-15 ("X" = connected).
TABLE_I = """
X . . . X X X . . X X X X . X X
X X . . . X X X . . X X X X . X
X X X . . . X X X . . X . X X X
. X X X . . X X X X . . X . X X
. . X X X . . X X X X . X X . X
. . . X X X . . X X X X . X X X
"""


def test_lenet5_parameters_layer_by_layer():
    model = LeNet5()
    # the paper, section II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164; RBF 84 x 10
    assert layer_params(model) == {
        "stem_conv": 156, "stem_pool": 12, "stage1_block1_conv": 1516, "stage1_pool": 32,
        "stage2_block1_conv": 48120, "fc1": 10164, "predictions": 840}
    total = n_params(model.trainable_weights)
    assert total == 60840 and abs(total - 60000) / 60000 < 0.02  # "about 60,000"
    assert sizes(model, ["stem_conv", "stem_pool", "stage1_block1_conv", "stage1_pool",
                         "stage2_block1_conv"]) == [28, 14, 10, 5, 1]  # Figure 2
    full = layer_params(LeNet5(c3_table="full", output="dense"))
    assert full["stage1_block1_conv"] == 6 * 25 * 16 + 16 and full["predictions"] == 84 * 10 + 10


def test_lenet5_c3_follows_table_i():
    """Output map j of C3 depends on input map i exactly when Table I has an X at (i, j)."""
    table = np.array([[c == "X" for c in row.split()] for row in TABLE_I.strip().splitlines()])
    assert table.shape == (6, 16) and table.sum() == 60
    layer = lenet.ConnectionTableConv2D(lenet.C3_TABLE, 5)
    x = tf.random.normal((1, 14, 14, 6))
    for j in range(16):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x)[..., j])
        grad = tape.gradient(y, x).numpy()
        connected = np.abs(grad).sum(axis=(0, 1, 2)) > 0
        np.testing.assert_array_equal(connected, table[:, j], err_msg=f"C3 map {j}")


def test_lenet5_c3_equals_a_masked_dense_convolution():
    layer = lenet.ConnectionTableConv2D(lenet.C3_TABLE, 5)
    x = np.random.default_rng(4).normal(size=(2, 14, 14, 6)).astype("float32")
    got = np.asarray(layer(x))
    kernel, bias = (w.numpy() for w in layer.weights)
    dense = np.zeros((5, 5, 6, 16), "float32")
    n = 0
    for j, row in enumerate(lenet.C3_TABLE):
        for i in row:
            dense[:, :, i, j] = kernel[:, :, n]
            n += 1
    want = tf.nn.conv2d(x, dense, 1, "VALID").numpy() + bias
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_trainable_subsampling_and_rbf_math():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 6, 3)).astype("float32")
    sub = lenet.TrainableSubsampling(2)
    sub.build(x.shape)
    coef, bias = rng.normal(size=3).astype("float32"), rng.normal(size=3).astype("float32")
    sub.set_weights([coef, bias])
    sums = x.reshape(2, 3, 2, 3, 2, 3).sum(axis=(2, 4))
    np.testing.assert_allclose(np.asarray(sub(x)), sums * coef + bias, rtol=1e-5, atol=1e-5)

    h = rng.normal(size=(4, 84)).astype("float32")
    rbf = lenet.EuclideanRBF(10)
    rbf.build(h.shape)
    w = rbf.get_weights()[0]
    distances = ((h[:, :, None] - w[None]) ** 2).sum(axis=1)
    np.testing.assert_allclose(np.asarray(rbf(h)), -distances, rtol=1e-5)
    probs = lenet.EuclideanRBF.from_config({**rbf.get_config(), "activation": "softmax"})
    probs.build(h.shape)
    probs.set_weights([w])
    e = np.exp(-distances - (-distances).max(axis=1, keepdims=True))
    np.testing.assert_allclose(np.asarray(probs(h)), e / e.sum(1, keepdims=True), rtol=1e-4,
                               atol=1e-6)
    assert abs(float(lenet.scaled_tanh(1.0)) - 1.0) < 1e-3  # f(1) = 1 (Appendix A)


def test_lenet5_rbf_logits_train():
    """Negative squared distances are usable logits: softmax cross-entropy goes down."""
    rng = np.random.default_rng(6)
    y = np.arange(32) % 4
    x = rng.normal(0, 0.3, size=(32, 32, 32, 1)).astype("float32")
    x[np.arange(32), 8 * y, :, 0] += 3.0  # class = which band of rows is bright
    model = LeNet5(classes=4)
    optimizer = keras.optimizers.Adam(3e-3)
    losses = []
    for _ in range(6):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x)))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses


def test_lenet5_options_are_checked():
    with pytest.raises(ValueError, match="c3_table"):
        LeNet5(c3_table="sparse")
    with pytest.raises(ValueError, match="output"):
        LeNet5(output="softmax")
    with pytest.raises(ValueError, match="fixes c5=120"):
        LeNet5(c5=100)


# --------------------------------------------------------------------------------------------
# AlexNet

def test_alexnet_two_towers():
    one = layer_params(AlexNet(include_top=False))
    two = layer_params(AlexNet2Tower(include_top=False))
    # conv2, conv4, conv5 see half of the maps below them (paper Figure 2)
    assert two["stage1_block1_conv"] == 5 * 5 * 48 * 256 + 256
    assert two["stage2_block2_conv"] == 3 * 3 * 192 * 384 + 384
    assert two["stage2_block3_conv"] == 3 * 3 * 192 * 256 + 256
    assert one["stage1_block1_conv"] == 5 * 5 * 96 * 256 + 256
    for name in ("stem_conv", "stage2_block1_conv"):  # conv1 and conv3 are not split
        assert one[name] == two[name]
    model = AlexNet(groups=2)  # = AlexNet2Tower(), whose count the registry-wide tests check
    total = n_params(model.trainable_weights)
    assert total == kerasnets.get_entry("alexnet_2tower").params == 60_965_224
    assert abs(total - 60e6) / 60e6 < 0.02  # "60 million parameters"
    grouped = [layer.name for layer in model.layers if isinstance(layer, GroupedConv2D)]
    assert grouped == ["stage1_block1_conv", "stage2_block2_conv", "stage2_block3_conv"]
    assert all(getattr(layer, "groups", 1) == 1 for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D))  # never Keras' grouped Conv2D
    with pytest.raises(ValueError, match="groups"):
        AlexNet(groups=4)


# --------------------------------------------------------------------------------------------
# Feature-map sizes of the papers' tables

CONVS = ["stem_conv", "stem_pool", "stage1_block1_conv", "stage1_pool", "stage2_block1_conv",
         "stage2_block2_conv", "stage2_block3_conv", "stage2_pool"]


@pytest.mark.parametrize("builder,names,want", [
    (AlexNet, CONVS, [55, 27, 27, 13, 13, 13, 13, 6]),  # seed 004 table
    (ZFNet, CONVS, [110, 55, 26, 13, 13, 13, 13, 6]),  # Zeiler & Fergus Figure 3
    # OverFeat Table 1 (231 input): conv1 (231 - 11) / 4 + 1 = 56, layer 2 conv output 24,
    # layers 3-5 at 12x12, layer 6 input 6x6
    (OverFeatFast, CONVS, [56, 28, 24, 12, 12, 12, 12, 6]),
    # Table 3 (221 input): layer 2 input 36x36, layers 3-6 at 15x15, layer 7 input 5x5
    (OverFeatAccurate, CONVS[:-1] + ["stage2_block4_conv", "stage2_pool"],
     [108, 36, 30, 15, 15, 15, 15, 15, 5]),
    # Chatfield et al.: full6 sees 6x6 maps at 224 (sizes of the released Caffe models)
    (CNN_F, CONVS, [54, 27, 27, 13, 13, 13, 13, 6]),
    (CNN_M, CONVS, [109, 54, 26, 13, 13, 13, 13, 6]),
    (CNN_M2048, CONVS, [109, 54, 26, 13, 13, 13, 13, 6]),
    (CNN_S, CONVS, [109, 37, 35, 18, 18, 18, 18, 6]),
])
def test_feature_map_sizes_match_the_papers(builder, names, want):
    model = builder(include_top=False)
    assert sizes(model, names) == want
    assert model.get_layer("stage2_out").output.shape[1:3] == (want[-1], want[-1])


@pytest.mark.parametrize("name,paper", [("overfeat_fast", 145e6), ("overfeat_accurate", 144e6)])
def test_overfeat_exact_counts_near_the_papers(name, paper):
    assert abs(kerasnets.get_entry(name).params - paper) / paper < 0.02


def test_chatfield_fc7_width_and_fixed_fields():
    assert CNN_M2048(include_top=True, input_shape=(41, 41, 3)).get_layer("fc2").units == 2048
    with pytest.raises(ValueError, match="fixes fc="):
        CNN_M2048(fc=(4096, 4096))


def test_normalisation_order_and_dropout_names():
    alex = [layer.name for layer in AlexNet(input_shape=(63, 63, 3)).layers]
    zf = [layer.name for layer in ZFNet(include_top=False).layers]
    assert alex.index("stem_lrn") < alex.index("stem_pool")  # AlexNet: LRN, then pooling
    assert zf.index("stem_lrn") > zf.index("stem_pool")  # ZFNet: pooling, then normalisation
    assert "stage1_block1_lrn" in alex and "stage1_lrn" in zf
    assert {"fc1_dropout", "fc2_dropout"} <= set(alex)
    no_dropout = CNN_S(dropout=0.0, input_shape=(19, 19, 3))
    assert "fc1_dropout" not in [layer.name for layer in no_dropout.layers]
    overfeat = [layer.name for layer in OverFeatAccurate(include_top=False).layers]
    assert not any("lrn" in n for n in overfeat)  # OverFeat: no normalisation


FAMILY_MODULES = {"alexnet": alexnet, "zfnet": zfnet, "overfeat": overfeat,
                  "chatfield": chatfield, "lenet": lenet}


@pytest.mark.parametrize("name", [n for n in kerasnets.list_models()
                                  if kerasnets.get_entry(n).family in FAMILY_MODULES])
def test_minimum_sizes_are_minimal(name):
    """One pixel below the registered minimum, some layer has no output (Keras raises)."""
    entry = kerasnets.get_entry(name)
    spec = FAMILY_MODULES[entry.family].VARIANTS[name].spec
    parts = _common._PARTS[name]  # the variant's body, head and fixed options
    channels = entry.input_shape[2]
    for size, ok in ((entry.min_size, True), (entry.min_size - 1, False)):
        def probe():
            return build_model(spec, parts.body, parts.head, include_top=False,
                               input_shape=(size, size, channels), pooling="avg", name="probe",
                               default_shape=entry.input_shape, min_size=1, **parts.options)
        if ok:
            probe()
        else:
            with pytest.raises(ValueError, match="zero or negative"):
                probe()


@pytest.mark.parametrize("implementation", ["split", "native"])
def test_grouped_conv_implementations_share_weights_and_gradients(implementation):
    """One kernel layout for every implementation; the split route trains like Conv2D(groups)."""
    x = tf.constant(np.random.default_rng(3).normal(size=(2, 8, 8, 16)).astype("float32"))
    reference = keras.layers.Conv2D(8, 3, padding="same", groups=4)
    ours = GroupedConv2D(8, 3, 4, padding="same", implementation=implementation)
    reference.build(x.shape)
    ours.build(x.shape)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in reference.weights]
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(ours(x), reference(x), rtol=1e-5, atol=1e-5)
    if implementation == "split":  # TF has no grouped-convolution gradient on CPU natively
        grads = []
        for layer in (reference, ours):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(layer(x)))
            grads.append(tape.gradient(loss, layer.trainable_weights))
        for a, b in zip(*grads):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    config = ours.get_config()
    assert config["implementation"] == implementation
    assert GroupedConv2D.from_config(config).compute_output_shape((None, 8, 8, 16)) == \
        (None, 8, 8, 8)
    with pytest.raises(ValueError, match="implementation must be"):
        GroupedConv2D(8, 3, 4, implementation="fast")
