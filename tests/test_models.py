"""Registry-wide checks: every registered variant, built the way users build it."""

import collections
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnets
from conftest import randomize_weights, representatives
from kerasnets.applications._common import BASE_ARGS

ALL = kerasnets.list_models()
REPS = representatives()

# The default suite builds every registered model and checks its parameter count, names and taps.
# The more expensive checks (a second build at the minimum size, forward / backward, mixed
# precision, the `.keras` round trip, the keras.applications weight copy) run by default on one
# variant per family (`representatives()`, the keras equivalent: the lightest of its family);
# the other variants run them under `pytest -m slow`.


def _slow_unless(condition, name):
    return name if condition else pytest.param(name, marks=pytest.mark.slow)


def _first_keras_equivalent_per_family(names):
    chosen = {}
    for name in names:
        entry = kerasnets.get_entry(name)
        best = chosen.get(entry.family)
        if best is None or entry.params < kerasnets.get_entry(best).params:
            chosen[entry.family] = name
    return set(chosen.values())


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def stage_taps(model) -> list[str]:
    return [layer.name for layer in model.layers if re.fullmatch(r"stage\d+_out", layer.name)]


@pytest.mark.parametrize("name", ALL)
def test_reference_params_names_and_taps(name):
    """Default build: trainable parameters equal the cited reference; unique names; stage taps
    (Identity layers); no Keras grouped Conv2D."""
    entry = kerasnets.get_entry(name)
    model = kerasnets.create_model(name)
    assert model.name == name
    assert trainable_count(model) == entry.params, entry.params_source
    names = [layer.name for layer in model.layers]
    dupes = [n for n, c in collections.Counter(names).items() if c > 1]
    assert not dupes, dupes
    taps = stage_taps(model)
    assert taps, "no stage{s}_out layers"
    assert taps == [f"stage{s}_out" for s in range(1, len(taps) + 1)], taps
    assert all(type(model.get_layer(tap)) is keras.layers.Identity for tap in taps), taps
    grouped = [layer.name for layer in model.layers  # design.md: grouped convolutions are
               if isinstance(layer, keras.layers.Conv2D) and layer.groups > 1]  # GroupedConv2D
    assert not grouped, grouped
    assert model.output_shape == (None, entry.classes)


@pytest.mark.parametrize("name", [_slow_unless(n in REPS, n) for n in ALL])
def test_minimum_input_size(name):
    """The registered minimum builds (headless, avg-pooled); one pixel less is a clear error."""
    entry = kerasnets.get_entry(name)
    size, channels = entry.min_size, entry.input_shape[2]
    model = kerasnets.create_model(name, include_top=False, pooling="avg",
                                   input_shape=(size, size, channels))
    assert len(model.output_shape) == 2
    with pytest.raises(ValueError, match=f"minimum is {size}x{size}"):
        kerasnets.create_model(name, include_top=False, input_shape=(size - 1, size, channels))


# The `.keras` round trip proves the custom layers' configs: by default one variant per kerasnets
# layer class (the classes listed), plus a model of Keras layers only; the other
# representatives under `pytest -m slow`. A representative with a class not listed here fails
# `test_forward_backward_finite`.
ROUND_TRIP = {"lenet5": {"ConnectionTableConv2D", "EuclideanRBF", "TrainableSubsampling"},
              "alexnet_2tower": {"GroupedConv2D", "LocalResponseNormalization"},
              "squeezenet1_1": {"CeilModeMaxPooling2D"},
              "inception_resnet_v1": {"ScaledAdd"},
              "randwire_ws_small": {"WeightedSum"},
              "resnet20_cifar": {"ZeroPadChannels"},
              "shiftresnet20": {"Shift"},
              "shufflenet_v2_x0_5": {"ChannelShuffle", "ChannelSplit"},
              "mobilenet_x0_25": set()}


def test_round_trip_variants_are_representatives():
    assert set(ROUND_TRIP) <= set(REPS), sorted(set(ROUND_TRIP) - set(REPS))


def kerasnets_layer_classes(model) -> set[str]:
    return {type(layer).__name__ for layer in model.layers
            if type(layer).__module__.startswith("kerasnets.")}


