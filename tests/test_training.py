"""kerasnets.training (one loop for every strategy) and pipelines.strategy."""

import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnets
from kerasnets import training
from pipelines import strategy as S

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "scripts", "distributed_train.py")


def _data(n=48, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.rand(n, 32, 32, 1).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int64")
    return x, y


def _model(momentum=0.9):
    keras.utils.set_random_seed(1)
    model = kerasnets.create_model("lenet5", classes=2)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=momentum),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_equals_keras_fit_on_one_device():
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    ours, theirs = _model(), _model()
    h1 = training.fit(ours, ds, epochs=2, validation_data=ds, verbose=0)
    h2 = theirs.fit(ds, epochs=2, validation_data=ds, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert set(h1.history) == set(h2.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(h1.history["val_accuracy"], h2.history["val_accuracy"])
    logs = training.evaluate(ours, ds, verbose=0)
    ref = theirs.evaluate(ds, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(ref["loss"], rel=1e-5)


def test_backup_and_restore_resumes_where_a_killed_run_stopped(tmp_path):
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt("killed")

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    model = _model(momentum=0.0)
    with pytest.raises(KeyboardInterrupt):
        training.fit(model, ds, epochs=4, callbacks=[backup, Kill()], verbose=0)
    resumed = _model(momentum=0.0)           # a fresh process would start from scratch
    epochs_run = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, l: epochs_run.append(e))
    training.fit(resumed, ds, epochs=4, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), record])
    assert epochs_run == [2, 3]
    straight = _model(momentum=0.0)
    training.fit(straight, ds, epochs=4, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_atomic_checkpoint_and_results(tmp_path):
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = _model()
    callbacks = training.run_callbacks(str(tmp_path), tensorboard=False)
    history = training.fit(model, ds, epochs=2, validation_data=ds, callbacks=callbacks,
                           verbose=0)
    files = sorted(os.listdir(tmp_path / "checkpoints"))
    assert files == ["epoch_001.weights.h5", "epoch_002.weights.h5"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    best = keras.saving.load_model(tmp_path / "best.keras")
    assert best.count_params() == model.count_params()
    out = training.write_results(str(tmp_path), {"final": 1.0}, history.history)
    assert os.path.getsize(out["curves"]) > 1000
    assert "history" in open(tmp_path / "metrics.json").read()


def test_resume_state_is_written_last_atomically_and_trims_redone_epochs(tmp_path):
    """A kill after an epoch's history row but before its backup: the next run redoes that
    epoch and the history lists every epoch once; no half-written backup is ever left."""
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    callbacks = training.run_callbacks(str(tmp_path), tensorboard=False)
    assert isinstance(callbacks[-1], training.ResumeState)  # after checkpoint and history
    saves = []

    class KillBeforeThirdBackup(training.ResumeState):
        def _save_model(self):
            if self._current_epoch == 3:
                raise KeyboardInterrupt("killed between the history row and the backup")
            saves.append(sorted(os.listdir(self.backup_dir)) if os.path.isdir(self.backup_dir)
                         else [])
            super()._save_model()

    callbacks[-1] = KillBeforeThirdBackup(str(tmp_path / "backup"),
                                          history_path=str(tmp_path / "history.csv"))
    with pytest.raises(KeyboardInterrupt):
        training.fit(_model(), ds, epochs=4, callbacks=callbacks, verbose=0)
    history = tmp_path / "history.csv"
    assert [line.split(",")[0] for line in open(history).read().split()[1:]] == ["0", "1", "2"]
    assert not [f for f in os.listdir(tmp_path / "backup") if f.startswith(".tmp")]
    epochs_run = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, l: epochs_run.append(e))
    training.fit(_model(), ds, epochs=4, verbose=0, callbacks=[
        record] + training.run_callbacks(str(tmp_path), tensorboard=False))
    assert epochs_run == [2, 3]                     # the backup said 2 epochs were done
    assert [line.split(",")[0] for line in open(history).read().split()[1:]] == [
        "0", "1", "2", "3"]


def test_schedules_and_optimizers():
    step = training.make_schedule("step", 0.1, epochs=9, steps_per_epoch=10)
    assert step.callbacks == ()
    step = step.learning_rate
    assert [float(step(s)) for s in (0, 29, 31, 61, 89)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.001, 0.001])
    cos = training.make_schedule("cosine", 0.1, epochs=2, steps_per_epoch=5).learning_rate
    assert float(cos(0)) == pytest.approx(0.1) and float(cos(10)) == pytest.approx(0.0, abs=1e-6)
    plateau = training.make_schedule("plateau", 0.1, epochs=2, steps_per_epoch=5)
    assert plateau.learning_rate == 0.1
    [callback] = plateau.callbacks
    assert isinstance(callback, keras.callbacks.ReduceLROnPlateau) and callback.factor == 0.1
    again = training.make_schedule("plateau", 0.1, epochs=2, steps_per_epoch=5)
    assert again.callbacks[0] is not callback   # fresh state for every run
    with pytest.raises(ValueError, match="decay_rate"):
        training.make_schedule("plateau", 0.1, epochs=2, steps_per_epoch=5, decay_rate=1.0)
    assert training.scaled_lr(training.PRESETS["resnet"], 512) == pytest.approx(0.2)
    opt = training.make_optimizer("rmsprop", 0.01, weight_decay=1e-5)
    assert isinstance(opt, keras.optimizers.RMSprop) and opt.weight_decay == 1e-5
    with pytest.raises(ValueError, match="Unknown optimizer 'sgdd'"):
        training.make_optimizer("sgdd", 0.1)
    with pytest.raises(ValueError, match="Unknown schedule"):
        training.make_schedule("linear", 0.1, epochs=1, steps_per_epoch=1)


