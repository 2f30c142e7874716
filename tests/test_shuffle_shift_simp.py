"""What is special to ShuffleNet v1/v2, ShiftResNet and SimpNet: the channel shuffle / split and
shift layers, the units' wiring, the papers' complexities and rounded parameter figures.
(Counts, taps, min sizes, forward/backward and .keras round trips: test_models.py.)"""

import os

import keras
import numpy as np
import pytest
from keras import layers

import kerasnets
from kerasnets.applications import ShiftResNet20, ShuffleNetG3, SimpNet_Slim_600K
from kerasnets.applications import shiftnet, shufflenet, shufflenet_v2, simpnet
from kerasnets.zoo.flops import count_flops
from kerasnets.layers import GroupedConv2D
from kerasnets.layers.shift import Shift
from kerasnets.layers.shuffle import ChannelShuffle, ChannelSplit


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def rounds_to(count, figure):
    """`figure` is a published rounded count: "0.19M", "5.48M", "300K"."""
    unit = {"K": 1e3, "M": 1e6}[figure[-1]]
    decimals = len(figure[:-1].partition(".")[2])
    return f"{count / unit:.{decimals}f}" == figure[:-1]


def run(layer, x):
    inputs = keras.Input(x.shape[1:])
    return keras.Model(inputs, layer(inputs)).predict(x, verbose=0)


# --- ChannelShuffle / ChannelSplit ---------------------------------------------------------------

def test_channel_shuffle_interleaves_the_groups():
    x = np.arange(6, dtype="float32").reshape(1, 1, 1, 6)
    np.testing.assert_array_equal(run(ChannelShuffle(3), x)[0, 0, 0], [0, 2, 4, 1, 3, 5])
    np.testing.assert_array_equal(run(ChannelShuffle(2), x)[0, 0, 0], [0, 3, 1, 4, 2, 5])


