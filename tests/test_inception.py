"""What is special to the Inception families: GoogLeNet against Table 1 row by row, its LRN and
auxiliary classifiers (trained with weighted losses); BN-Inception's Figure 5 widths and Caffe
pooling; SE-BN-Inception's SE blocks and OpenVINO's folded count; Inception v3's grid sizes and
side head. (Counts, taps, min sizes and keras weight equivalence: test_models.py.)

Expected numbers are typed from the papers / released models, never taken from the code.
"""

import keras
import numpy as np
import pytest

from kerasnets.applications import BNInception, GoogLeNet, InceptionV3, SEBNInception
from kerasnets.applications import bn_inception, googlenet
from kerasnets.applications._common import GapHead, build_model
from kerasnets.zoo.flops import count_flops
from kerasnets.layers import LocalResponseNormalization


def n_params(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def trainable_count(model) -> int:
    return n_params(model.trainable_weights)


def kernels(model, prefix) -> int:
    """Weights of the Conv / Dense kernels under `prefix` (biases left out, as in Table 1)."""
    return sum(int(np.prod(layer.kernel.shape)) for layer in model.layers
               if layer.name.startswith(prefix) and hasattr(layer, "kernel"))


def concat_shapes(model, blocks):
    return [tuple(model.get_layer(f"{b}_concat").output.shape[1:]) for b in blocks]


# --- GoogLeNet (Table 1) -------------------------------------------------------------------------

# Table 1, typed from the paper: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj,
# output size, params column in K, ops column in M)
TABLE1 = {
    "3a": (64, 96, 128, 16, 32, 32, (28, 256), 159, 128),
    "3b": (128, 128, 192, 32, 96, 64, (28, 480), 380, 304),
    "4a": (192, 96, 208, 16, 48, 64, (14, 512), 364, 73),
    "4b": (160, 112, 224, 24, 64, 64, (14, 512), 437, 88),
    "4c": (128, 128, 256, 24, 64, 64, (14, 512), 463, 100),
    "4d": (112, 144, 288, 32, 64, 64, (14, 528), 580, 119),
    "4e": (256, 160, 320, 32, 128, 128, (14, 832), 840, 170),
    "5a": (256, 160, 320, 32, 128, 128, (7, 832), 1072, 54),
    "5b": (384, 192, 384, 48, 128, 128, (7, 1024), 1388, 71),
}
BLOCKS = dict(zip(TABLE1, ["stage1_block1", "stage1_block2"]
                  + [f"stage2_block{b}" for b in range(1, 6)] + ["stage3_block1", "stage3_block2"]))
# Rows whose params entry does not follow from the row's own widths (K = 1024 weights, the unit
# under which conv2's 112K and the classifier's 1000K are exact): the widths' weights in K. The
# ops column (weights x output positions) agrees with the widths for 4a-4e and 5b, so their
# params entries are misprints; conv1 (2.7K, 34M) and 5a (1072K, 54M) are off in both columns.
PARAMS_OFF = {"conv1": 9408 / 1024, "4a": 366.75, "4c": 497.5, "4d": 590.5, "4e": 847.0,
              "5a": 1018.0, "5b": 1409.0}
OPS_OFF = {"conv1", "5a"}


def test_googlenet_follows_table1_row_by_row():
    model = GoogLeNet()
    _, macs = count_flops(model, per_layer=True)

    def ops(prefix):
        return sum(v for k, v in macs.items() if k.startswith(prefix))

    # stem: conv1 7x7/2 to 64 (Table: 2.7K, 34M); conv2 = 1x1 to 64 + 3x3 to 192 (112K, 360M);
    # linear 1024 -> 1000 (1000K, 1M)
    rows = {"conv1": (kernels(model, "stem_1_"), 7 * 7 * 3 * 64, 2.7, ops("stem_1_"), 34),
            "conv2": (kernels(model, "stem_4_") + kernels(model, "stem_5_"),
                      64 * 64 + 9 * 64 * 192, 112, ops("stem_4_") + ops("stem_5_"), 360),
            "linear": (kernels(model, "predictions"), 1024 * 1000, 1000, ops("predictions"), 1)}
    channels = 192
    for row, (n1, r3, n3, r5, n5, proj, (size, width), paper_k, paper_m) in TABLE1.items():
        by_hand = channels * (n1 + r3 + r5 + proj) + 9 * r3 * n3 + 25 * r5 * n5
        rows[row] = (kernels(model, BLOCKS[row] + "_"), by_hand, paper_k,
                     ops(BLOCKS[row] + "_"), paper_m)
        assert n1 + n3 + n5 + proj == width
        shape = model.get_layer(f"{BLOCKS[row]}_concat").output.shape[1:]
        assert tuple(shape) == (size, size, width), row
        channels = width
    for row, (ours, by_hand, paper_k, ours_ops, paper_m) in rows.items():
        assert ours == by_hand, row
        if row in PARAMS_OFF:
            assert ours / 1024 == PARAMS_OFF[row] and abs(ours / 1024 - paper_k) > 1, row
        else:
            assert abs(ours / 1024 - paper_k) <= 1, (row, ours / 1024, paper_k)
        assert (abs(ours_ops / 1e6 - paper_m) <= 1) == (row not in OPS_OFF), (row, ours_ops)
    # the params column sums to "6.8M"; so do the network's weights in the same unit
    assert f"{sum(r[2] for r in rows.values()) / 1000:.1f}M" == "6.8M"
    weights = sum(r[0] for r in rows.values())
    assert f"{weights / 1024 / 1000:.1f}M" == "6.8M"
    # "a computational budget of 1.5 billion multiply-adds at inference time"; the ops column
    # sums to 1.50G with conv1's 34M, the network does 1.58G with conv1's 118M
    assert sum(r[4] for r in rows.values()) == 1502
    assert 1.5e9 <= sum(r[3] for r in rows.values()) < 1.6e9
    # the registry count adds one bias per convolution filter and per class
    biases = 64 + 64 + 192 + sum(sum(r[:6]) for r in TABLE1.values()) + 1000
    assert trainable_count(model) == weights + biases == 6_998_552
    assert [tuple(model.get_layer(n).output.shape[1:]) for n in
            ("stem_2_pool", "stem_7_pool", "stage2_pool", "stage3_pool", "stage3_out")] == [
        (56, 56, 64), (28, 28, 192), (14, 14, 480), (7, 7, 832), (7, 7, 1024)]
    lrn = [layer for layer in model.layers if isinstance(layer, LocalResponseNormalization)]
    assert [layer.name for layer in lrn] == ["stem_3_lrn", "stem_6_lrn"]
    # Caffe's LRN (bvlc_googlenet): alpha 1e-4 is divided by the window of 5, k = 1
    assert all((layer.size, layer.k, layer.alpha, layer.beta) == (5, 1.0, 2e-5, 0.75)
               for layer in lrn)
    assert model.get_layer("head_dropout").rate == 0.4


def test_googlenet_without_lrn():
    model = GoogLeNet(lrn=False, input_shape=(32, 32, 3))
    assert not [layer for layer in model.layers if isinstance(layer, LocalResponseNormalization)]
    assert trainable_count(model) == 6_998_552


def test_googlenet_aux_classifiers_train_with_weighted_losses():
    classes, size = 5, googlenet.AUX_MIN_SIZE  # the smallest input the side heads accept
    model = GoogLeNet(aux_logits=True, classes=classes, input_shape=(size, size, 3))
    assert model.output_names == ["predictions", "aux1_predictions", "aux2_predictions"]
    # the 5x5/3 pool leaves 1x1x128 to flatten (4a / 4d are 5x5); 4a outputs 512 channels, 4d 528
    assert tuple(model.get_layer("aux1_pool").output.shape[1:]) == (1, 1, 512)
    head = 128 * 1024 + 1024 + 1024 * classes + classes
    aux = (512 * 128 + 128 + head) + (528 * 128 + 128 + head)
    main = 6_998_552 - 1024 * 1000 - 1000 + 1024 * classes + classes
    assert trainable_count(model) == main + aux
    assert model.get_layer("aux1_dropout").rate == 0.7
    # two steps: running them eagerly is cheaper than tracing the training step
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=["sparse_categorical_crossentropy"] * 3, loss_weights=[1.0, 0.3, 0.3],
                  run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, size, size, 3)).astype("float32")
    y = rng.integers(0, classes, size=(4,))
    watched = ["aux1_fc", "aux1_predictions", "aux2_1_conv", "aux2_predictions"]
    before = {n: model.get_layer(n).get_weights()[0].copy() for n in watched}
    history = model.fit(x, [y, y, y], batch_size=2, epochs=1, verbose=0)  # 2 steps
    assert np.isfinite(history.history["loss"]).all()
    for n in watched:
        assert np.abs(model.get_layer(n).get_weights()[0] - before[n]).max() > 0, n
    outputs = model(x[:1], training=False)
    assert [tuple(o.shape) for o in outputs] == [(1, classes)] * 3


