"""What is special to DenseNet: the paper's counts (Table 2 figures, counted by hand), dense-layer
wiring and transition compression, stage taps, `drop_rate`, pinned spec fields, keras' layout.
(Reference counts, taps, min sizes and keras weight equivalence of the registered variants are
covered by test_models.py.) Expected numbers are typed from the paper / imgclsmob / keras or
counted by hand here, never taken from the code under test."""

import re

import keras
import numpy as np
import pytest
from keras.src.applications.densenet import DenseNet as KerasDenseNet

import kerasnets
from kerasnets.applications import DenseNet121, DenseNetBC100_k12, custom_model
from kerasnets.applications.densenet import TABLE2, DenseNetSpec, cifar_spec


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def build(spec, shape=(32, 32, 3), classes=10, **options):
    return custom_model(spec, like="densenet121", input_shape=shape, classes=classes,
                        name="densenet_test", **options)


def by_hand(blocks, k, *, bc, theta, stem, imagenet, classes):
    """Trainable parameters of a DenseNet, counted from the paper's description: unbiased
    convolutions, BN (gamma, beta) before every convolution but the stem's (ImageNet stems are
    conv-BN-ReLU), final BN, biased fc."""
    params = (49 * 3 * stem + 2 * stem) if imagenet else 9 * 3 * stem
    m = stem
    for i, n in enumerate(blocks):
        for _ in range(n):
            inner = 4 * k if bc else m
            if bc:
                params += 2 * m + m * inner
            params += 2 * inner + 9 * inner * k
            m += k
        if i < len(blocks) - 1:
            params += 2 * m + m * int(theta * m)
            m = int(theta * m)
    return params + 2 * m + m * classes + classes


def rounds_to(params, figure):
    decimals = len(figure.rstrip("M").split(".")[1])
    return f"{params / 1e6:.{decimals}f}M" == figure


# --- counts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("depth, k", sorted(TABLE2))
def test_cifar_bc_counts_are_counted_by_hand_and_round_to_table2(depth, k):
    params, figure = TABLE2[depth, k]
    assert kerasnets.get_entry(f"densenet_bc{depth}_k{k}").params == params
    n = (depth - 4) // 6
    assert params == by_hand((n, n, n), k, bc=True, theta=0.5, stem=2 * k, imagenet=False,
                             classes=10)
    assert rounds_to(params, figure)


@pytest.mark.parametrize("name, blocks", [("densenet121", (6, 12, 24, 16)),
                                          ("densenet169", (6, 12, 32, 32)),
                                          ("densenet201", (6, 12, 48, 32)),
                                          ("densenet264", (6, 12, 64, 48))])
def test_imagenet_counts_are_counted_by_hand(name, blocks):
    assert kerasnets.get_entry(name).params == by_hand(blocks, 32, bc=True, theta=0.5, stem=64,
                                                       imagenet=True, classes=1000)


def test_densenet264_matches_lucid_and_torchvision_layout_gives_densenet161():
    assert kerasnets.get_entry("densenet264").params == 33_337_704  # lucid densenet_264
    # the hand count reproduces torchvision densenet161 (k=48, 96-channel stem): 28,681,000
    assert by_hand((6, 12, 36, 24), 48, bc=True, theta=0.5, stem=96, imagenet=True,
                   classes=1000) == 28_681_000


@pytest.mark.parametrize("depth, k, params, figure", [
    (40, 12, 1_019_722, "1.0M"),     # imgclsmob densenet40_k12_cifar10; paper Table 2: 1.0M
    (100, 12, 6_979_642, "7.0M"),    # imgclsmob densenet100_k12_cifar10; 7.0M
    (100, 24, 27_249_082, "27.2M"),  # imgclsmob densenet100_k24_cifar10; 27.2M
])
def test_plain_densenet_specs_give_the_published_counts(depth, k, params, figure):
    spec = cifar_spec(depth, k, bc=False)
    assert (spec.bottleneck, spec.compression, spec.stem_channels) == (False, 1.0, 16)
    assert by_hand(spec.blocks, k, bc=False, theta=1.0, stem=16, imagenet=False,
                   classes=10) == params
    assert rounds_to(params, figure)
    if depth == 40:  # cheap enough to build
        assert trainable_count(build(spec)) == params


def test_spec_validation():
    with pytest.raises(ValueError, match="6n \\+ 4"):
        cifar_spec(101, 12)
    with pytest.raises(ValueError, match="3n \\+ 4"):
        cifar_spec(41, 12, bc=False)
    with pytest.raises(ValueError, match="compression must be in"):
        DenseNetSpec((1, 1), compression=0.0)
    with pytest.raises(ValueError, match="stem must be one of"):
        DenseNetSpec((1, 1), stem="tiny")


# --- structure --------------------------------------------------------------------------------

TINY = DenseNetSpec((2, 2, 2), growth_rate=3, stem="cifar")  # stem 6 channels


