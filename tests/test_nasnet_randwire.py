"""What is special to NASNet-A and the randomly wired networks. (Reference counts, taps, minimum
sizes, the .keras round trip of the cheapest variant and NASNetMobile / NASNetLarge's equality
with keras.applications at 32x32 are covered by test_models.py.)"""

import os
import re

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.applications import NASNetMobile, RandWireWS_Small
from kerasnets.applications.nasnet import VARIANTS as NASNET_VARIANTS
from kerasnets.applications.nasnet import NASNetSpec, _nasnet
from kerasnets.applications.randwire import (RandWireSpec, WeightedSum, _randwire,
                                             randwire_graphs, watts_strogatz)
from kerasnets.zoo.flops import count_flops


def build_nasnet(spec, shape, name="nasnet_test"):
    return _nasnet(spec, include_top=True, weights=None, input_tensor=None, input_shape=shape,
                   pooling=None, classes=10, classifier_activation="softmax", name=name,
                   default_shape=shape, min_size=32)


def inbound(model) -> dict[str, list[str]]:
    """Layer name -> the layers that feed it, read from the model's serialized config."""

    def names(arg):
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            return [arg["config"]["keras_history"][0]]
        if isinstance(arg, (list, tuple)):
            return [n for a in arg for n in names(a)]
        return []

    return {layer["name"]: [n for node in layer["inbound_nodes"] for n in names(node["args"])]
            for layer in model.get_config()["layers"]}


# --- NASNet-A ---------------------------------------------------------------------------------

def test_nasnet_mobile_is_4_at_1056_and_rounds_to_the_paper_count():
    spec = NASNET_VARIANTS["nasnet_mobile"].spec
    assert (spec.num_blocks, spec.penultimate_filters) == (4, 1056)  # NASNet-A (4 @ 1056)
    large = NASNET_VARIANTS["nasnet_large"].spec
    assert (large.num_blocks, large.penultimate_filters) == (6, 4032)  # NASNet-A (6 @ 4032)
    # Paper Table 3: 5.3M parameters (keras: 5,326,716 in all; 5,289,978 trainable).
    assert f"{kerasnets.get_entry('nasnet_mobile').params / 1e6:.1f}M" == "5.3M"


@pytest.mark.slow
def test_nasnet_large_is_6_at_4032_and_counts_88_9m_in_all():
    model = kerasnets.create_model("nasnet_large", input_shape=(32, 32, 3))
    assert model.get_layer("stage3_out").output.shape[-1] == 4032
    # Paper Table 2: 88.9M, keras' total with the BatchNorm moving statistics (88,949,818);
    # the trainable count (the registry's reference) is 88,753,150 ("88.8M").
    assert f"{model.count_params() / 1e6:.1f}M" == "88.9M"


def test_nasnet_spec_checks_and_fixed_options():
    with pytest.raises(ValueError, match="divisible by 24"):
        NASNetSpec(1000, 4, 32, skip_reduction=False)
    with pytest.raises(ValueError, match="fixes num_blocks=4"):
        NASNetMobile(num_blocks=6)


@pytest.mark.parametrize("skip", [False, True])
def test_cells_resolutions_and_the_state_after_a_reduction(skip):
    """NASNet-A (1 @ 96) at 224px: stage widths 6F, 12F, 24F = P (F = P / 24) at 28, 14, 7 px.
    Without skip_reduction the first Normal cell after a Reduction cell takes the Reduction
    cell's input as "p"; with it (NASNetLarge), the input of the cell before that."""
    model = build_nasnet(NASNetSpec(96, 1, 8, skip_reduction=skip), (224, 224, 3))
    f = 96 // 24
    assert [tuple(model.get_layer(f"stage{s}_out").output.shape[1:]) for s in (1, 2, 3)] == \
        [(28, 28, 6 * f), (14, 14, 12 * f), (7, 7, 24 * f)]
    # stage 1: N Normal cells; stages 2-3: a Reduction cell (4 branches), then N Normal cells
    cells = [layer for layer in model.layers
             if layer.name.endswith("_concat") and "adjust" not in layer.name]
    assert [layer.name for layer in cells] == \
        ["stem_reduce1_concat", "stem_reduce2_concat", "stage1_block1_concat",
         "stage2_block1_concat", "stage2_block2_concat", "stage3_block1_concat",
         "stage3_block2_concat"]
    assert [len(layer.input) for layer in cells] == [4, 4, 6, 4, 6, 4, 6]
    links = inbound(model)
    # p of the Reduction cell starting stage 2 is the input of stage 1's last Normal cell
    assert links["stage2_block2_adjust_relu"] == ["stem_reduce2_concat" if skip else "stage1_out"]
    assert links["stage3_block2_adjust_relu"] == ["stage2_block1_concat" if skip else "stage2_out"]
    # the stem cells never skip: stem_reduce2 reduces stem_reduce1's input, the stem BN output
    assert links["stem_reduce2_adjust_relu"] == ["stem_bn"]