def test_googlenet_aux_classifiers_need_a_classifier_and_a_large_enough_input():
    with pytest.raises(ValueError, match="include_top=True"):
        GoogLeNet(aux_logits=True, include_top=False)
    with pytest.raises(ValueError, match=f"{googlenet.AUX_MIN_SIZE}x{googlenet.AUX_MIN_SIZE}"):
        GoogLeNet(aux_logits=True, input_shape=(googlenet.AUX_MIN_SIZE - 1,) * 2 + (3,))
    with pytest.raises(ValueError, match="fixed input size"):
        GoogLeNet(aux_logits=True, input_shape=(None, None, 3))


@pytest.mark.parametrize("module,body,spec", [
    (googlenet, googlenet._googlenet, googlenet.GoogLeNetSpec()),
    (bn_inception, bn_inception._bn_inception, bn_inception.BNInceptionSpec()),
])
def test_registered_minimum_is_the_true_minimum(module, body, spec):
    """One pixel below MIN_SIZE the network itself cannot run (a pooling runs out of input)."""
    size = module.MIN_SIZE - 1
    with pytest.raises(ValueError):
        build_model(spec, body, GapHead(), include_top=False, input_shape=(size, size, 3),
                    name="probe", min_size=1)


# --- BN-Inception (Figure 5) and SE-BN-Inception -------------------------------------------------