def test_dense_layers_concatenate_and_transitions_compress_with_floor():
    model = build(TINY)
    # stage 1: 6 + 2*3 = 12 -> 6; stage 2: 6 + 6 = 12 -> 6; stage 3: 6 + 6 = 12
    assert model.get_layer("stem_conv").filters == 6
    assert model.get_layer("stage1_block1_concat").output.shape[-1] == 9
    assert model.get_layer("stage1_block1_1_conv").filters == 12  # bottleneck 4k
    assert model.get_layer("stage1_block1_2_conv").filters == 3
    assert model.get_layer("stage1_block1_1_conv").kernel_size == (1, 1)
    assert model.get_layer("stage1_block1_2_conv").kernel_size == (3, 3)
    concat = model.get_layer("stage1_block2_concat")
    assert concat.input[0] is model.get_layer("stage1_block1_concat").output
    assert concat.input[1] is model.get_layer("stage1_block2_2_conv").output
    assert model.get_layer("stage1_block1_1_bn").input is model.get_layer("stem_conv").output
    assert [model.get_layer(f"stage{s}_out").output.shape[1:] for s in (1, 2, 3)] == \
        [(16, 16, 6), (8, 8, 6), (8, 8, 12)]
    assert model.get_layer("stage1_out").input is model.get_layer("stage1_transition_pool").output
    assert model.get_layer("stage3_out").input is model.get_layer("post_relu").output
    assert not any(isinstance(layer, keras.layers.Conv2D) and layer.use_bias
                   for layer in model.layers)
    odd = build(DenseNetSpec((1, 1), growth_rate=7, stem="cifar", stem_width=6))
    assert odd.get_layer("stage1_transition_conv").filters == 6  # floor(0.5 * 13)


def test_no_bottleneck_layers_are_a_single_bn_relu_conv3x3():
    model = build(DenseNetSpec((2, 2), growth_rate=4, bottleneck=False, compression=1.0,
                               stem="cifar", stem_width=16))
    names = [layer.name for layer in model.layers if layer.name.startswith("stage1_block1_")]
    assert names == ["stage1_block1_1_bn", "stage1_block1_1_relu", "stage1_block1_1_conv",
                     "stage1_block1_concat"]
    assert model.get_layer("stage1_transition_conv").filters == 24  # theta = 1


def test_drop_rate_follows_every_convolution_but_the_stem():
    plain, dropped = build(TINY), build(TINY, drop_rate=0.2)
    drops = [layer for layer in dropped.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(drops) == 3 * 2 * 2 + 2 and all(d.rate == 0.2 for d in drops)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)
    assert trainable_count(dropped) == trainable_count(plain)
    assert dropped.get_layer("stage1_block1_1_dropout").input is \
        dropped.get_layer("stage1_block1_1_conv").output
    assert dropped.get_layer("stage1_block1_2_bn").input is \
        dropped.get_layer("stage1_block1_1_dropout").output
    assert dropped.get_layer("stage2_transition_pool").input is \
        dropped.get_layer("stage2_transition_dropout").output
    assert dropped.get_layer("stage1_block1_1_bn").input is dropped.get_layer("stem_conv").output
    with pytest.raises(ValueError, match="drop_rate must be in"):
        DenseNetBC100_k12(drop_rate=1.0)


def test_variants_pin_their_spec():
    with pytest.raises(ValueError, match="fixes growth_rate=32"):
        DenseNet121(growth_rate=48)
    with pytest.raises(ValueError, match="fixes compression=0.5"):
        DenseNetBC100_k12(compression=1.0)
    entry = kerasnets.get_entry("densenet_bc100_k12")
    assert (entry.input_shape, entry.classes) == ((32, 32, 3), 10)


# --- keras.applications layout ----------------------------------------------------------------

def _keras_name(name):
    """keras' names -> ours: conv{s+1}_block{b}_{0,1}_bn -> stage{s}_block{b}_{1,2}_bn, ..."""
    name = re.sub(r"^conv(\d)_block(\d+)_(\d)_bn$",
                  lambda m: f"stage{int(m[1]) - 1}_block{m[2]}_{int(m[3]) + 1}_bn", name)
    name = re.sub(r"^conv(\d)_block", lambda m: f"stage{int(m[1]) - 1}_block", name)
    name = re.sub(r"^pool(\d)_", lambda m: f"stage{int(m[1]) - 1}_transition_", name)
    return {"conv1_conv": "stem_conv", "conv1_bn": "stem_bn", "bn": "post_bn"}.get(name, name)


def test_keras_layout_names_and_outputs_for_any_block_counts():
    """keras' generic DenseNet and ours agree for block counts keras does not register."""
    blocks, shape = (1, 2, 1, 2), (32, 32, 3)
    reference = KerasDenseNet(list(blocks), weights=None, input_shape=shape, classes=7)
    ours = build(DenseNetSpec(blocks), shape=shape, classes=7)
    theirs = [layer for layer in reference.layers if layer.weights]
    mine = [layer for layer in ours.layers if layer.weights]
    assert [_keras_name(layer.name) for layer in theirs] == [layer.name for layer in mine]
    for ref, layer in zip(theirs, mine):
        layer.set_weights(ref.get_weights())
    x = np.random.default_rng(2).uniform(size=(2,) + shape).astype("float32")
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(reference(x)), rtol=1e-4,
                               atol=1e-6)
