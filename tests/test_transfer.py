"""kerasnets.transfer (freezing, schedules, Yosinski networks) and tools.finetune / tools.transfer
end to end on tiny inputs."""

import csv
import dataclasses
import json
import functools
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import conftest
from kerasnets import training, transfer
from kerasnets.weights import WeightsMismatchError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (32, 32, 3)


def _classifier(classes=3, **kw):
    return transfer.build_classifier("resnet20_cifar", classes, input_shape=SHAPE, **kw)


def _tiny(classes=3, channels=3):
    """A three-stage backbone named like the registry's (stem_*, stage{s}_block1_*, stage{s}_out)
    with BatchNorm, small enough that training steps trace in a second."""
    inputs = keras.Input(SHAPE[:2] + (channels,), name="input")
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for s, width in enumerate((4, 8, 8), start=1):
        x = keras.layers.Conv2D(width, 3, strides=2 if s > 1 else 1, padding="same",
                                name=f"stage{s}_block1_conv")(x)
        x = keras.layers.BatchNormalization(name=f"stage{s}_block1_bn")(x)
        x = keras.layers.ReLU(name=f"stage{s}_block1_relu")(x)
        x = keras.layers.Identity(name=f"stage{s}_out")(x)
    return transfer.build_classifier(keras.Model(inputs, x, name="tiny"), classes)


def _data(n=24, classes=3, seed=0, batch=8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + SHAPE).astype("float32")
    y = (np.arange(n) % classes).astype("int64")
    x += y[:, None, None, None]            # learnable
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _compile(model, lr=0.05):
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def _snapshot(model, names):
    return {n: [w.numpy().copy() for w in model.get_layer(n).weights] for n in names}


def _changed(before, model):
    return {n for n, ws in before.items()
            if any(not np.array_equal(a, w.numpy()) for a, w in zip(ws, model.get_layer(n).weights))}


def _weighted(model, names):
    return [n for n in names if model.get_layer(n).weights]


def test_build_classifier_head_and_errors():
    model = _classifier(4, dropout=0.2)
    names = [layer.name for layer in model.layers]
    assert names[-4:] == ["backbone_out", "head_pool", "head_dropout", "predictions"]
    assert transfer.stage_taps(model) == ["stage1_out", "stage2_out", "stage3_out"]
    assert model.output_shape == (None, 4)
    with pytest.raises(ValueError, match="pooling"):
        _classifier(pooling="mean")
    with pytest.raises(ValueError, match="classes"):
        _classifier(0)
    with pytest.raises(ValueError, match="Unknown model name"):
        transfer.build_classifier("resnet2O_cifar", 3)


def test_freeze_by_stage_by_name_and_whole_backbone():
    model = _classifier()
    frozen = transfer.freeze(model, 1)
    assert frozen[0] == "input" and frozen[-1] == "stage1_out"
    assert {n.split("_")[0] for n in frozen} == {"input", "stem", "stage1"}
    assert all(model.get_layer(n).trainable is False for n in frozen)
    rest = [layer for layer in model.layers if layer.name not in frozen]
    assert all(layer.trainable for layer in rest)
    assert {v.path.split("/")[0] for v in model.trainable_variables} == \
        {layer.name for layer in rest if layer.weights}

    transfer.freeze(model)                     # the whole backbone
    assert [v.path for v in model.trainable_variables] == ["predictions/kernel",
                                                           "predictions/bias"]
    frozen = transfer.freeze(model, "stage2_block1_1_conv")
    assert frozen[-1] == "stage2_block1_1_conv" and "stage2_block1_1_bn" not in frozen
    assert transfer.unfreeze(model, 3) == transfer.layers_upto(model, 2)
    assert transfer.unfreeze(model, 1) == [] and all(layer.trainable for layer in model.layers)
    with pytest.raises(ValueError, match=r"has 3 stages \(stage1_out, stage2_out, stage3_out\)"):
        transfer.freeze(model, 4)
    with pytest.raises(ValueError, match="Did you mean: stage2_out"):
        transfer.freeze(model, "stage2_ot")


