import gc
import itertools
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# With TensorFlow loaded first, importing triton (torch._dynamo does, through timm and
# torchvision.models) crashes the process (its LLVM clashes with TensorFlow's): segmentation
# fault. The torch equivalence tests run torch on CPU and never need it.
sys.modules.setdefault("triton", None)

import keras  # noqa: E402
import pytest  # noqa: E402

import kerasnets  # noqa: E402


def representatives() -> list[str]:
    """One variant per family: the one with the fewest parameters (cheapest to run)."""
    best: dict[str, str] = {}
    for name in kerasnets.list_models():
        entry = kerasnets.get_entry(name)
        if entry.family not in best or entry.params < kerasnets.get_entry(best[entry.family]).params:
            best[entry.family] = name
    return sorted(best.values())


_FULL_COLLECT_EVERY = 20  # tests; a full gc.collect costs ~0.2 s once TensorFlow is loaded
_finished = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Each test starts seeded with a fresh Keras session (names, graph state). Python's own
    collector frees the models' reference cycles; a full collection runs every 20 tests, not
    after each (it was 0.2 s a test, ~3.5 minutes of the suite)."""
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=False)
    if next(_finished) % _FULL_COLLECT_EVERY == 0:
        gc.collect()


def randomize_weights(model, seed=0):
    """He-scaled kernels and non-trivial BatchNorm / Normalization statistics, so activations
    neither vanish nor explode: with Keras' default initialisation some networks (MobileNetV3)
    output ~1e-11 logits at random weights, which would hide any difference between two models."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not layer.weights:
            continue
        values = []
        for weight in layer.weights:
            shape, kind = tuple(weight.shape), weight.path.rsplit("/", 1)[-1]
            if "float" not in str(weight.dtype):
                values.append(np.asarray(weight.numpy()))
            elif kind in ("kernel", "depthwise_kernel", "pointwise_kernel") and len(shape) > 1:
                fan_in = np.prod(shape[:-1] if kind != "depthwise_kernel" else shape[:2])
                values.append(rng.normal(0, np.sqrt(2 / fan_in), shape).astype("float32"))
            elif kind in ("gamma", "moving_variance", "variance"):
                values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
            else:
                values.append(rng.uniform(-0.2, 0.2, shape).astype("float32"))
        layer.set_weights(values)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(module, *args, check=True, env=None, timeout=900):
    """`python -m module *args` from the repository root (TensorFlow's C++ log quiet, `env`
    added to the environment); with `check`, a non-zero exit raises with the tail of its
    output. The one way tests run a tool end to end."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT,
                               **(env or {})})
    if check and proc.returncode:
        raise AssertionError(f"python -m {module} exited {proc.returncode}:\n"
                             + proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc
