"""Tools print what a user needs: TensorFlow's C++ INFO / WARNING lines stay hidden unless
absl's --verbosity asks for them, and a digits run raises no "GeneratorDatasetOp will not be
optimized" (issue #16)."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

import tools
from pipelines import sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = ("oneDNN", "absl::InitializeLog", "cpu_feature_guard")


def _tool(*args, env=None):
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**environ, **(env or {})}, timeout=600)


def test_tool_stderr_has_no_tensorflow_info_unless_verbosity_asks():
    quiet = _tool("tools.models", "--models", "lenet5")
    assert quiet.returncode == 0 and "`lenet5`" in quiet.stdout, quiet.stderr[-2000:]
    assert not [line for line in quiet.stderr.splitlines() if any(n in line for n in NOISE)], \
        quiet.stderr[-2000:]
    loud = _tool("tools.models", "--models", "lenet5", "--verbosity", "0")
    assert loud.returncode == 0
    assert any(tools._CPP_LINE.match(line) for line in loud.stderr.splitlines()), loud.stderr


def test_log_level_from_environment_and_verbosity():
    level = tools.tf_min_log_level
    assert level(["tool"], {}) == 2
    assert level(["tool", "--verbosity", "0"], {}) == 0
    assert level(["tool", "-v=1"], {}) == 0
    assert level(["tool", "--verbosity=-1"], {}) == 1
    assert level(["tool", "-v", "-2", "--", "--verbosity=0"], {}) == 2
    assert level(["tool", "--verbosity=0"], {"TF_CPP_MIN_LOG_LEVEL": "3"}) == 3   # env wins
    assert level(["tool", "-v", "tests/x.py"], {}) == 2                          # not absl's


def test_filter_drops_low_lines_with_their_continuations_and_keeps_the_rest():
    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\n"
            "I0000 00:00:1796424708.935756   12130 port.cc:153] oneDNN custom operations are on.\n"
            "I0000 00:00:1796424709.004614   12130 cpu_feature_guard.cc:227] This TensorFlow "
            "binary is optimized\n"
            "To enable the following instructions: AVX2 AVX512F\n"
            "/x/y.py:3: DeprecationWarning: old\n"
            "W0000 00:00:1796424709.1 12130 dataset.cc:997] a warning\n"
            "E0000 00:00:1796424709.2 12130 cuda.cc:1] an error\n")
    kept = tools._keep(text, 2)
    assert kept == "/x/y.py:3: DeprecationWarning: old\nE0000 00:00:1796424709.2 12130 " \
                   "cuda.cc:1] an error\n"
    assert "a warning" in tools._keep(text, 1) and "oneDNN" not in tools._keep(text, 1)
    assert tools._keep(text, 0) == text


def test_digits_source_is_built_from_tensors():
    ds, _ = sources.load("digits", "train")
    graph = ds._as_serialized_graph().numpy()   # a generator-backed dataset cannot serialise
    assert b"TensorSliceDataset" in graph and b"GeneratorDataset" not in graph


@pytest.mark.parametrize("strategy", ["one_device"])
def test_a_digits_run_raises_no_generator_dataset_warning(tmp_path, strategy):
    """tf.distribute wraps a distributed dataset in a MultiDeviceIterator (a GeneratorDataset
    TensorFlow warns it cannot optimise); on one CPU the loop feeds the batches as they are."""
    proc = _tool("tools.train", "--model", "lenet5", "--epochs", "1", "--steps_per_epoch", "2",
                 "--strategy", strategy, "--model_dir", str(tmp_path / "run"),
                 env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # level 0 shows TensorFlow's C++ log lines (which ones depends on the CPU: "oneDNN custom
    # operations" only where TensorFlow turns oneDNN on, cpu_feature_guard's everywhere)
    assert any(tools._CPP_LINE.match(line) for line in proc.stderr.splitlines()), proc.stderr
    assert "GeneratorDatasetOp" not in proc.stderr, proc.stderr[-3000:]
    assert tf.io.gfile.exists(str(tmp_path / "run" / "final.keras"))