def test_frozen_batchnorm_statistics_do_not_change_while_the_head_trains():
    model = _tiny()
    bns = [layer.name for layer in model.layers
           if isinstance(layer, keras.layers.BatchNormalization)]
    backbone = _weighted(model, transfer.layers_upto(model, transfer.BACKBONE_OUT))
    transfer.freeze(model)
    _compile(model)
    before = _snapshot(model, backbone + ["predictions"])
    training.fit(model, _data(), epochs=2, verbose=0)
    assert _changed(before, model) == {"predictions"}
    assert set(bns) <= set(backbone)
    # The same training with the backbone trainable moves the statistics: the test can fail.
    transfer.unfreeze(model)
    _compile(model)
    before = _snapshot(model, bns)
    training.fit(model, _data(), epochs=1, verbose=0)
    assert _changed(before, model) == set(bns)


def test_warmup_then_unfreeze_changes_only_what_it_should():
    model = _tiny()
    early = _weighted(model, transfer.layers_upto(model, 1))       # stem + stage 1
    later = _weighted(model, [n for n in transfer.layers_upto(model, transfer.BACKBONE_OUT)
                              if n not in early])
    start = _snapshot(model, early + later + ["predictions"])
    at_unfreeze = {}

    def phase_callbacks(phase):
        if phase != "warmup":
            return []
        return [keras.callbacks.LambdaCallback(
            on_train_end=lambda logs: at_unfreeze.update(_snapshot(model, early + later)))]

    result = transfer.fine_tune(
        model, _data(), _data(seed=1), epochs=3, lr=0.05, unfreeze_at_epoch=2,
        unfreeze_from_stage=2, fine_tune_lr=0.005, make_optimizer=lambda lr, e:
        keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy",
        callbacks=phase_callbacks, verbose=0)
    assert result.unfrozen_at == 2 and len(result.history["loss"]) == 3
    assert "val_accuracy" in result.history
    assert all(np.array_equal(a, b) for n in early + later
               for a, b in zip(start[n], at_unfreeze[n]))      # warm-up: backbone untouched
    assert _changed(start, model) == set(later) | {"predictions"}   # stem + stage 1 stay frozen
    assert result.frozen_finetune == transfer.layers_upto(model, 1)


def test_cached_features_train_the_same_head():
    model = _tiny()
    transfer.freeze(model, 2)
    data = _data()
    x = next(iter(data))[0]
    tail = transfer.tail_model(model, 2)
    features, _ = transfer.extract_features(model, data, 2)
    np.testing.assert_allclose(tail(features[:8]), model(x, training=False), rtol=1e-5,
                               atol=1e-6)
    before = _snapshot(model, ["predictions", "stage3_block1_conv", "stage1_block1_conv"])
    labels = np.concatenate([y for _, y in data])

    def loss_of(probabilities):
        return float(np.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities)))

    initial_loss = loss_of(model.predict(data, verbose=0))
    result = transfer.fine_tune(model, data, data, epochs=5, lr=0.2, freeze_upto=2,
                                make_optimizer=lambda lr, e: keras.optimizers.SGD(lr),
                                loss="sparse_categorical_crossentropy", cache_features=True,
                                verbose=0)
    assert result.cached_features
    # The full model is compiled for use (the loss and metrics it was trained with) and scores
    # what its own layers, trained through the tail, now predict: a lower loss than before.
    logs = training.evaluate(model, data, verbose=0)
    probabilities = model.predict(data, verbose=0)
    assert logs["accuracy"] == pytest.approx(np.mean(probabilities.argmax(-1) == labels))
    assert logs["loss"] == pytest.approx(loss_of(probabilities), rel=1e-4)
    # measured: loss 1.090 -> 1.028, accuracy 0.71 (chance 1/3)
    assert logs["loss"] < initial_loss - 0.03 and logs["accuracy"] > 0.5, (logs, initial_loss)
    # Training the tail on cached features trains the full model's own layers.
    assert _changed(before, model) == {"predictions", "stage3_block1_conv"}


