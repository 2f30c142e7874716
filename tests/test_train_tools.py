"""tools.train and tools.evaluate end to end on the built-in digits (offline); tools.train's job
(`kerasnets.training.job.train`) through the library."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from pipelines import sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}


from conftest import run_tool  # noqa: E402


def epochs_in(path):
    return [int(r["epoch"]) for r in csv.DictReader(open(path))] if os.path.exists(path) else []


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("lenet")
    proc = run_tool("tools.train", "--model", "lenet5", "--dataset", "digits", "--epochs", "3",
                    "--batch_size", "32", "--lr", "0.05", "--model_dir", str(run))
    return run, proc


def test_train_learns_digits_and_writes_its_run(lenet_run):
    run, proc = lenet_run
    results = json.load(open(run / "metrics.json"))
    assert results["final"]["accuracy"] > 0.7, results["final"]      # chance is 0.1
    assert results["chance_accuracy"] == pytest.approx(0.1)
    assert len(results["history"]["val_accuracy"]) == 3
    assert "final test accuracy" in proc.stdout
    assert sorted(os.listdir(run / "checkpoints"))[-1] == "epoch_003.weights.h5"
    for name in ("best.keras", "final.keras", "curves.png", "history.csv"):
        assert os.path.getsize(run / name) > 0, name
    assert os.listdir(run / "logs")                                    # TensorBoard
    assert not [f for f in os.listdir(run) if f.startswith(".tmp")]


def test_evaluate_protocols_on_the_trained_model(lenet_run, tmp_path):
    run, _ = lenet_run
    n_test = len(sources.digits_arrays("test")[1])
    trained = json.load(open(run / "metrics.json"))["final"]["accuracy"]
    for protocol, views in (("center", 1), ("10crop", 10)):
        out = tmp_path / protocol
        proc = run_tool("tools.evaluate", "--keras_file", str(run / "best.keras"),
                        "--dataset", "digits", "--protocol", protocol, "--output_dir", str(out))
        result = json.load(open(out / "results.json"))
        assert result["views"] == views and result["n"] == n_test
        assert result["top1"] > 0.5, result["top1"]
        assert sum(map(sum, result["confusion"])) == n_test
        assert os.path.getsize(out / "confusion.png") > 0
        assert "top-1" in proc.stdout
    best = json.load(open(tmp_path / "center" / "results.json"))["top1"]
    assert best >= trained - 0.15        # centre crop of an 8x8 digit cuts little


def test_evaluate_refuses_mismatched_classes_and_missing_files(lenet_run, tmp_path):
    run, _ = lenet_run
    proc = run_tool("tools.evaluate", "--keras_file", str(run / "best.keras"), "--dataset",
                    "digits", "--classes", "0,1,2", "--output_dir", str(tmp_path), check=False)
    assert proc.returncode != 0 and "predicts 10 classes but digits has 3" in proc.stderr
    proc = run_tool("tools.evaluate", "--keras_file", str(tmp_path / "nope.keras"),
                    check=False)
    assert proc.returncode != 0 and "nope.keras' does not exist" in proc.stderr


def test_train_resumes_after_a_kill(tmp_path):
    args = [sys.executable, "-m", "tools.train", "--model", "lenet5", "--dataset", "digits",
            "--epochs", "4", "--steps_per_epoch", "4", "--batch_size", "16",
            "--model_dir", str(tmp_path)]
    history = tmp_path / "history.csv"
    proc = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(epochs_in(history)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = epochs_in(history)
    assert 2 <= len(done) < 4, f"the run was not killed mid-way: {done}"
    resumed = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # the resume state is written after the history row, so the run goes on from the last
    # epoch the backup holds: the one after the logged ones, or the last logged one again when
    # the kill fell between its row and its backup (tests/test_training.py stages that case)
    first = min(int(n) for n in re.findall(r"Epoch (\d)/4", resumed.stdout))
    assert len(done) <= first <= len(done) + 1 and first >= 2, (done, first)
    assert epochs_in(history) == [0, 1, 2, 3]
    assert len(json.load(open(tmp_path / "metrics.json"))["history"]["loss"]) == 4


DEFAULTS = {"optimizer": "sgd", "lr": None, "schedule": "cosine", "weight_decay": 0.0,
            "label_smoothing": 0.0, "recipe": None, "momentum": 0.9, "randaugment": False}


def train_lenet(data, model_dir, settings, steps_per_epoch=None):
    """tools.train's job (`kerasnets.training.job.train`) on prepared data, one epoch."""
    import tensorflow as tf

    from kerasnets.training import job as train_job

    settings["steps_per_epoch"] = steps_per_epoch or data.steps_per_epoch or 100
    return train_job.train("lenet5", data, strategy=tf.distribute.get_strategy(),
                           settings=settings, epochs=1, model_dir=str(model_dir),
                           bn_momentum=0.9, steps_per_epoch=steps_per_epoch, batch_size=4)


def test_train_preset_sets_what_it_says_and_unknown_model_fails(tmp_path):
    import kerasnets
    from kerasnets import training
    from pipelines.data import prepare

    settings = training.resolve_settings({**DEFAULTS, "lr": 0.01}, preset="resnet",
                                         given=["lr"], batch_size=32)
    assert "preset resnet: optimizer=sgd, lr=0.01, schedule=step, weight_decay=0.0001" \
        in training.describe("resnet", {k: settings[k] for k in (
            "optimizer", "lr", "schedule", "weight_decay", "label_smoothing", "recipe")})
    data = prepare("digits", kerasnets.get_entry("lenet5"), batch_size=32,
                   recipe=settings["recipe"])
    train_lenet(data, tmp_path, settings, steps_per_epoch=2)
    metrics = json.load(open(tmp_path / "metrics.json"))
    assert metrics["settings"]["recipe"] == "inception" and metrics["settings"]["lr"] == 0.01
    with pytest.raises(ValueError, match="Unknown model name 'resnet2O_cifar'.*resnet20_cifar"):
        kerasnets.get_entry("resnet2O_cifar")


@pytest.mark.slow
def test_issue_command_resnet20_cifar_learns_digits(tmp_path):
    run_tool("tools.train", "--model", "resnet20_cifar", "--dataset", "digits", "--epochs", "3",
             "--model_dir", str(tmp_path))
    assert json.load(open(tmp_path / "metrics.json"))["final"]["accuracy"] > 0.8


def test_train_on_a_folder_with_bad_files_fails_naming_them_or_skips_them(tmp_path):
    import kerasnets
    from kerasnets import training
    from pipelines.data import prepare
    from test_sources import make_folder

    root = make_folder(tmp_path / "pets", per_class=6)
    common = dict(eval_split="validation", image_size=32, batch_size=4)
    entry = kerasnets.get_entry("lenet5")
    with pytest.raises(Exception) as failed:
        prepare(str(root), entry, **common)
    assert str(root / "cat" / "corrupt.jpg") in str(failed.value)
    assert "--on_error skip" in str(failed.value)
    data = prepare(str(root), entry, on_error="skip", **common)
    train_lenet(data, tmp_path / "skip", training.resolve_settings(DEFAULTS, batch_size=4))
    metrics = json.load(open(tmp_path / "skip" / "metrics.json"))
    assert metrics["classes"] == 3 and len(metrics["history"]["loss"]) == 1