def test_small_nasnet_matches_keras_generic_builder_at_an_odd_size():
    """keras' own NASNet(penultimate_filters, num_blocks, ...) with a tiny configuration; at 47px
    the cells see odd and even sizes (23, 12, 6, 3, 2, 1), exercising keras' asymmetric padding
    (test_models.py compares the registered models at 32px only)."""
    from keras.src.applications.nasnet import NASNet  # keras' generic builder (not exported)

    shape = (47, 47, 3)
    reference = NASNet(shape, penultimate_filters=96, num_blocks=1, stem_block_filters=8,
                       skip_reduction=True, weights=None, classes=10)
    ours = build_nasnet(NASNetSpec(96, 1, 8, skip_reduction=True), shape)
    ref_layers = [layer for layer in reference.layers if layer.weights]
    our_layers = [layer for layer in ours.layers if layer.weights]
    assert [type(r) for r in ref_layers] == [type(o) for o in our_layers]
    for ref, mine in zip(ref_layers, our_layers):
        mine.set_weights(ref.get_weights())
    x = np.random.default_rng(2).uniform(0, 1, size=(2,) + shape).astype("float32")
    np.testing.assert_allclose(ours(x), reference(x), rtol=1e-4, atol=1e-6)


# --- Randomly wired networks ------------------------------------------------------------------

def test_watts_strogatz_generator():
    n, k = 32, 4
    ring = sorted(tuple(sorted((v, (v + i) % n))) for v in range(n) for i in (1, 2))
    assert watts_strogatz(n, k, 0.0, np.random.default_rng(0)) == ring  # P=0: the ring lattice
    graphs = [watts_strogatz(n, k, 0.75, np.random.default_rng(s)) for s in (0, 0, 1)]
    assert graphs[0] == graphs[1] and graphs[0] != graphs[2]
    for edges in graphs:
        assert len(edges) == n * k // 2 == len(set(edges))  # rewiring keeps the edge count
        assert all(0 <= i < j < n for i, j in edges)  # no self-loops
        degree = np.bincount(np.array(edges).ravel(), minlength=n)
        assert degree.min() >= k // 2  # each node keeps the k/2 edges it started (rewired or not)
    # P=0.75 rewires about three quarters of the lattice edges
    assert 32 <= len(set(graphs[0]) - set(ring)) <= 60
    with pytest.raises(ValueError, match="even k"):
        watts_strogatz(8, 3, 0.5, np.random.default_rng(0))


def test_stage_graphs_follow_table_1_and_the_seed():
    small, regular = RandWireSpec("small", 78), RandWireSpec("regular", 109)
    assert [n for n, _ in randwire_graphs(small)] == [32, 32, 32]
    assert [n for n, _ in randwire_graphs(regular)] == [16, 32, 32, 32]
    assert [w for _, w in regular.stages] == [109, 218, 436, 872]
    assert randwire_graphs(small, 3) == randwire_graphs(small, 3)
    assert randwire_graphs(small, 3) != randwire_graphs(small, 4)
    first, second, _ = randwire_graphs(small, 3)
    assert first != second  # every stage draws its own graph


