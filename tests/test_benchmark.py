import numpy as np
import pytest

from kerasnets import applications
from kerasnets.measurement.benchmark import benchmark_models, grouped_conv_models, measure_interleaved


def test_grouped_conv_pair_is_the_same_function():
    reference, ours = grouped_conv_models(input_shape=(8, 8, 64), filters=64, groups=32)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 64)).astype("float32")
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(reference(x)), rtol=1e-5,
                               atol=1e-6)
    figures = measure_interleaved([reference, ours], batch_size=2, steps=1, warmup=1)
    assert all(f["infer_img_s"] > 0 and f["train_img_s"] > 0 for f in figures)


def test_benchmark_models_counts_and_measures():
    (row,) = benchmark_models([lambda: applications.VGG11(input_shape=(32, 32, 3), classes=3)],
                              batch_size=2, steps=1, warmup=0, train=False)
    assert row["params"] == applications.VGG11(input_shape=(32, 32, 3), classes=3).count_params()
    assert row["flops"] > 0 and row["infer_img_s"] > 0 and "train_img_s" not in row


def test_matmul_peak_and_mfu():
    from kerasnets.measurement.benchmark import matmul_gflops, mfu

    assert matmul_gflops("float32", n=128, steps=1) > 0.01
    # 100 img/s of a 1-GMAC model is 200 GFLOP/s forward, 600 training: half of a 1200 peak.
    assert mfu(100, 1e9, 1200, train=True) == pytest.approx(0.5)
    assert mfu(100, 1e9, 400, train=False) == pytest.approx(0.5)


def test_interleaved_times_stops_at_max_seconds():
    import time

    from kerasnets.measurement.benchmark import interleaved_times

    times = interleaved_times({"slow": lambda: time.sleep(0.05)}, steps=50, warmup=0,
                              max_seconds=0.1)
    assert 1 <= len(times["slow"]) <= 4


def test_default_paths_run_the_chosen_precision_against_keras_defaults():
    import keras

    from kerasnets.experiments.default_paths import compare_default_paths
    from kerasnets.measurement.precision import Choice

    shape = (32, 32, 3)
    out = compare_default_paths(
        lambda: applications.ResNet50(input_shape=shape, classes=4),
        lambda: keras.applications.ResNet50(weights=None, input_shape=shape, classes=4),
        choice=Choice("mixed_bfloat16", False, "test"), batch_size=2, steps=1, warmup=1)
    assert out["ours"]["params"] == out["keras"]["params"]
    assert all(out[k][f] > 0 for k in ("ours", "keras") for f in ("infer_img_s", "train_img_s"))
    assert keras.mixed_precision.global_policy().name == "float32"   # restored


def test_tool_reports_precision_peak_and_mfu(tmp_path):
    import csv

    from test_tools import run_tool

    out = tmp_path / "bench.csv"
    proc = run_tool("tools.benchmark", "--models", "vgg11", "--input_size", "32",
                    "--batch_size", "2", "--steps", "1", "--warmup", "1", "--peak_size", "256",
                    "--precision", "float32", "--jit_compile", "false", "--output", str(out))
    assert "matmul peaks float32" in proc.stdout and "flags:" in proc.stdout
    (row,) = csv.DictReader(open(out))
    assert (row["precision"], row["jit_compile"]) == ("float32", "False")
    flops = 2 * 3 * float(row["gmacs"]) * 1e9 * float(row["train_img_s"])
    assert float(row["mfu"]) == pytest.approx(flops / (float(row["peak_gflops"]) * 1e9),
                                              rel=0.02)
    assert "| precision | jit_compile |" in (tmp_path / "bench.md").read_text()
    assert "| mfu | infer_mfu | peak_gflops |" in (tmp_path / "bench.md").read_text()
