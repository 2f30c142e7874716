"""What is special to SqueezeNet, SqueezeNext and MobileNet v1/v2/v3: the papers' per-layer
parameter tables, bypass variants, map sizes, width / resolution multipliers against the papers'
mult-adds, and keras.applications equivalence of the width options under weights that keep the
activations alive. (Reference counts, taps, min sizes and the default keras equivalence are
covered by test_models.py.)"""

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.applications import (MobileNet, MobileNet_x0_25, MobileNetV2, MobileNetV3Large,
                                    MobileNetV3Small, SqueezeNet1_0, SqueezeNet1_0_ComplexBypass,
                                    SqueezeNet1_0_SimpleBypass, SqueezeNet1_1, SqueezeNext23)
from kerasnets.zoo.flops import count_flops


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def layer_params(model, prefix) -> int:
    return sum(trainable_count(layer) for layer in model.layers if layer.name.startswith(prefix))


def rounds_to(count, figure):
    """`figure` is a paper's rounded millions, e.g. "0.72M"."""
    decimals = len(figure.rstrip("M").split(".")[1]) if "." in figure else 0
    return f"{count / 1e6:.{decimals}f}M" == figure


# --- SqueezeNet ---------------------------------------------------------------------------------

# Iandola et al., Table 1, "#parameter before pruning"; fire2..fire9 are our blocks in order.
TABLE1 = {"stem": 14_208, "stage1_block1_": 11_920, "stage1_block2_": 12_432,
          "stage1_block3_": 45_344, "stage2_block1_": 49_440, "stage2_block2_": 104_880,
          "stage2_block3_": 111_024, "stage2_block4_": 188_992, "stage3_block1_": 197_184,
          "classifier": 513_000}


def test_squeezenet_layers_match_table1_and_its_map_sizes():
    model = SqueezeNet1_0(input_shape=(227, 227, 3))  # the Caffe crop behind Table 1's sizes
    assert {prefix: layer_params(model, prefix) for prefix in TABLE1} == TABLE1
    assert trainable_count(model) == sum(TABLE1.values()) == 1_248_424
    sizes = {name: model.get_layer(name).output.shape[1:]
             for name in ("stem_conv", "stem_pool", "stage1_out", "stage2_out", "stage3_out")}
    assert sizes == {"stem_conv": (111, 111, 96), "stem_pool": (55, 55, 96),
                     "stage1_out": (55, 55, 256), "stage2_out": (27, 27, 512),
                     "stage3_out": (13, 13, 512)}
    # ShuffleNet's Table 6 (seed lecture 002) quotes SqueezeNet at 833 MFLOPs (mult-adds)
    assert count_flops(model) == pytest.approx(833e6, rel=0.01)


def test_squeezenet_bypass_variants_follow_section_6():
    plain, simple, complex_ = SqueezeNet1_0(), SqueezeNet1_0_SimpleBypass(), \
        SqueezeNet1_0_ComplexBypass()
    fires = ["stage1_block1", "stage1_block2", "stage1_block3", "stage2_block1", "stage2_block2",
             "stage2_block3", "stage2_block4", "stage3_block1"]  # fire2 .. fire9

    def with_suffix(model, suffix):
        return [f for f in fires if f"{f}_{suffix}" in {layer.name for layer in model.layers}]

    assert with_suffix(plain, "add") == []
    assert with_suffix(simple, "add") == fires[1::2]  # fire3, 5, 7, 9
    assert with_suffix(simple, "bypass_conv") == []
    assert with_suffix(complex_, "add") == fires
    assert with_suffix(complex_, "bypass_conv") == fires[0::2]  # fire2, 4, 6, 8
    assert trainable_count(simple) == trainable_count(plain)
    # 1x1 convolutions with bias from Table 1's widths: 96->128, 128->256, 256->384, 384->512
    extra = sum(cin * cout + cout for cin, cout in ((96, 128), (128, 256), (256, 384),
                                                     (384, 512)))
    assert trainable_count(complex_) - trainable_count(plain) == extra == 341_248
    # Table 3's model sizes are float32 MiB: vanilla and simple bypass 4.8MB
    assert f"{trainable_count(simple) * 4 / 2 ** 20:.1f}" == "4.8"