FLAG_DEFAULTS = {"optimizer": "sgd", "lr": None, "schedule": "cosine", "weight_decay": 0.0,
                 "label_smoothing": 0.0, "recipe": None, "momentum": 0.9, "randaugment": False}


def test_resolve_settings_merges_the_preset_under_the_given_values():
    plain = training.resolve_settings(dict(FLAG_DEFAULTS, optimizer="adam"))
    assert plain["lr"] == 1e-3 and plain["recipe"] == "none" and plain["schedule"] == "cosine"
    assert training.resolve_settings(FLAG_DEFAULTS)["lr"] == 0.05
    # AlexNet's recipe at batch 64: lr 0.01 per 128 -> 0.005; the given schedule and recipe win.
    values = dict(FLAG_DEFAULTS, schedule="constant", recipe="none")
    s = training.resolve_settings(values, preset="alexnet", given=["schedule", "recipe"],
                                  batch_size=64)
    assert (s["optimizer"], s["schedule"], s["recipe"]) == ("sgd", "constant", "none")
    assert s["lr"] == pytest.approx(0.005) and s["weight_decay"] == 5e-4
    # Not given: the preset's values replace the flags' defaults; an explicit lr always wins.
    s = training.resolve_settings(dict(values, lr=20.0), preset="efficientnet", batch_size=64)
    assert (s["optimizer"], s["schedule"], s["randaugment"]) == ("rmsprop", "exponential", True)
    assert s["lr"] == 20.0 and s["decay_epochs"] == 2.4 and s["label_smoothing"] == 0.1
    with pytest.raises(ValueError, match="Unknown preset 'alexnett'"):
        training.resolve_settings(FLAG_DEFAULTS, preset="alexnett")


def test_phase_optimizers_hand_out_the_plateau_callbacks_once():
    settings = training.resolve_settings(FLAG_DEFAULTS, preset="vgg", batch_size=256)
    make = training.PhaseOptimizers(settings, steps_per_epoch=5)
    optimizer = make(0.02, 3)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert float(optimizer.learning_rate) == pytest.approx(0.02)
    [callback] = make.callbacks()
    assert isinstance(callback, training.PlateauLR) and callback.factor == 0.1
    assert make.callbacks() == []
    step = dict(settings, schedule="step", steps_per_epoch=10)
    optimizer, callbacks = training.optimizer_from_settings(step, epochs=3)
    assert callbacks == [] and float(optimizer.learning_rate) == pytest.approx(0.01)