def test_linear_probe_scores_every_stage_and_the_backbone():
    model = _tiny()
    data = _data(n=48)
    rows = transfer.linear_probe(model, data, data)
    assert [r["tap"] for r in rows] == ["stage1_out", "stage2_out", "stage3_out", "backbone_out"]
    assert [r["dim"] for r in rows] == [4, 8, 8, 8]
    assert rows[0]["accuracy"] >= 0.9          # labels shift every pixel: separable early on
    shuffled = _data(n=48).map(lambda x, y: (x, tf.random.stateless_uniform(
        tf.shape(y), (1, 2), maxval=3, dtype=tf.int64)))
    assert transfer.linear_probe(model, shuffled, _data(n=48), taps=[1])[0]["accuracy"] < 0.9
    with pytest.raises(ValueError, match="has no layer 'stage9_out'"):
        transfer.linear_probe(model, data, data, taps=["stage9_out"])


def test_discriminative_learning_rates_per_stage():
    model = _tiny()
    optimizer = transfer.discriminative_optimizer(
        model, lambda scale: keras.optimizers.SGD(0.1 * scale), 0.5)
    groups = dict(transfer.stage_groups(model))
    expected = {**{n: 0.1 * 0.5 ** (4 - s) for s in (1, 2, 3) for n in groups[f"stage{s}"]},
                **{n: 0.1 for n in groups["top"]}}
    _compile(model)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    training.fit(model, _data(n=8), epochs=1, verbose=0)
    for variable in model.trainable_variables:
        lr = float(optimizer._optimizer_map(variable).learning_rate.numpy())
        assert lr == pytest.approx(expected[variable.path.split("/")[0]]), variable.path
    assert isinstance(transfer.discriminative_optimizer(model, keras.optimizers.SGD, 1.0),
                      keras.optimizers.SGD)
    with pytest.raises(ValueError, match="factor"):
        transfer.discriminative_optimizer(model, keras.optimizers.SGD, 1.5)


def test_transferred_copies_first_stages_and_reinitialises_the_rest():
    keras.utils.set_random_seed(1)
    source = _tiny()
    copied = _weighted(source, transfer.layers_upto(source, 2))
    keras.utils.set_random_seed(2)
    frozen = transfer.transferred(_tiny, source, 2, fine_tune=False)
    keras.utils.set_random_seed(2)
    plus = transfer.transferred(_tiny, source, 2, fine_tune=True)
    for model in (frozen, plus):
        for name in copied:
            for a, b in zip(source.get_layer(name).weights, model.get_layer(name).weights):
                np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert not np.array_equal(source.get_layer("stage3_block1_conv").weights[0].numpy(),
                                  model.get_layer("stage3_block1_conv").weights[0].numpy())
    assert not frozen.get_layer("stage2_out").trainable and frozen.get_layer("stage3_out").trainable
    assert all(layer.trainable for layer in plus.layers)
    with pytest.raises(WeightsMismatchError, match="stem_conv"):
        transfer.copy_weights(_tiny(channels=1), source, 1)


def test_recalibrate_batchnorm_averages_batch_statistics():
    inputs = keras.Input((4,))
    outputs = keras.layers.BatchNormalization(name="bn")(inputs)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=i, scale=1 + i, size=(16, 4)).astype("float32") for i in range(3)]
    data = tf.data.Dataset.from_tensor_slices((np.concatenate(batches), np.zeros(48))).batch(16)
    assert transfer.recalibrate_batchnorm(model, data) == 3
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([b.mean(0) for b in batches], 0),
                               rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               np.mean([b.var(0) for b in batches], 0), rtol=1e-4)
    assert bn.momentum == 0.99


# ----------------------------------------------------------------------------- tools

run_tool = functools.partial(conftest.run_tool, check=False)