def test_squeezenet_options_are_checked():
    with pytest.raises(ValueError, match="bypass must be one of"):
        SqueezeNet1_1(bypass="dense")
    with pytest.raises(ValueError, match="fixes bypass='simple'"):
        SqueezeNet1_0_SimpleBypass(bypass="complex")
    model = SqueezeNet1_1(bypass="simple", include_top=False, pooling="avg",
                          input_shape=(32, 32, 3))
    assert model.output_shape == (None, 512)
    assert "stage3_block4_add" in [layer.name for layer in model.layers]


# --- SqueezeNext --------------------------------------------------------------------------------

def caffe_sqnxt23_count(widths, classes=1000):
    """Trainable parameters of the authors' Caffe SqNxt-23 definitions, layer by layer: 7x7/2
    stem with 64 filters, blocks [6, 6, 8, 1] with a projection shortcut in each stage's first
    block, 1x1 top convolution to 128 channels, bias-free FC; every convolution unbiased with
    BatchNorm (gamma, beta)."""
    def conv(cin, cout, taps=1):
        return taps * cin * cout + 2 * cout

    total, cin = conv(3, 64, 49), 64
    for s, (depth, c) in enumerate(zip((6, 6, 8, 1), widths)):
        for b in range(depth):
            r = cin if s > 0 and b == 0 else cin // (4 if cin > c else 2)
            total += (conv(cin, r) + conv(r, r // 2) + conv(r // 2, r, 3) + conv(r, r, 3)
                      + conv(r, c) + (conv(cin, c) if b == 0 else 0))
            cin = c
    return total + conv(cin, 128) + 128 * classes


@pytest.mark.parametrize("variant, widths", [("squeezenext23_x1_0", (32, 64, 128, 256)),
                                             ("squeezenext23_x1_5", (48, 96, 192, 384)),
                                             ("squeezenext23_x2_0", (64, 128, 256, 512))])
def test_squeezenext_counts_follow_the_caffe_definitions(variant, widths):
    assert kerasnets.get_entry(variant).params == caffe_sqnxt23_count(widths)


def test_squeezenext_structure_and_table2_rounding():
    model = SqueezeNext23(input_shape=(227, 227, 3))  # the Caffe models' crop
    params = trainable_count(model)
    assert rounds_to(params, "0.72M")  # Table 2, 1.0-SqNxt-23
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert not any(conv.use_bias for conv in convs) and not model.get_layer("predictions").use_bias
    assert len(convs) == 111  # as in the prototxt: 1 + 21 x 5 + 4 projections + 1
    # osmr/imgclsmob's port (the authors' recommended PyTorch model) is this network with a bias
    # on every convolution and on the classifier
    assert params + sum(conv.filters for conv in convs) + 1000 == 724_056
    assert [model.get_layer(f"stage{s}_out").output.shape[1] for s in (1, 2, 3, 4)] == \
        [55, 28, 14, 7]
    assert model.get_layer("stage1_block1_3_conv").kernel_size == (3, 1)
    assert model.get_layer("stage1_block2_3_conv").kernel_size == (1, 3)
    first = model.get_layer("stage2_block1_1_conv")  # the strided block squeezes 32 -> 32
    assert (first.strides, first.filters) == ((2, 2), 32)


# --- MobileNet v1: Tables 4, 6 and 7 ------------------------------------------------------------

# (variant, Million Mult-Adds, Million Parameters), classifier included (Table 2's convention)
TABLES_4_6 = [("mobilenet", 569, "4.2M"), ("mobilenet_x0_75", 325, "2.6M"),
              ("mobilenet_x0_5", 149, "1.3M"), ("mobilenet_x0_25", 41, "0.5M"),
              ("mobilenet_conv", 4866, "29.3M")]


@pytest.mark.parametrize("variant, madds, params", TABLES_4_6)
def test_mobilenet_width_multiplier_and_conv_control_match_tables_4_and_6(variant, madds,
                                                                           params):
    model = kerasnets.create_model(variant)
    assert rounds_to(trainable_count(model), params)
    assert count_flops(model) == pytest.approx(madds * 1e6, rel=0.03)


def test_mobilenet_resolution_multiplier_matches_table_7():
    for size, madds in ((192, 418), (160, 290), (128, 186)):
        model = MobileNet(input_shape=(size, size, 3))
        assert count_flops(model) == pytest.approx(madds * 1e6, rel=0.03), size
        assert rounds_to(trainable_count(model), "4.2M")
        assert model.get_layer("stage5_out").output.shape[1] == size // 32


def test_mobilenet_options_are_checked():
    with pytest.raises(ValueError, match="fixes alpha=0.25"):
        MobileNet_x0_25(alpha=0.5)
    with pytest.raises(ValueError, match="depthwise=False needs depth_multiplier=1"):
        MobileNet(depthwise=False, depth_multiplier=2)


# --- MobileNet v2 / v3 against their papers -----------------------------------------------------

@pytest.mark.parametrize("builder, madds, taps", [
    (MobileNetV2, 300, (112, 56, 28, 14, 7)),  # v2 paper Table 4
    (MobileNetV3Small, 56, (56, 28, 14, 7)),  # v3 paper Table 3
    (MobileNetV3Large, 219, (112, 56, 28, 14, 7))])
def test_mobilenet_v2_v3_mult_adds_and_stage_resolutions(builder, madds, taps):
    model = builder()
    assert count_flops(model) == pytest.approx(madds * 1e6, rel=0.03)
    assert tuple(model.get_layer(f"stage{s}_out").output.shape[1]
                 for s in range(1, len(taps) + 1)) == taps


# --- keras.applications equivalence of the options ----------------------------------------------

def randomize(model, seed=0):
    """He-scaled kernels and non-trivial BatchNorm statistics, so that activations neither vanish
    nor explode: keras' default initialisation leaves MobileNetV3's random-weight outputs
    uniform (the softmax of ~1e-11 logits), which would hide any difference."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for weight in layer.weights:
            shape, kind = tuple(weight.shape), weight.path.rsplit("/", 1)[-1]
            if kind in ("kernel", "depthwise_kernel"):
                fan_in = np.prod(shape[:-1] if kind == "kernel" else shape[:2])
                values.append(rng.normal(0, np.sqrt(2 / fan_in), shape))
            elif kind in ("gamma", "moving_variance"):
                values.append(rng.uniform(0.5, 1.5, shape))
            else:
                values.append(rng.uniform(-0.2, 0.2, shape))
        if values:
            layer.set_weights([v.astype("float32") for v in values])


@pytest.mark.parametrize("builder, reference, options, pixels", [
    (MobileNet, "MobileNet", dict(alpha=0.25, depth_multiplier=2), 1.0),
    (MobileNetV2, "MobileNetV2", dict(alpha=1.4), 1.0),
    (MobileNetV3Small, "MobileNetV3Small", dict(alpha=0.75, minimalistic=True), 255.0),
    (MobileNetV3Large, "MobileNetV3Large", dict(), 255.0)])
def test_options_give_keras_weights_and_outputs(builder, reference, options, pixels):
    shape = (35, 35, 3)  # odd sides: the strided depthwise padding must match keras' too
    ref = getattr(keras.applications, reference)(weights=None, input_shape=shape,
                                                 classifier_activation=None, **options)
    ours = builder(input_shape=shape, classifier_activation=None, **options)
    assert ours.count_params() == ref.count_params()
    randomize(ref)
    ref_layers = [layer for layer in ref.layers if layer.weights]
    our_layers = [layer for layer in ours.layers if layer.weights]
    assert [[w.shape for w in layer.weights] for layer in our_layers] == \
        [[w.shape for w in layer.weights] for layer in ref_layers]
    for source, target in zip(ref_layers, our_layers):
        target.set_weights(source.get_weights())
    x = np.random.default_rng(1).uniform(0, pixels, size=(2,) + shape).astype("float32")
    expected = np.asarray(ref(x, training=False))  # eager calls: predict() traces (slow)
    assert np.abs(expected).max() > 0.1  # the logits are alive
    np.testing.assert_allclose(np.asarray(ours(x, training=False)), expected, rtol=1e-4,
                               atol=1e-5)