def test_channel_shuffle_is_seed_002s_reshape_transpose_flatten_and_inverts():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 12)).astype("float32")
    g = 4
    expected = x.reshape(2, 3, 5, g, 12 // g).transpose(0, 1, 2, 4, 3).reshape(2, 3, 5, 12)
    shuffled = run(ChannelShuffle(g), x)
    np.testing.assert_array_equal(shuffled, expected)
    np.testing.assert_array_equal(run(ChannelShuffle(12 // g), shuffled), x)  # (n, g) undoes it


def test_channel_layers_check_channels_and_serialize():
    with pytest.raises(ValueError, match="divisible by 4"):
        ChannelShuffle(4)(keras.Input((8, 8, 6)))
    with pytest.raises(ValueError, match="divisible by 2"):
        ChannelSplit(2)(keras.Input((8, 8, 5)))
    layer = ChannelShuffle(3, name="s")
    assert keras.layers.deserialize(keras.layers.serialize(layer)).groups == 3
    x = np.random.default_rng(1).normal(size=(1, 2, 2, 6)).astype("float32")
    inputs = keras.Input((2, 2, 6))
    a, b = ChannelSplit(2)(inputs)
    first, second = keras.Model(inputs, [a, b]).predict(x, verbose=0)
    np.testing.assert_array_equal(first, x[..., :3])
    np.testing.assert_array_equal(second, x[..., 3:])


# --- Shift ---------------------------------------------------------------------------------------

def reference_shift(x, k, dilation=1):
    """Group i of floor(C / k^2) channels reads in[h + dy, w + dx], (dy, dx) the i-th offset of
    the k x k window in row-major order; zeros outside; leftover channels unmoved."""
    out = x.copy()
    n, height, width, channels = x.shape
    per = channels // (k * k)
    for i in range(k * k):
        dy, dx = (i // k - k // 2) * dilation, (i % k - k // 2) * dilation
        part = np.zeros((n, height, width, per), x.dtype)
        for h in range(height):
            for w in range(width):
                if 0 <= h + dy < height and 0 <= w + dx < width:
                    part[:, h, w] = x[:, h + dy, w + dx, i * per:(i + 1) * per]
        out[..., i * per:(i + 1) * per] = part
    return out


@pytest.mark.parametrize("kernel_size, dilation, channels", [(3, 1, 20), (3, 2, 18), (5, 1, 25)])
def test_shift_moves_each_channel_group_by_its_offset(kernel_size, dilation, channels):
    x = np.random.default_rng(2).normal(size=(2, 6, 7, channels)).astype("float32")
    layer = Shift(kernel_size, dilation)
    np.testing.assert_array_equal(run(layer, x), reference_shift(x, kernel_size, dilation))
    assert not layer.weights


def test_shift_is_zero_flop_zero_parameter_and_round_trips(tmp_path):
    inputs = keras.Input((8, 8, 4))
    x = layers.Conv2D(18, 1, use_bias=False, name="expand")(inputs)
    x = Shift(name="shift")(x)
    model = keras.Model(inputs, layers.Conv2D(4, 1, use_bias=False, name="reduce")(x))
    assert count_flops(model) == 8 * 8 * 4 * 18 + 8 * 8 * 18 * 4
    assert model.count_params() == 4 * 18 + 18 * 4
    path = os.path.join(tmp_path, "shift.keras")
    model.save(path)
    x = np.random.default_rng(3).normal(size=(1, 8, 8, 4)).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="at least 9 channels"):
        Shift()(keras.Input((8, 8, 8)))
    with pytest.raises(ValueError, match="odd kernel_size"):
        Shift(2)


# --- ShuffleNet v1 -------------------------------------------------------------------------------

def test_shufflenet_pointwise_groups_follow_section_3_3():
    model = ShuffleNetG3(input_shape=(32, 32, 3))
    first = model.get_layer("stage1_block1_1_conv")
    assert isinstance(first, layers.Conv2D) and first.groups == 1  # stage 2's first 1x1
    grouped = [layer for layer in model.layers if isinstance(layer, GroupedConv2D)]
    assert len(grouped) == 2 * 16 - 1 and {layer.groups for layer in grouped} == {3}
    assert not [layer for layer in model.layers
                if isinstance(layer, layers.Conv2D) and layer.groups > 1]
    assert [model.get_layer(f"stage{s}_out").output.shape[-1] for s in (1, 2, 3)] == \
        [240, 480, 960]  # Table 1, g = 3
    assert model.get_layer("stage1_block1_2_conv").filters == 240 - 24  # concat with shortcut


def test_shufflenet_stride2_unit_concatenates_a_padded_average_pool():
    inputs = keras.Input((6, 6, 24))
    unit = shufflenet.shuffle_unit(inputs, 48, groups=3, stride=2, name="u")
    model = keras.Model(inputs, unit)
    x = np.random.default_rng(4).uniform(size=(1, 6, 6, 24)).astype("float32")
    out = model.predict(x, verbose=0)
    assert out.shape == (1, 3, 3, 48)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    pooled = np.stack([[padded[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3].mean(axis=(0, 1))
                        for j in range(3)] for i in range(3)])  # zeros counted (PyTorch default)
    np.testing.assert_allclose(out[0, ..., :24], pooled, rtol=1e-5, atol=1e-6)


MEGVII = sorted(name for name, v in shufflenet.VARIANTS.items() if "megvii" in v.source)


def test_shufflenet_counts_without_fc_bias_round_to_megvii():
    """megvii's classifier has no bias; its rounded counts then match ours (5.4M for 2x, where
    ours with the bias, 5,450,776, would round to 5.5M)."""
    assert MEGVII == ["shufflenet_g3", "shufflenet_g3_x0_5", "shufflenet_g3_x1_5",
                      "shufflenet_g3_x2_0", "shufflenet_g8"]
    for variant in MEGVII:
        v = shufflenet.VARIANTS[variant]
        assert rounds_to(v.params - 1000, v.source.rsplit(": ", 1)[1]), variant


COMPLEXITY = {**shufflenet.MFLOPS, **shufflenet_v2.MFLOPS}  # the papers' (Tables 2 and 5)
CHEAP = ("shufflenet_g3_x0_5", "shufflenet_v2_x0_5")


@pytest.mark.parametrize("name", [n if n in CHEAP else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(COMPLEXITY)])
def test_shufflenet_multiply_adds_match_the_papers_complexity(name):
    mflops = COMPLEXITY[name]
    assert abs(count_flops(kerasnets.create_model(name)) / 1e6 - mflops) <= 0.05 * mflops


def test_shufflenet_1_5x_needs_megvii_conv1_for_table5():
    spec = shufflenet.ShuffleNetSpec(3, 1.5)
    assert spec.stem_width == 36 and shufflenet.VARIANTS["shufflenet_g3_x1_5"].spec.stem_width == 24
    with pytest.raises(ValueError, match="do not split into 4 groups"):
        shufflenet.ShuffleNetSpec(4, 0.5)  # 136 / 4 = 34 bottleneck channels
    with pytest.raises(ValueError, match="fixes groups=3"):
        ShuffleNetG3(groups=8)


# --- ShuffleNet v2 -------------------------------------------------------------------------------

def test_shufflenet_v2_unit_passes_half_the_channels_to_the_even_positions():
    inputs = keras.Input((5, 5, 16))
    model = keras.Model(inputs, shufflenet_v2.shufflenet_v2_unit(inputs, 16, name="u"))
    x = np.random.default_rng(5).normal(size=(2, 5, 5, 16)).astype("float32")
    out = model.predict(x, verbose=0)
    np.testing.assert_array_equal(out[..., 0::2], x[..., :8])  # split, concat, shuffle(2)
    assert np.all(out[..., 1::2] >= 0)  # the branch ends in a ReLU
    strided = shufflenet_v2.shufflenet_v2_unit(inputs, 32, stride=2, name="s")
    assert tuple(strided.shape) == (None, 3, 3, 32)


@pytest.mark.parametrize("variant", sorted(shufflenet_v2.VARIANTS))
def test_shufflenet_v2_counts_round_to_table5(variant):
    v = shufflenet_v2.VARIANTS[variant]
    assert rounds_to(v.params, v.source.rsplit(": ", 1)[1])


# --- ShiftResNet ---------------------------------------------------------------------------------

def shiftresnet_by_hand(depth, expansion, classes=10):
    """Stem 3x3 conv + BN; per block 1x1 (c -> E w) + BN, 1x1 (E w -> w) + BN, and a 1x1
    projection + BN where the shape changes; fc. Convolutions unbiased, BN: gamma + beta."""
    n, total, cin = (depth - 2) // 6, 27 * 16 + 2 * 16, 16
    for width in (16, 32, 64):
        for _ in range(n):
            mid = expansion * width
            total += cin * mid + 2 * mid + mid * width + 2 * width
            total += (cin * width + 2 * width) if cin != width else 0
            cin = width
    return total + 64 * classes + classes


@pytest.mark.parametrize("depth, expansion", sorted(shiftnet.TABLE))
def test_shiftresnet_counts_round_to_the_papers_table(depth, expansion):
    assert rounds_to(shiftresnet_by_hand(depth, expansion), shiftnet.TABLE[depth, expansion] + "M")


def test_shiftresnet_has_only_pointwise_convolutions_after_the_stem():
    model = ShiftResNet20(expansion=3)
    assert trainable_count(model) == shiftresnet_by_hand(20, 3)
    assert kerasnets.get_entry("shiftresnet20").params == shiftresnet_by_hand(20, 6)
    assert kerasnets.get_entry("shiftresnet56").params == shiftresnet_by_hand(56, 6)
    kernels = {layer.name: layer.kernel_size for layer in model.layers
               if isinstance(layer, layers.Conv2D)}
    assert kernels.pop("stem_conv") == (3, 3) and set(kernels.values()) == {(1, 1)}
    assert len([layer for layer in model.layers if isinstance(layer, Shift)]) == 9
    assert model.get_layer("stage2_block1_2_conv").strides == (2, 2)  # stride after the shift
    assert model.get_layer("stage2_block1_1_conv").filters == 3 * 32


# --- SimpNet -------------------------------------------------------------------------------------

def simpnet_by_hand(widths, classes=10):
    """Biased 3x3 convolutions, each with BN (Caffe BatchNorm + Scale: gamma, beta); fc."""
    total, cin = 0, 3
    for width in widths:
        total += 9 * cin * width + width + 2 * width
        cin = width
    return total + cin * classes + classes


@pytest.mark.parametrize("variant, figure", [("simpnet", "5.48M"), ("simpnet_8_9m", "8.9M"),
                                             ("simpnet_slim_300k", "0.3M"),  # "300K"
                                             ("simpnet_slim_600k", "0.6M")])  # "600K"
def test_simpnet_counts_follow_the_released_layers_and_round_to_the_paper(variant, figure):
    spec, params = simpnet.VARIANTS[variant].spec, simpnet.VARIANTS[variant].params
    assert params == simpnet_by_hand(sum(spec.widths, ()))
    assert len(sum(spec.widths, ())) == 13
    assert rounds_to(params, figure)


def test_simpnet_uses_3x3_convolutions_max_pooling_and_dropout_everywhere():
    model = SimpNet_Slim_600K()
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert {c.kernel_size for c in convs} == {(3, 3)} and {c.strides for c in convs} == {(1, 1)}
    rates = [layer.rate for layer in model.layers if isinstance(layer, layers.Dropout)]
    assert rates == [0.1] * 4 + [0.1] + [0.1] * 4 + [0.2] + [0.2] * 2 + [0.2]  # released 600K
    assert model.get_layer("stage1_pool").output.shape[1:3] == (16, 16)
    assert isinstance(model.get_layer("max_pool"), layers.GlobalMaxPooling2D)
    plain = SimpNet_Slim_600K(dropout=False)
    assert not [layer for layer in plain.layers if isinstance(layer, layers.Dropout)]
    assert trainable_count(plain) == trainable_count(model) == 601_021