def test_finetune_tool_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_tool("tools.finetune", "--backbone", "lenet5", "--freeze",
                    "--unfreeze_at_epoch", "1", "--unfreeze_from_stage", "2", "--epochs", "2",
                    "--pretrain_epochs", "1", "--steps_per_epoch", "4", "--linear_probe",
                    "--lr", "0.01", "--model_dir", str(run_dir),
                    "--output", str(tmp_path / "summary.md"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.load(open(run_dir / "metrics.json"))
    assert metrics["weights"] == "pretrain" and metrics["schedule"] == "2.B"
    assert metrics["source_classes"] == ["0", "1", "2", "3", "4"]
    assert metrics["target_classes"] == ["5", "6", "7", "8", "9"]
    assert metrics["unfrozen_at_epoch"] == 1 and len(metrics["history"]["loss"]) == 2
    # Every model of the run learns (5 classes, chance 0.2). Measured: source 0.95, target 0.69,
    # frozen random features 0.61, scratch 0.95; few-shot (k=20) 0.91.
    assert metrics["source_accuracy"] > 0.7
    assert metrics["target_accuracy"] > 0.45 and metrics["baseline_accuracy"] > 0.35
    assert metrics["scratch_same_time"]["accuracy"] > 0.7
    assert metrics["few_shot"][-1]["shots"] == 20 and metrics["few_shot"][-1]["accuracy"] > 0.7
    for path in ("curves.png", "final.keras", "pretrain/final.weights.h5", "pretrain/best.keras",
                 "finetune/history.csv", "summary.md"):
        assert (run_dir / path).exists(), path
    rows = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert rows[0]["target accuracy"] == f"{metrics['target_accuracy']:.4f}"
    assert rows[1]["backbone weights"] == "random (baseline)"
    assert "vs frozen random features" in proc.stdout
    probe = list(csv.DictReader(open(run_dir / "probe.csv")))
    assert [r["features"] for r in probe][-1] == "backbone_out" and len(probe) >= 2
    # Digits are nearly linearly separable on any conv features (measured: pre-trained
    # 0.90-0.97, random 0.88-0.96 per tap).
    assert all(float(r["pre-trained backbone"]) > 0.75 and float(r["random backbone"]) > 0.6
               for r in probe), probe
    assert metrics["linear_probe"][0]["tap"] == probe[0]["features"]


def test_finetune_plateau_preset_lowers_the_learning_rate(tmp_path, capsys):
    """AlexNet's recipe ("divided by 10 when the validation error stopped improving") through
    tools.finetune's experiment: at lr 20 the loss climbs every epoch, so after 2 epochs without
    improvement the rate is divided by 10 (before #16 it stayed constant in every tool but
    tools.train)."""
    from kerasnets.experiments import transfer as X

    settings = training.resolve_settings(
        {"optimizer": "adam", "lr": 20.0, "schedule": "cosine", "weight_decay": 0.0,
         "label_smoothing": 0.0, "recipe": "none", "momentum": 0.9, "randaugment": False},
        preset="alexnet", given=["lr", "recipe"], batch_size=32)
    assert settings["schedule"] == "plateau"
    d = _data(n=24, classes=2, seed=0)
    result = X.finetune("lenet5", X.Task(d, d, 2, steps_per_epoch=3, class_names=("0", "1")),
                        input_shape=SHAPE, settings=settings, epochs=4, model_dir=str(tmp_path),
                        shots=[], baseline=False, scratch=False, steps_per_epoch=3)
    assert result.run.history["learning_rate"] == pytest.approx([20.0, 20.0, 20.0, 2.0])
    assert "reducing learning rate to 2.0" in capsys.readouterr().out


def offline(monkeypatch, tmp_path):
    """No network (a proxy nobody listens on) and an empty Keras cache."""
    from kerasnets.weights import keras_files

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setattr(keras_files, "_keras_cache_dir", lambda: str(tmp_path / "keras"))


def test_finetune_imagenet_offline_fails_fast_with_how_to(tmp_path, monkeypatch):
    """tools.finetune's bad inputs are the library's errors (tools.flags.run prints them as
    `error: ...`, exit 2), raised before anything is written."""
    import kerasnets
    from kerasnets.weights import WeightsUnavailableError

    offline(monkeypatch, tmp_path)
    start = time.time()
    with pytest.raises(WeightsUnavailableError) as failed:
        transfer.choose_weights("resnet50", "imagenet")
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in str(failed.value)
    assert "--weights /path/to/" in str(failed.value) and "no network" in str(failed.value)
    assert time.time() - start < 30
    with pytest.raises(ValueError, match="Unknown model name 'resnet5O'"):
        kerasnets.get_entry("resnet5O")
    with pytest.raises(FileNotFoundError, match="no such file"):
        transfer.choose_weights("lenet5", str(tmp_path / "nope.h5"))
    from kerasnets.experiments import transfer as X

    with pytest.raises(ValueError, match="--unfreeze_at_epoch needs --freeze"):
        X.finetune("lenet5", X.Task(None, None, 2), input_shape=SHAPE, settings={},
                   epochs=1, model_dir=str(tmp_path / "run"), freeze_upto=None,
                   unfreeze_at_epoch=1)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_transfer_tool_writes_table_and_plot(tmp_path):
    out = tmp_path / "table.md"
    proc = run_tool("tools.transfer", "--model", "lenet5", "--stages", "1,2", "--epochs",
                    "1", "--steps_per_epoch", "3", "--model_dir", str(tmp_path / "run"),
                    "--output", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "table.csv")))
    assert [r["n"] for r in rows] == ["1", "2"]
    assert (tmp_path / "table.png").stat().st_size > 1000
    assert "| 1 |" in out.read_text()
    state = json.load(open(tmp_path / "run" / "runs.json"))
    assert set(state["runs"]) == {"baseA", "baseB"} | {f"{k} n={n}" for n in (1, 2)
                                                       for k in ("BnB", "BnB+", "AnB", "AnB+")}
    accuracy = {k: v["accuracy"] for k, v in state["runs"].items()}
    assert [float(r["AnB+"]) for r in rows] == pytest.approx(
        [accuracy["AnB+ n=1"], accuracy["AnB+ n=2"]], abs=1e-4)
    # 3 steps per network, 5 classes (chance 0.2). Measured: baseA 0.96, baseB 0.87, BnB
    # 0.77 / 0.88, BnB+ 0.87 / 0.88, AnB+ 0.86 / 0.78. AnB (A's features frozen, a new head
    # trained 3 steps) is left out: 0.86 at n=1 but 0.07 at n=2, 0.83 after 8 full epochs.
    learned = ["baseA", "baseB"] + [f"{k} n={n}" for n in (1, 2) for k in ("BnB", "BnB+", "AnB+")]
    assert all(accuracy[k] > 0.6 for k in learned), accuracy
    # Started again, it finds every network done and only rewrites the table.
    again = run_tool("tools.transfer", "--model", "lenet5", "--stages", "1,2",
                     "--epochs", "1", "--steps_per_epoch", "3", "--model_dir",
                     str(tmp_path / "run"), "--output", str(out))
    assert again.returncode == 0 and list(csv.DictReader(open(tmp_path / "table.csv"))) == rows