# Figure 5, typed from the paper: #1x1, #3x3, double #3x3, pool proj (None: pass through), stride,
# the printed output channels; then the module's output grid at 224
FIGURE5 = [
    ("3a", 64, 64, 96, 32, 1, 256, 28), ("3b", 64, 96, 96, 64, 1, 320, 28),
    ("3c", 0, 160, 96, None, 2, 576, 14), ("4a", 224, 96, 128, 128, 1, 576, 14),
    ("4b", 192, 128, 128, 128, 1, 576, 14), ("4c", 160, 160, 160, 128, 1, 576, 14),
    ("4d", 96, 192, 192, 128, 1, 576, 14), ("4e", 0, 192, 256, None, 2, 1024, 7),
    ("5a", 352, 320, 224, 128, 1, 1024, 7), ("5b", 352, 320, 224, 128, 1, 1024, 7),
]
BN_BLOCKS = (["stage1_block1", "stage1_block2"] + [f"stage2_block{b}" for b in range(1, 6)]
             + [f"stage3_block{b}" for b in range(1, 4)])
# Figure 5's output column does not add up where its branch columns give 608 / 608 / 1056; the
# released models have the branch columns' widths (SE-BN-Inception.prototxt: 608, 608, 1056)
FIGURE5_MISPRINTS = {"4c": 608, "4d": 608, "4e": 1056}


def test_bn_inception_widths_and_grids_follow_figure5():
    model = BNInception()
    channels, previous_grid = 192, 28
    for (row, n1, n3, nd, proj, stride, printed, grid), block in zip(FIGURE5, BN_BLOCKS):
        width = n1 + n3 + nd + (channels if proj is None else proj)
        assert width == FIGURE5_MISPRINTS.get(row, printed), row
        assert grid == previous_grid // stride, row
        assert tuple(model.get_layer(f"{block}_concat").output.shape[1:]) == (grid, grid, width)
        channels, previous_grid = width, grid
    assert [tuple(model.get_layer(f"stage{s}_out").output.shape[1:]) for s in (1, 2, 3)] == [
        (28, 28, 320), (14, 14, 608), (7, 7, 1024)]
    # every convolution is followed by BatchNorm: 3 in the stem, 7 per module, 5 in 3c and 4e
    names = {layer.name for layer in model.layers}
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 3 + 8 * 7 + 2 * 5
    assert all(name.removesuffix("_conv") + "_bn" in names for name in convs)
    assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]