def test_plateau_without_validation_data_watches_the_training_loss():
    """lr 0.5 on a quadratic the model cannot fit: the loss stops improving, and with no
    validation data the schedule falls back to the training loss (Keras' own callback would
    warn every epoch and never reduce)."""
    x = np.linspace(-1, 1, 64, dtype="float32")[:, None]
    data = tf.data.Dataset.from_tensor_slices((x, x ** 2 * 50)).batch(16)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    schedule = training.make_schedule("plateau", 0.5, epochs=6, steps_per_epoch=4,
                                      plateau_patience=1, verbose=0)
    model.compile(optimizer=keras.optimizers.SGD(schedule.learning_rate), loss="mse")
    history = training.fit(model, data, epochs=6, callbacks=list(schedule.callbacks), verbose=0)
    rates = history.history["learning_rate"]
    assert rates[0] == pytest.approx(0.5) and min(rates) <= 0.05 + 1e-7, rates


def test_strategy_names_and_errors(monkeypatch):
    assert isinstance(S.make_strategy("auto"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="Unknown strategy 'mirror'"):
        S.make_strategy("mirror")
    with pytest.raises(ValueError, match="num_gpus=2 but this machine has 0 GPU"):
        S.make_strategy("mirrored", num_gpus=2)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG with a 'ps' job"):
        S.make_strategy("parameter_server")
    assert S.resolve_precision("auto") == "float32"      # no GPU here: no mixed precision
    with pytest.raises(ValueError, match="Unknown precision"):
        S.resolve_precision("fp16")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, '
                                    '"task": {"type": "worker", "index": 1}}')
    assert not S.is_chief()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        S.is_chief()


def _run(*args):
    return subprocess.Popen([sys.executable, SCRIPT, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"})


def _finish(proc, timeout=240):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def test_mirrored_on_two_logical_cpus_keeps_replicas_equal(tmp_path):
    _finish(_run("mirrored", str(tmp_path / "m.npz")))
    saved = np.load(tmp_path / "m.npz")
    assert int(saved["replicas"]) == 2
    n = len([k for k in saved if k.endswith("_r0")])
    assert n > 0
    for i in range(n):
        np.testing.assert_array_equal(saved[f"w{i}_r0"], saved[f"w{i}_r1"])
    assert saved["loss"][-1] < saved["loss"][0]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_multi_worker_two_processes_train_identical_weights(tmp_path):
    ports = [_free_port(), _free_port()]
    procs = [_run("multi_worker", str(tmp_path / f"w{i}.npz"), str(i), *ports) for i in (0, 1)]
    for proc in procs:
        _finish(proc)
    a, b = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert int(a["replicas"]) == 2
    keys = [k for k in a if k.startswith("w")]
    assert keys
    for key in keys:
        np.testing.assert_array_equal(a[key], b[key])
    assert a["loss"][-1] < a["loss"][0]


def test_mixed_precision_and_xla_train_through_the_same_loop():
    """--mixed_precision mixed_float16: float16 compute, float32 variables and outputs, a loss
    scale optimizer, finite losses. --jit_compile: the same weights as without XLA."""
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    S.set_mixed_precision("mixed_float16")
    try:
        model = _model()
        assert model.get_layer("stem_conv").compute_dtype == "float16"
        assert all(w.dtype == "float32" for w in model.trainable_weights)
        assert model(x[:2]).dtype == "float32"          # the classifier outputs float32
        history = training.fit(model, ds, epochs=1, verbose=0)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert np.isfinite(history.history["loss"]).all()
    finally:
        S.set_mixed_precision("float32")
    eager, xla = _model(), _model()
    training.fit(eager, ds, epochs=1, verbose=0)
    training.fit(xla, ds, epochs=1, verbose=0, jit_compile=True)
    for a, b in zip(eager.get_weights(), xla.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