def test_transfer_tool_with_imagenet_weights_adds_the_pretrained_network(tmp_path):
    # EfficientNet-Lite0's ImageNet weights ship in an installed package: offline. n = 7 (all
    # stages) keeps the copied network's training to its head; two classes per task.
    out = tmp_path / "table.md"
    proc = run_tool("tools.transfer", "--model", "efficientnet_lite0", "--weights", "imagenet",
                    "--kinds", "PnB", "--stages", "7", "--split_a", "0,1", "--split_b", "2,3",
                    "--epochs", "1", "--steps_per_epoch", "2", "--precision", "float32",
                    "--model_dir", str(tmp_path / "run"), "--output", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (row,) = list(csv.DictReader(open(tmp_path / "table.csv")))
    assert set(row) == {"n", "PnB", "baseB"} and row["n"] == "7"
    state = json.load(open(tmp_path / "run" / "runs.json"))
    assert set(state["runs"]) == {"baseB", "baseP", "PnB n=7"}       # no baseA: no kind needs it
    assert state["config"]["weights"] == "imagenet"
    # Two steps of a head on frozen ImageNet features separate two digits (chance 0.5; measured
    # baseP 0.99 on A, PnB 0.96 on B).
    assert state["runs"]["baseP"]["accuracy"] > 0.75 and float(row["PnB"]) > 0.75, state
    text = out.read_text()
    assert "baseP (pre-trained backbone frozen, head trained on A) on A" in text
    assert "P: efficientnet_lite0 with ImageNet weights" in text
    # baseP is the ImageNet backbone, untouched by its head's training on A.
    base = transfer.build_classifier("efficientnet_lite0", 2, input_shape=SHAPE)
    base.load_weights(tmp_path / "run" / "baseP.weights.h5")
    imagenet = transfer.build_classifier("efficientnet_lite0", 2, input_shape=SHAPE,
                                         weights="imagenet")
    for name in transfer.layers_upto(base, transfer.BACKBONE_OUT):
        for ours, theirs in zip(base.get_layer(name).weights, imagenet.get_layer(name).weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)


def test_transfer_imagenet_offline_fails_fast(tmp_path, monkeypatch):
    """tools.transfer checks its weights and kinds through the library before anything runs."""
    from kerasnets.experiments import transfer as X
    from kerasnets.weights import WeightsUnavailableError

    offline(monkeypatch, tmp_path)
    start = time.time()
    with pytest.raises(WeightsUnavailableError, match="resnet18"):
        transfer.choose_weights("resnet18", "imagenet")
    assert time.time() - start < 30
    with pytest.raises(ValueError, match="give --weights imagenet"):
        X.table_kinds(["BnB", "PnB"], pretrained=False)


def test_experiment_jobs_train_only_the_base_networks_the_kinds_need():
    assert transfer.experiment_jobs([1, 2]) == ["baseA", "baseB"] + [
        f"{k} n={n}" for n in (1, 2) for k in transfer.YOSINSKI_KINDS]
    assert transfer.experiment_jobs([3], ["PnB+", "BnB"]) == ["baseB", "baseP", "BnB n=3",
                                                              "PnB+ n=3"]
    with pytest.raises(ValueError, match="unknown transfer kinds"):
        transfer.experiment_jobs([1], ["CnB"])
    with pytest.raises(ValueError, match="stages count from 1"):
        transfer.experiment_jobs([0])


# ----------------------------------------------------------------------------- experiments

def test_yosinski_trains_each_network_once_and_resumes(tmp_path, monkeypatch):
    from kerasnets.experiments import transfer as X

    def task(classes, seed):
        d = _data(n=16, classes=2, seed=seed)
        return X.Task(d, d, 2, steps_per_epoch=2)

    tasks = {"A": task([0, 1], 0), "B": task([2, 3], 1)}
    settings = training.resolve_settings({"optimizer": "adam", "lr": 3e-3, "schedule": "constant",
                                          "weight_decay": 0.0, "label_smoothing": 0.0,
                                          "recipe": None, "momentum": 0.9,
                                          "randaugment": False})
    run = functools.partial(X.yosinski, "lenet5", tasks, input_shape=SHAPE,
                            model_dir=str(tmp_path), settings=settings, epochs=1,
                            config={"test": 1}, cache_features=True, verbose=0)
    stages = X.stages_of("lenet5", SHAPE, None)
    assert stages == [1, 2] and X.stages_of("lenet5", SHAPE, ["2"]) == [2]
    with pytest.raises(ValueError, match="2 stages"):
        X.stages_of("lenet5", SHAPE, [3])
    first = run(stages=[2], kinds=["BnB+"])
    assert first.jobs == ["baseB", "BnB+ n=2"] and first.kinds == ["BnB+"]
    assert set(first.runs) == {"baseB", "BnB+ n=2"}
    assert all(0 <= r["accuracy"] <= 1 and r["loss"] > 0 for r in first.runs.values())
    assert (tmp_path / "baseB.weights.h5").exists()
    # Started again with another kind, only the new networks train (baseB is loaded) ...
    trained = []
    fine_tune = transfer.fine_tune
    monkeypatch.setattr(transfer, "fine_tune",
                        lambda model, *a, **k: trained.append(model.name) or fine_tune(model, *a,
                                                                                       **k))
    second = run(stages=[2], kinds=["AnB", "BnB+"])
    assert second.kinds == ["BnB+", "AnB"] and len(trained) == 2
    assert set(second.runs) == {"baseA", "baseB", "BnB+ n=2", "AnB n=2"}
    assert second.runs["BnB+ n=2"] == first.runs["BnB+ n=2"]
    assert json.load(open(tmp_path / "runs.json"))["runs"] == second.runs
    # ... and another configuration starts afresh.
    trained.clear()
    third = run(stages=[1], kinds=["BnB"], config={"test": 2})
    assert set(third.runs) == {"baseB", "BnB n=1"} and len(trained) == 2
    with pytest.raises(ValueError, match="give --weights imagenet"):
        X.table_kinds(["BnB", "PnB"])
    assert X.table_kinds(None, pretrained=True) == list(transfer.YOSINSKI_KINDS
                                                        + transfer.PRETRAINED_KINDS)
    assert X.split_classes(5) == ([0, 1], [2, 3, 4])
    with pytest.raises(ValueError, match="overlap"):
        X.split_classes(10, [0, 1], ["1", "2"])


def test_finetune_pretrains_once_transfers_and_tabulates(tmp_path, monkeypatch):
    from kerasnets.experiments import transfer as X

    def task(seed, names):
        d = _data(n=16, classes=2, seed=seed)
        return X.Task(d, d, 2, steps_per_epoch=2, class_names=names)

    settings = training.resolve_settings({"optimizer": "adam", "lr": 3e-3, "schedule": "constant",
                                          "weight_decay": 0.0, "label_smoothing": 0.0,
                                          "recipe": None, "momentum": 0.9,
                                          "randaugment": False})
    copied = []
    copy_weights = transfer.copy_weights
    monkeypatch.setattr(transfer, "copy_weights",
                        lambda a, b, *r: copied.append(a) or copy_weights(a, b, *r))
    run = functools.partial(X.finetune, "lenet5", task(1, ("2", "3")), input_shape=SHAPE,
                            settings=settings, epochs=1, model_dir=str(tmp_path),
                            source=task(0, ("0", "1")), pretrain_epochs=1, shots=[2],
                            few_shot_draws=1, baseline=False, scratch=False,
                            cache_features=True)
    result = run()
    pretrained = tmp_path / "pretrain" / "final.weights.h5"
    assert pretrained.exists() and len(copied) == 1
    assert result.run.cached_features and len(result.run.history["loss"]) == 1
    assert set(result.seconds) == {"pretrain", "few_shot", "target"}
    assert result.baseline is result.scratch is result.probe is None
    assert 0 < result.final["loss"] and result.source_accuracy is not None
    # Started again, the pre-trained backbone is loaded, not trained (its file is unchanged).
    stamp = pretrained.stat().st_mtime_ns
    again = run()
    assert pretrained.stat().st_mtime_ns == stamp and len(copied) == 2
    assert again.source_accuracy == pytest.approx(result.source_accuracy)
    rows = X.summary_rows(again, "pre-trained", "frozen backbone, head trained", 2)
    assert [r["backbone weights"] for r in rows] == ["pre-trained", "pre-trained", "(chance)"]
    assert rows[0]["target accuracy"] == f"{again.final['accuracy']:.4f}"
    assert rows[1]["schedule"].startswith("frozen, 2 images per class")
    assert rows[-1]["target accuracy"] == "0.5000"
    with_baselines = dataclasses.replace(
        again, baseline={"accuracy": 0.25}, scratch={"accuracy": 0.75},
        few_shot=[dict(again.few_shot[0], random=0.5, random_std=0.1)])
    rows = X.summary_rows(with_baselines, "pre-trained", "2.A", 2)
    assert [r["target accuracy"] for r in rows[1:3]] == ["0.2500", "0.7500"]
    assert rows[4] == {"backbone weights": "random (baseline)",
                       "schedule": "frozen, 2 images per class",
                       "target accuracy": "0.5000 ± 0.1000"}
