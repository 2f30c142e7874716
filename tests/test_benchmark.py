import numpy as np

from kerasnets import applications
from kerasnets.benchmark import benchmark_models, grouped_conv_models, measure_interleaved


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