def by_hand(spec, seed) -> int:
    """Trainable parameters from Table 1 and the graphs: conv + BN (gamma, beta); a node is a
    separable 3x3 (9 cin + cin cout) + BN, reading the previous stage (cin) when it has no
    predecessor; one sigmoid weight per input of a node with two inputs or more."""
    c = spec.channels
    total, width = 9 * 3 * (c // 2) + 2 * (c // 2), c // 2
    if spec.regime == "small":
        total, width = total + 9 * (c // 2) * c + 2 * c, c
    for (n, edges), (_, out) in zip(randwire_graphs(spec, seed), spec.stages):
        fan_in = np.bincount([j for _, j in edges], minlength=n)
        for d in fan_in:
            cin = out if d else width
            total += 9 * cin + cin * out + 2 * out + (d if d > 1 else 0)
        width = out
    return total + width * 1280 + 2 * 1280 + 1280 * 1000 + 1000


# paper Tables 2-3 (regime, C): params of one graph; counts vary by 1.5-1.9% (s.d.) over graphs
PAPER_PARAMS = {("small", 78): 5.6e6, ("regular", 109): 31.9e6, ("regular", 154): 61.5e6}


@pytest.mark.parametrize("name", ["randwire_ws_small", "randwire_ws_regular"])
def test_randwire_reference_count_is_the_seed_0_graphs_and_near_the_paper(name):
    spec = {"randwire_ws_small": RandWireSpec("small", 78),
            "randwire_ws_regular": RandWireSpec("regular", 109)}[name]
    params = kerasnets.get_entry(name).params
    assert params == by_hand(spec, 0)
    # One graph's count is within 3% (1.6-2 s.d. of the spread over graphs) of the paper's.
    assert abs(params / PAPER_PARAMS[(spec.regime, spec.channels)] - 1) < 0.03


@pytest.mark.parametrize("regime, channels", sorted(PAPER_PARAMS))
def test_randwire_mean_count_over_graphs_matches_the_paper(regime, channels):
    """Averaged over 50 graphs, the count is within 1% of the paper's (which is one graph)."""
    spec = RandWireSpec(regime, channels)
    counts = np.array([by_hand(spec, seed) for seed in range(50)])
    assert abs(counts.mean() / PAPER_PARAMS[(regime, channels)] - 1) < 0.01
    assert counts.std() > 0  # the wiring changes the count


def wiring(links, stage):
    """The DAG of one stage, read back from a model's config (`inbound`): (edges, sources,
    sinks); sources are the nodes fed by the previous stage."""
    edges, sources = set(), []
    for name in links:
        m = re.fullmatch(rf"stage{stage}_block(\d+)_relu", name)
        if not m:
            continue
        j = int(m.group(1)) - 1
        feed = links[name]
        if feed[0].endswith("_sum"):
            feed = links[feed[0]]
        for src in feed:
            i = re.fullmatch(rf"stage{stage}_block(\d+)_bn", src)
            if i:
                edges.add((int(i.group(1)) - 1, j))
            else:
                sources.append(j)
    out = links[f"stage{stage}_out"]
    sinks = links[out[0]] if out[0].endswith("_average") else out
    return sorted(edges), sorted(sources), sorted(int(s.split("block")[1][:-3]) - 1 for s in sinks)


def test_model_wiring_is_the_seeded_graph_and_survives_a_keras_round_trip(tmp_path):
    spec, seed = RandWireSpec("small", 16, nodes=12), 5  # a narrow, 12-node small regime
    model = _randwire(spec, include_top=True, weights=None, input_tensor=None,
                      input_shape=(32, 32, 3), pooling=None, classes=3,
                      classifier_activation="softmax", name="randwire_test",
                      default_shape=(32, 32, 3), min_size=32, seed=seed)
    links = inbound(model)
    for s, (n, edges) in enumerate(randwire_graphs(spec, seed), start=1):
        sources = sorted(set(range(n)) - {j for _, j in edges})
        assert wiring(links, s) == (sorted(edges), sources,
                                    sorted(set(range(n)) - {i for i, _ in edges}))
        assert [model.get_layer(f"stage{s}_block{j + 1}_conv").strides[0] for j in range(n)] == \
            [2 if j in sources else 1 for j in range(n)]
    assert randwire_graphs(spec, seed) != randwire_graphs(spec)  # not the default wiring
    path = os.path.join(tmp_path, "randwire.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_links = inbound(loaded)
    assert [wiring(loaded_links, s) for s in (1, 2, 3)] == [wiring(links, s) for s in (1, 2, 3)]
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-6)


def test_public_builder_takes_a_seed_and_matches_the_paper_mult_adds():
    """Table 2: 583M FLOPs (multiply-adds) for C=78 at 224px. conv2 is a full 3x3 convolution
    (a separable one would give ~13% less); the graph moves the count by about 1%."""
    model = RandWireWS_Small(seed=1)
    (_, edges), *_ = randwire_graphs(RandWireSpec("small", 78), 1)
    assert wiring(inbound(model), 1)[0] == sorted(edges)
    assert abs(count_flops(model) / 583e6 - 1) < 0.03
    with pytest.raises(ValueError, match="fixes channels=78"):
        RandWireWS_Small(channels=109)


def test_weighted_sum_uses_positive_sigmoid_weights():
    layer = WeightedSum(name="agg")
    a, b = np.full((1, 2, 2, 3), 2.0, "float32"), np.full((1, 2, 2, 3), -1.0, "float32")
    layer([a, b])
    layer.set_weights([np.array([0.0, np.log(3.0)], "float32")])  # sigmoid: 1/2 and 3/4
    np.testing.assert_allclose(layer([a, b]), 0.5 * a + 0.75 * b, rtol=1e-6)
    with pytest.raises(ValueError, match="two inputs or more"):
        WeightedSum()([a])
    assert WeightedSum.from_config(layer.get_config()).name == "agg"