def test_bn_inception_pools_like_caffe_and_aligns_odd_grids():
    # at 104 the 28x28 grid is 13x13: 3c's stride-2 convolution and max-pool must still align
    model = BNInception(include_top=False, input_shape=(104, 104, 3))
    assert tuple(model.get_layer("stage2_block1_concat").output.shape[1:3]) == (7, 7)
    probe = keras.Model(model.input, [model.get_layer("stem_5_pool").output,
                                      model.get_layer("stage1_block1_4_1_pool").output])
    x = np.random.default_rng(0).uniform(size=(1, 104, 104, 3)).astype("float32")
    before, pooled = probe.predict(x, verbose=0)
    # the average pool of the module counts its zero padding (Caffe): a corner sums 4 of 9
    np.testing.assert_allclose(pooled[0, 0, 0], before[0, :2, :2].sum(axis=(0, 1)) / 9,
                               rtol=1e-5)
    np.testing.assert_allclose(pooled[0, 5, 5], before[0, 4:7, 4:7].mean(axis=(0, 1)), rtol=1e-5)


def test_se_bn_inception_matches_the_released_prototxt():
    model = SEBNInception(input_shape=(32, 32, 3))
    # reduce widths of the ten SE blocks, typed from SE-BN-Inception.prototxt (*_1x1_down)
    reduce = [model.get_layer(f"{b}_se_reduce").filters for b in BN_BLOCKS]
    assert reduce == [16, 20, 36, 36, 36, 38, 38, 66, 64, 64]
    assert all(model.get_layer(f"{b}_se_expand").filters == 16 * r
               for b, r in zip(BN_BLOCKS, [16, 20, 36, 36, 36, 38, 38, 66, 64, 64]))
    assert all(not layer.use_bias for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D) and "_se_" not in layer.name)
    # OpenVINO's model zoo lists the released model at 11.922 M parameters, counting each
    # convolution + BatchNorm folded into one biased convolution: gamma and beta become one bias
    bn_channels = sum(layer.gamma.shape[0] for layer in model.layers
                      if isinstance(layer, keras.layers.BatchNormalization))
    assert f"{(trainable_count(model) - bn_channels) / 1e6:.3f}" == "11.922"
    # SE-BN-Inception = BN-Inception - convolution biases + SE (two biased 1x1 per module)
    widths = [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]
    se = sum(2 * c * (c // 16) + c + c // 16 for c in widths)
    assert trainable_count(model) == 11_295_240 - bn_channels + se


# --- Inception v3 --------------------------------------------------------------------------------

def test_inception_v3_grids_widths_and_aux_head():
    classes = 10
    model = InceptionV3(aux_logits=True, classes=classes)
    assert model.output_names == ["predictions", "aux_predictions"]
    # keras' mixed0 ... mixed10 at 299: 35x35 (256, 288, 288), 17x17 x 768, 8x8 (1280, 2048, 2048)
    blocks = ([f"stage1_block{b}" for b in (1, 2, 3)] + [f"stage2_block{b}" for b in range(1, 6)]
              + [f"stage3_block{b}" for b in (1, 2, 3)])
    assert concat_shapes(model, blocks) == (
        [(35, 35, 256), (35, 35, 288), (35, 35, 288)] + [(17, 17, 768)] * 5
        + [(8, 8, 1280), (8, 8, 2048), (8, 8, 2048)])
    assert tuple(model.get_layer("aux_1_conv").input.shape[1:]) == (5, 5, 768)
    # side head: 1x1 768->128 and 5x5 128->768 (unbiased, BN beta only), linear 768 -> classes
    aux = 768 * 128 + 128 + 25 * 128 * 768 + 768 + 768 * classes + classes
    main = 23_817_352 - 2048 * 1000 - 1000 + 2048 * classes + classes
    assert trainable_count(model) == main + aux
    with pytest.raises(ValueError, match="include_top=True"):
        InceptionV3(aux_logits=True, include_top=False)


@pytest.mark.slow
def test_inception_v3_aux_head_trains_and_needs_299():
    with pytest.raises(ValueError, match="299x299"):
        InceptionV3(aux_logits=True, input_shape=(298, 298, 3))
    model = InceptionV3(aux_logits=True, classes=3)
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy"] * 2,
                  loss_weights=[1.0, 0.4], run_eagerly=True)
    x = np.random.default_rng(0).uniform(size=(2, 299, 299, 3)).astype("float32")
    before = model.get_layer("aux_2_conv").get_weights()[0].copy()
    history = model.fit(x, [np.array([0, 2])] * 2, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(model.get_layer("aux_2_conv").get_weights()[0] - before).max() > 0
