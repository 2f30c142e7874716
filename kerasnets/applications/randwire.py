"""Randomly wired networks: "Exploring Randomly Wired Neural Networks for Image Recognition" (Xie,
Kirillov, Girshick & He, ICCV 2019, arXiv:1904.01569), section 3 and Table 1, with the
Watts-Strogatz generator WS(K=4, P=0.75) and N=32 nodes of Tables 2-3.

    stage (paper)  output   small regime (C=78)         regular regime (C=109 or 154)
    stem (conv1)   112^2    3x3 conv /2, C/2            3x3 conv /2, C/2
    stem (conv2)    56^2    3x3 conv /2, C              -
    1 (conv2)       56^2    -                           random wiring, N/2 nodes, C
    1|2 (conv3)     28^2    random wiring, N, C         random wiring, N, 2C
    2|3 (conv4)     14^2    random wiring, N, 2C        random wiring, N, 4C
    3|4 (conv5)      7^2    random wiring, N, 4C        random wiring, N, 8C
    head             1^2    1x1 conv, 1280; global average pool; 1000-d fc

Each random stage is its own graph, drawn in order from one integer `seed` (keyword option,
default `DEFAULT_SEED`; numpy's default_rng, no networkx): `watts_strogatz` places N nodes on a
ring, joins each to its K/2 neighbours on both sides, then, for i = 1..K/2 and every node v in
ring order, rewires the edge from v to its i-th clockwise neighbour with probability P to a node
drawn uniformly among those that are not v and not already joined to v. Edges point from the
lower to the higher node index (a DAG). A node's inputs are combined by a weighted sum with
positive learnable weights (sigmoid of a free parameter; `WeightedSum`, only where a node has two
inputs or more), then ReLU, 3x3 separable convolution, BN. The stage's unique input node feeds
the nodes without predecessors, which convolve with stride 2; its unique output node averages the
nodes without successors (`stage{s}_out`). Both do no convolution. The wiring is in the model
itself (each node layer's inputs), so `.keras` files and `model.get_config()` reproduce it.

Conventions not fixed by Table 1, following the ReLU-conv-BN triplet of section 3 and the public
re-implementations: conv1 is conv-BN, conv2 (small) ReLU-conv-BN; every convolution is unbiased
and a stride-2 3x3 pads one pixel on each side; the head is ReLU, 1x1 conv, BN, ReLU (without the
last ReLU the 1x1 conv and fc would collapse into one linear map). `dropout` (before the fc)
defaults to 0.

Parameter counts depend on the graph (a node without predecessors reads the previous stage's
narrower output). The registered counts are exact for seed 0: 5,740,602 for C=78 (paper Table 2:
5.6M) and 31,882,865 for C=109 (Table 3: 31.9M); over 200 seeds the counts average 5.63M, 32.08M
and, for C=154 (`RandWireSpec("regular", 154)`, not registered), 61.81M (Table 3: 61.5M), with a
standard deviation of 1.5-1.9%. Multiply-adds at 224px for seed 0: 589M (paper 583M), 3.92G
(4.0B) and 7.71G (7.9B).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from keras import layers

from kerasnets.applications._common import finish, gap_head, model_input, register_family
from kerasnets.layers import WeightedSum, conv_bn_act
from kerasnets.zoo.registry import Paper, Variant

PAPER = Paper("Exploring Randomly Wired Neural Networks for Image Recognition", "1904.01569",
              2019)
DEFAULT_SEED = 0
HEAD_WIDTH = 1280


@dataclasses.dataclass(frozen=True)
class RandWireSpec:
    """A regime of Table 1 with C = `channels`, N = `nodes` and the WS(`k`, `p`) generator."""

    regime: str  # "small" | "regular"
    channels: int  # C
    nodes: int = 32  # N
    k: int = 4  # WS: each node starts joined to its k/2 ring neighbours on both sides
    p: float = 0.75  # WS: rewiring probability

    def __post_init__(self):
        if self.regime not in ("small", "regular"):
            raise ValueError(f"regime must be 'small' or 'regular', got {self.regime!r}.")

    @property
    def stages(self) -> tuple[tuple[int, int], ...]:
        """(nodes, width) of each random stage."""
        n, c = self.nodes, self.channels
        if self.regime == "small":
            return (n, c), (n, 2 * c), (n, 4 * c)
        return (n // 2, c), (n, 2 * c), (n, 4 * c), (n, 8 * c)


# One record per variant (params at DEFAULT_SEED); register_family (below) makes the builders.
_TABLE = [
    Variant("randwire_ws_small", "RandWireWS_Small", RandWireSpec("small", 78), 5_740_602,
            "exact count of the seed-0 graphs; paper Table 2: 5.6M for RandWire-WS (K=4, P=0.75), "
            "C=78, a count that varies with the graph"),
    Variant("randwire_ws_regular", "RandWireWS_Regular", RandWireSpec("regular", 109), 31_882_865,
            "exact count of the seed-0 graphs; paper Table 3: 31.9M for RandWire-WS (K=4, "
            "P=0.75), C=109, a count that varies with the graph"),
]


def watts_strogatz(n: int, k: int, p: float, rng: np.random.Generator) -> list[tuple[int, int]]:
    """The undirected edges (i < j, sorted) of a Watts-Strogatz graph, as section 3 of the paper
    describes it (the procedure of networkx's `watts_strogatz_graph`)."""
    if k % 2 or not 0 < k < n:
        raise ValueError(f"Watts-Strogatz needs an even k with 0 < k < n, got k={k}, n={n}.")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the rewiring probability must be in [0, 1], got {p}.")
    joined = [set() for _ in range(n)]
    for v in range(n):
        for i in range(1, k // 2 + 1):
            joined[v].add((v + i) % n)
            joined[(v + i) % n].add(v)
    for i in range(1, k // 2 + 1):
        for v in range(n):
            if rng.random() >= p:
                continue
            free = [u for u in range(n) if u != v and u not in joined[v]]
            if not free:
                continue
            old, new = (v + i) % n, free[int(rng.integers(len(free)))]
            joined[v].discard(old)
            joined[old].discard(v)
            joined[v].add(new)
            joined[new].add(v)
    return sorted((v, u) for v in range(n) for u in joined[v] if v < u)


def randwire_graphs(spec: RandWireSpec, seed: int = DEFAULT_SEED):
    """One DAG per random stage: `((num_nodes, edges), ...)`, edges (i, j) from node i to j > i."""
    rng = np.random.default_rng(seed)
    return tuple((n, tuple(watts_strogatz(n, spec.k, spec.p, rng))) for n, _ in spec.stages)


def node_op(x, filters, *, strides=1, name):
    """The node's transformation: ReLU, 3x3 separable conv (1-pixel padding when strided), BN."""
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    padding = "same"
    if strides > 1:
        x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.SeparableConv2D(filters, 3, strides=strides, padding=padding, use_bias=False,
                               name=f"{name}_conv")(x)
    return layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)


def random_stage(x, num_nodes, edges, filters, *, name):
    """One random graph as a stage: node i is block i + 1; returns the average of the sinks."""
    preds = [[] for _ in range(num_nodes)]
    has_successor = [False] * num_nodes
    for i, j in edges:
        if not 0 <= i < j < num_nodes:
            raise ValueError(f"{name}: edge {(i, j)} does not go from a lower to a higher node "
                             f"index below {num_nodes}.")
        preds[j].append(i)
        has_successor[i] = True
    outputs = []
    for j in range(num_nodes):
        block = f"{name}_block{j + 1}"
        inputs = [outputs[i] for i in sorted(preds[j])]
        if not inputs:
            outputs.append(node_op(x, filters, strides=2, name=block))
            continue
        y = inputs[0] if len(inputs) == 1 else WeightedSum(name=f"{block}_sum")(inputs)
        outputs.append(node_op(y, filters, name=block))
    sinks = [out for out, more in zip(outputs, has_successor) if not more]
    return sinks[0] if len(sinks) == 1 else layers.Average(name=f"{name}_average")(sinks)


def _randwire(spec: RandWireSpec, *, include_top, weights, input_tensor, input_shape, pooling,
              classes, classifier_activation, name, default_shape, min_size, seed=DEFAULT_SEED,
              dropout=0.0):
    inputs, x = model_input(input_tensor, input_shape, default_shape=default_shape,
                            min_size=min_size, model_name=name)
    c = spec.channels
    x = conv_bn_act(x, c // 2, 3, strides=2, padding=1, activation=None, name="stem_conv1")
    if spec.regime == "small":
        x = layers.Activation("relu", name="stem_conv2_relu")(x)
        x = conv_bn_act(x, c, 3, strides=2, padding=1, activation=None, name="stem_conv2")
    for s, ((num_nodes, edges), (_, width)) in enumerate(
            zip(randwire_graphs(spec, seed), spec.stages), start=1):
        x = random_stage(x, num_nodes, edges, width, name=f"stage{s}")
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = layers.Activation("relu", name="head_preact")(x)
    x = conv_bn_act(x, HEAD_WIDTH, 1, padding="valid", name="head")
    x = gap_head(x, include_top=include_top, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, dropout=dropout)
    return finish(inputs, x, name=name, weights=weights)


VARIANTS = register_family(
    globals(), _randwire, _TABLE, family="randwire", paper=PAPER, min_size=32, test_size=32,
    doc=lambda v: f"RandWire-WS(4, 0.75), {v.spec.regime} regime, C={v.spec.channels}")