def _small_build(name, classes):
    entry = kerasnets.get_entry(name)
    size = entry.test_size or entry.min_size
    shape = (size, size, entry.input_shape[2])
    return kerasnets.create_model(name, classes=classes, input_shape=shape), shape


@pytest.mark.parametrize("name", REPS)
def test_forward_backward_finite(name):
    model, shape = _small_build(name, 5)
    unlisted = kerasnets_layer_classes(model) - set().union(*ROUND_TRIP.values())
    assert not unlisted, f"{name}: {sorted(unlisted)} need a variant in ROUND_TRIP"
    x = tf.random.uniform((2,) + shape)
    y = tf.constant([1, 3])
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(y, probs)
    grads = tape.gradient(loss, model.trainable_weights)
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(np.sum(probs, axis=-1), 1.0, rtol=1e-5)
    assert np.isfinite(loss.numpy()).all()
    missing = [w.path for w, g in zip(model.trainable_weights, grads) if g is None]
    assert not missing, f"no gradient for {missing}"
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


@pytest.mark.parametrize("name", REPS)
def test_mixed_precision_outputs_float32(name):
    """Under mixed_float16 the body computes in float16 and the classifier stays float32."""
    entry = kerasnets.get_entry(name)
    size = entry.test_size or entry.min_size
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = kerasnets.create_model(name, classes=5,
                                       input_shape=(size, size, entry.input_shape[2]))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.output.dtype == "float32"
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert any(layer.compute_dtype == "float16" for layer in model.layers if layer.weights)


@pytest.mark.parametrize("name", [_slow_unless(n in ROUND_TRIP, n) for n in REPS])
def test_keras_file_round_trip(name, tmp_path):
    model, shape = _small_build(name, 3)
    if name in ROUND_TRIP:
        assert kerasnets_layer_classes(model) == ROUND_TRIP[name]
    x = np.random.default_rng(0).uniform(size=(2,) + shape).astype("float32")
    path = os.path.join(tmp_path, f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    # Direct calls, not predict(): compiling a predict function costs more than the check.
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


KERAS_EQUIVALENT = [n for n in ALL if kerasnets.get_entry(n).keras_equivalent]
KERAS_DEFAULT = _first_keras_equivalent_per_family(KERAS_EQUIVALENT)


@pytest.mark.parametrize("name", [_slow_unless(n in KERAS_DEFAULT, n) for n in KERAS_EQUIVALENT])
def test_same_weights_and_outputs_as_keras_applications(name):
    """Randomise keras.applications' weights (He-scaled, non-trivial BN statistics), copy them in
    order into ours: the logits must be identical."""
    entry = kerasnets.get_entry(name)
    size = max(entry.min_size, 32)
    shape = (size, size, 3)
    reference = getattr(keras.applications, entry.keras_equivalent)(
        weights=None, input_shape=shape, classifier_activation=None)
    ours = kerasnets.create_model(name, input_shape=shape, classifier_activation=None)
    assert ours.count_params() == reference.count_params()
    ref_layers = [layer for layer in reference.layers if layer.weights]
    our_layers = [layer for layer in ours.layers if layer.weights]
    assert len(ref_layers) == len(our_layers)
    randomize_weights(reference)
    for ref, mine in zip(ref_layers, our_layers):
        mine.set_weights(ref.get_weights())
    x = np.random.default_rng(1).uniform(0, 1, size=(2,) + shape).astype("float32")
    want = np.asarray(reference(x, training=False))
    got = np.asarray(ours(x, training=False))
    assert np.std(want) > 1e-3, "degenerate logits: the comparison would prove nothing"
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_registry_lists_public_builders():
    """Each registered variant's builder is exported from kerasnets.applications."""
    import inspect

    from kerasnets import applications

    for name in ALL:
        builder = kerasnets.get_entry(name).builder
        assert getattr(applications, builder.__name__) is builder, name
        params = list(inspect.signature(builder).parameters)
        assert tuple(params[: len(BASE_ARGS)]) == BASE_ARGS, (name, params)
