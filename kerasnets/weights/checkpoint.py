"""Read PyTorch checkpoints and safetensors files into numpy arrays, safely and without torch.

`read_checkpoint(path) -> {"layer1.0.conv1.weight": numpy.ndarray, ...}` reads:

- `.safetensors`, through the `safetensors` library (`safetensors.numpy.load_file`; a JSON header
  and raw little-endian bytes, no code). bfloat16, which numpy has no type for, is upcast to
  float32 exactly; every other dtype keeps its numpy type (float16 stays float16).
- PyTorch `.pth` / `.pt` / `.bin` in both formats `torch.save` writes:

  * zip (torch >= 1.6, the default): a zip archive (entries stored, not compressed) holding
    `<top>/data.pkl` (the pickled object), `<top>/data/<key>` (one record per storage: its raw
    bytes) and optionally `<top>/byteorder` (`little` | `big`; absent means little). `<top>` is
    `archive` for recent torch and the file's stem for older ones, so any single top folder is
    accepted. A tensor is pickled as `torch._utils._rebuild_tensor_v2(storage, offset, size,
    stride, requires_grad, hooks[, metadata])`, its storage as the persistent id
    `("storage", torch.<T>Storage, key, location, numel)`.
  * legacy stream (`_use_new_zipfile_serialization=False`, torch < 1.6): five things back to
    back: the pickled magic number `0x1950a86a20f9469cfc6c`, the protocol version `1001`, a
    `sys_info` dict (`little_endian`, type sizes), the main pickle, and the pickled list of
    storage keys; then, for each key in that order, the storage's element count as an int64 in
    the file's byte order followed by its raw bytes. Storage persistent ids are `("storage",
    torch.<T>Storage, root_key, location, numel, view)`, where `view` is None or `(view_key,
    offset, size)` (both in elements), a slice of the root storage that tensors index into.

  Every pickle (the legacy header pickles included) goes through `_RestrictedUnpickler`, whose
  `find_class` allows only `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
  `_rebuild_tensor`, `_rebuild_parameter` (implemented here over numpy) and the storage types in
  `STORAGE_TYPES` (markers holding a numpy dtype; they cannot be called). Any other global -
  `os.system`, `builtins.eval`, `torch.storage._load_from_bytes` (which runs an unrestricted
  `torch.load`), a pickled `nn.Module` class - raises `UnsafeCheckpointError` naming the global
  and the file, before anything it refers to is called. Tensors are rebuilt after unpickling:
  `numpy.lib.stride_tricks.as_strided` over their storage from `storage_offset` with torch's
  strides (in elements), bounds-checked against the storage first, then copied to a contiguous
  array, so non-contiguous views and tensors sharing a storage come back exactly as torch
  loads them.

The state dict is the pickled dict itself or, when that dict is a training checkpoint, the dict
under its first key in `STATE_DICT_KEYS` (`state_dict`, `model_state_dict`, `model`,
`state_dict_ema`, `model_ema`; pass `key=` to choose another). Every value must be a tensor;
non-float tensors (`num_batches_tracked`) are kept as numpy integers for the converter to skip.
A pickle that is not such a dict, a truncated or corrupt file raises `CheckpointError` naming
the file; every size it declares is bounded first (`checkpoint_limits`). timm's `args` (an
`argparse.Namespace`) is read as plain data (`_Namespace`), so its training checkpoints load.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import math
import os
import pickle
import struct
import zipfile
from typing import Any

import numpy as np

from kerasnets.weights.checkpoint_limits import (CheckpointError,  # noqa: F401 (re-exported)
                                                  UnsafeCheckpointError, check_zip_records,
                                                  read_safetensors, scan_pickle)
from kerasnets.weights.convert import STATE_DICT_KEYS

__all__ = ["CheckpointError", "UnsafeCheckpointError", "read_checkpoint",
           "read_training_checkpoint", "STATE_DICT_KEYS",
           "STORAGE_TYPES"]

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001


class _Sealed:
    """Objects the unpickler hands out refuse pickle's BUILD opcode, which would otherwise write
    the file's values straight into their `__dict__` (a shared storage-type marker included)."""

    def __setstate__(self, state):
        raise CheckpointError(f"the pickle sets the state of a {type(self).__name__.lstrip('_')}")


@dataclasses.dataclass(frozen=True)
class _StorageType(_Sealed):
    """What `torch.<name>` (a storage class) stands for here: its element type. Not callable."""

    name: str
    dtype: str          # numpy dtype of one element as stored (bfloat16 is read as uint16)
    bfloat16: bool = False

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize


STORAGE_TYPES = {t.name: t for t in (
    _StorageType("FloatStorage", "float32"),
    _StorageType("HalfStorage", "float16"),
    _StorageType("BFloat16Storage", "uint16", bfloat16=True),
    _StorageType("DoubleStorage", "float64"),
    _StorageType("LongStorage", "int64"),
    _StorageType("IntStorage", "int32"),
    _StorageType("ShortStorage", "int16"),
    _StorageType("CharStorage", "int8"),
    _StorageType("ByteStorage", "uint8"),
    _StorageType("BoolStorage", "bool"),
)}


class _Storage(_Sealed):
    """One storage of the file: its element type and count; its bytes come later (legacy) or
    are read on first use (zip). `base`/`offset` make a legacy view: a slice of a root storage."""

    def __init__(self, key: str, type_: _StorageType, numel: int, loader=None):
        self.key, self.type, self.numel = key, type_, numel
        self.loader = loader                      # () -> bytes, for zip records
        self.data: bytes | None = None
        self.base: _Storage | None = None
        self.offset = 0

    def elements(self, byteorder: str) -> np.ndarray:
        """The storage as a flat read-only numpy array of its stored dtype."""
        if self.base is not None:
            flat = self.base.elements(byteorder)
            return flat[self.offset:self.offset + self.numel]
        if self.data is None:
            if self.loader is None:
                raise CheckpointError(f"the bytes of storage {self.key!r} are missing")
            self.data = self.loader()
        dtype = np.dtype(self.type.dtype).newbyteorder("<" if byteorder == "little" else ">")
        return np.frombuffer(self.data, dtype=dtype, count=self.numel)


@dataclasses.dataclass
class _TensorRef(_Sealed):
    """A tensor as pickled: rebuilt into a numpy array once its storage's bytes are known."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialize(self, byteorder: str) -> np.ndarray:
        storage, offset, size, stride = self.storage, self.offset, self.size, self.stride
        if len(size) != len(stride):
            raise CheckpointError(f"a tensor has size {size} but stride {stride}")
        if offset < 0 or any(n < 0 for n in size) or any(s < 0 for s in stride):
            raise CheckpointError(f"a tensor has a negative offset, size or stride "
                                  f"(offset {offset}, size {size}, stride {stride})")
        elements = storage.elements(byteorder)
        if 0 in size:
            array = np.empty(size, dtype=elements.dtype)
        else:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= storage.numel:
                raise CheckpointError(
                    f"a tensor (offset {offset}, size {size}, stride {stride}) reaches element "
                    f"{last} of storage {storage.key!r}, which holds {storage.numel}")
            itemsize = elements.dtype.itemsize
            view = np.lib.stride_tricks.as_strided(
                elements[offset:], shape=size, strides=tuple(s * itemsize for s in stride),
                writeable=False)
            array = np.array(view, copy=True, order="C")
        array = array.astype(array.dtype.newbyteorder("="), copy=False)
        if storage.type.bfloat16:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _ints(value, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise CheckpointError(f"a tensor's {what} is {value!r}, not a tuple of ints")
    return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"a tensor is rebuilt from {type(storage).__name__}, not a storage")
    if not isinstance(storage_offset, int) or isinstance(storage_offset, bool):
        raise CheckpointError(f"a tensor's storage offset is {storage_offset!r}, not an int")
    return _TensorRef(storage, storage_offset, _ints(size, "size"), _ints(stride, "stride"))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if metadata and any(metadata.values()):
        raise CheckpointError(f"tensors with metadata {metadata!r} (conjugate / negative "
                              f"views) are not supported")
    return _rebuild_tensor(storage, storage_offset, size, stride)


class _Namespace:
    """timm's pickled `argparse.Namespace` (`args`): its attributes as a dict; runs nothing."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise CheckpointError(f"a Namespace's state is a {type(state).__name__}, not a dict")
        self.values = dict(state)


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None):
    if not isinstance(data, _TensorRef):
        raise CheckpointError(f"a Parameter wraps {type(data).__name__}, not a tensor")
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("argparse", "Namespace"): _Namespace,
    **{("torch", name): type_ for name, type_ in STORAGE_TYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose globals come from `_ALLOWED` only; storages through `storage`."""

    def __init__(self, file, path: str, storage=None):
        super().__init__(file)
        self._path, self._storage = path, storage

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise UnsafeCheckpointError(
                f"{self._path}: refusing to load global {module}.{name}: a checkpoint may only "
                f"hold tensors and dicts (allowed: "
                f"{', '.join(sorted(m + '.' + n for m, n in _ALLOWED))}). Re-save the state "
                f"dict alone with torch.save(model.state_dict(), path), or as .safetensors, "
                f"from a trusted environment.") from None

    def persistent_load(self, pid):
        if self._storage is None:
            raise CheckpointError(f"{self._path}: unexpected persistent id {pid!r}")
        if not isinstance(pid, tuple) or not pid:
            raise CheckpointError(f"{self._path}: persistent id {pid!r} is not a tuple")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind != "storage":
            raise CheckpointError(f"{self._path}: persistent id of kind {kind!r} (saved modules "
                                  f"with their source code are not supported)")
        return self._storage(pid[1:])


def _unpickle(data, path: str, storage=None, start: int = 0):
    """`(object, end)`: the pickle at `data[start:]` unpickled through the allow-list, once
    `scan_pickle` has checked it."""
    end = scan_pickle(data, start, path)
    try:
        return _RestrictedUnpickler(io.BytesIO(data[start:end]), path, storage).load(), end
    except CheckpointError as e:           # raised by a rebuild function: name the file
        if str(e).startswith(path):
            raise
        raise type(e)(f"{path}: {e}") from None
    except Exception as e:  # noqa: BLE001 - every unpickling failure means a corrupt file
        raise CheckpointError(f"{path}: corrupt or truncated pickle "
                              f"({type(e).__name__}: {e})") from e


def _storage_type(path, type_, key, numel, available: int) -> _StorageType:
    """The storage's type, once its element count is known to fit in the `available` bytes."""
    if not isinstance(type_, _StorageType):
        raise CheckpointError(f"{path}: storage {key!r} has type {type_!r}, not a storage type")
    if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
        raise CheckpointError(f"{path}: storage {key!r} has {numel!r} elements")
    if numel * type_.itemsize > available:
        raise CheckpointError(f"{path}: storage {key!r} declares {numel} elements "
                              f"({numel * type_.itemsize} bytes), more than the file's "
                              f"{available} bytes")
    return type_


def _read_zip(path: str, archive: zipfile.ZipFile, size: int):
    check_zip_records(path, archive, size)
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        found = "none" if not pickles else ", ".join(pickles)
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            found += "; it looks like a TorchScript archive (torch.jit.save)"
        raise CheckpointError(f"{path}: a zip checkpoint holds one <folder>/data.pkl, found "
                              f"{found}")
    top = pickles[0][:-len("data.pkl")]
    byteorder = "little"
    if top + "byteorder" in names:
        byteorder = archive.read(top + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise CheckpointError(f"{path}: unknown byte order {byteorder!r}")
    storages: dict[str, _Storage] = {}

    def storage(data):
        if len(data) != 4:
            raise CheckpointError(f"{path}: storage persistent id {data!r} is not "
                                  f"(type, key, location, numel)")
        type_, key, _, numel = data
        type_ = _storage_type(path, type_, key, numel, size)
        key = str(key)
        if key in storages:
            if storages[key].type != type_:
                raise CheckpointError(f"{path}: storage {key!r} is read as both "
                                      f"{storages[key].type.name} and {type_.name}")
            return storages[key]
        record, nbytes = f"{top}data/{key}", numel * type_.itemsize

        def load(record=record, nbytes=nbytes, key=key):
            try:
                info = archive.getinfo(record)
            except KeyError:
                raise CheckpointError(f"storage record {record!r} is missing (truncated or "
                                      f"corrupt checkpoint)") from None
            if info.file_size != nbytes:
                raise CheckpointError(f"storage record {record!r} holds {info.file_size} "
                                      f"bytes, expected {nbytes}")
            try:
                return archive.read(info)
            except Exception as e:  # noqa: BLE001 - bad CRC, cut-off or undecompressable record
                raise CheckpointError(f"cannot read storage record {record!r} "
                                      f"({type(e).__name__}: {e})") from e

        storages[key] = _Storage(key, type_, numel, loader=load)
        return storages[key]

    try:
        data = archive.read(pickles[0])
    except Exception as e:  # noqa: BLE001 - bad CRC, cut-off or undecompressable record
        raise CheckpointError(f"{path}: cannot read {pickles[0]} ({type(e).__name__}: "
                              f"{e})") from e
    return _unpickle(data, path, storage)[0], byteorder


def _read_legacy(path: str, data: bytes) -> tuple[Any, str]:
    """The legacy stream held in `data` (the whole file): every length is checked against the
    bytes present before it is used."""
    magic, end = _unpickle(data, path)
    if magic != LEGACY_MAGIC:
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (no legacy magic number)")
    protocol, end = _unpickle(data, path, start=end)
    if protocol != LEGACY_PROTOCOL:
        raise CheckpointError(f"{path}: unsupported legacy protocol version {protocol!r}")
    sys_info, end = _unpickle(data, path, start=end)
    if not isinstance(sys_info, dict):
        raise CheckpointError(f"{path}: legacy sys_info is {type(sys_info).__name__}, not a dict")
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    roots: dict[str, _Storage] = {}
    views: dict[str, _Storage] = {}

    data_ = data

    def storage(data):
        if len(data) != 5:
            raise CheckpointError(f"{path}: storage persistent id {data!r} is not "
                                  f"(type, key, location, numel, view)")
        type_, key, _, numel, view = data
        type_ = _storage_type(path, type_, key, numel, len(data_))
        key = str(key)
        root = roots.get(key)
        if root is None:
            root = roots[key] = _Storage(key, type_, numel)
        elif root.type != type_:
            raise CheckpointError(f"{path}: storage {key!r} is read as both {root.type.name} "
                                  f"and {type_.name}")
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise CheckpointError(f"{path}: storage view {view!r} is not (key, offset, size)")
        view_key, offset, size = str(view[0]), view[1], view[2]
        if view_key not in views:
            if not all(isinstance(v, int) and v >= 0 for v in (offset, size)):
                raise CheckpointError(f"{path}: storage view {view!r} has a bad offset or size")
            if offset + size > numel:
                raise CheckpointError(f"{path}: storage view {view!r} runs past its storage "
                                      f"of {numel} elements")
            views[view_key] = _Storage(view_key, type_, size)
            views[view_key].base, views[view_key].offset = root, offset
        return views[view_key]

    obj, end = _unpickle(data, path, storage, start=end)
    keys, end = _unpickle(data, path, start=end)
    if not isinstance(keys, list) or set(map(str, keys)) != set(roots):
        raise CheckpointError(f"{path}: the legacy storage key list does not match the storages "
                              f"the pickle uses")
    count = struct.Struct("<q" if byteorder == "little" else ">q")
    for key in map(str, keys):
        root = roots[key]
        if end + count.size > len(data):
            raise CheckpointError(f"{path}: truncated: the bytes of storage {key!r} are missing")
        (numel,) = count.unpack_from(data, end)
        end += count.size
        if numel != root.numel:
            raise CheckpointError(f"{path}: storage {key!r} holds {numel} elements, the pickle "
                                  f"says {root.numel}")
        nbytes = numel * root.type.itemsize
        if end + nbytes > len(data):
            raise CheckpointError(f"{path}: truncated: storage {key!r} has "
                                  f"{max(len(data) - end, 0)} of its {nbytes} bytes")
        root.data = memoryview(data)[end:end + nbytes]
        end += nbytes
    return obj, byteorder


def _metadata(obj) -> dict[str, Any]:
    """A training checkpoint's top-level str / int / float / bool entries (`epoch`, `arch`, ...)
    and those of its `args` (timm's argparse Namespace, read as a `_Namespace`)."""
    plain = (str, int, float, bool)
    if not isinstance(obj, dict) or any(isinstance(v, _TensorRef) for v in obj.values()):
        return {}
    out = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, plain)}
    args = obj.get("args")
    if isinstance(args, _Namespace):
        out["args"] = {k: v for k, v in args.values.items()
                       if isinstance(k, str) and isinstance(v, plain + (type(None),))}
    return out


def _state_dict(path: str, obj, key: str | None, byteorder: str,
                budget: int) -> dict[str, np.ndarray]:
    """The tensors of the state dict in `obj`, rebuilt once their total size is known to be
    within `budget` bytes (views with zero strides could otherwise declare any size)."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    if key is not None:
        if not isinstance(obj.get(key), dict):
            raise CheckpointError(f"{path}: has no state dict under key {key!r} (keys: "
                                  f"{', '.join(map(repr, list(obj)[:20]))})")
        obj = obj[key]
    elif not any(isinstance(v, _TensorRef) for v in obj.values()):
        for candidate in STATE_DICT_KEYS:
            if isinstance(obj.get(candidate), dict):
                obj = obj[candidate]
                break
    if not obj:
        raise CheckpointError(f"{path}: the state dict is empty")
    total = 0
    for name, value in obj.items():
        if not isinstance(name, str):
            raise CheckpointError(f"{path}: state dict key {name!r} is not a string")
        if not isinstance(value, _TensorRef):
            raise CheckpointError(f"{path}: state dict entry {name!r} is a "
                                  f"{type(value).__name__}, not a tensor (keys tried for a "
                                  f"nested state dict: {', '.join(STATE_DICT_KEYS)})")
        itemsize = 4 if value.storage.type.bfloat16 else value.storage.type.itemsize
        total += math.prod(max(n, 0) for n in value.size) * itemsize
        if total > budget:
            raise CheckpointError(f"{path}: the tensors up to {name!r} would take {total} bytes, "
                                  f"more than {budget} (4 times the file): corrupt sizes")
    result = {}
    for name, value in obj.items():
        try:
            result[name] = value.materialize(byteorder)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {name}: {e}") from None
    return result


def read_checkpoint(path, *, key: str | None = None) -> dict[str, np.ndarray]:
    """The state dict in a `.safetensors` or PyTorch (`.pth`, `.pt`, `.bin`, zip or legacy)
    file as `{name: numpy.ndarray}`, without importing torch or running any code from the file.

    `key` picks the nested state dict of a training checkpoint (`{"epoch": 3, "model": {...}}`);
    by default a dict whose values are not tensors is searched for `STATE_DICT_KEYS` in order
    (`state_dict`, then `model_state_dict`, `model`, `state_dict_ema`, `model_ema`). bfloat16
    tensors become float32 (exactly); other dtypes keep their numpy type. Raises
    `FileNotFoundError` for a missing file, `UnsafeCheckpointError` for a pickle that refers to
    anything but tensors and dicts, and `CheckpointError` for a corrupt, truncated or
    non-state-dict file; the messages name the file. Every size the file declares is checked
    against the bytes present before anything is allocated for it.
    """
    return read_training_checkpoint(path, key=key)[0]


def read_training_checkpoint(path, *, key: str | None = None
                             ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """`(state dict, metadata)`: `read_checkpoint`'s state dict and, for a training checkpoint
    (a dict holding the state dict beside other entries), its plain entries (`epoch`, timm's
    `arch`, `metric`; timm's `args` as a dict). A bare state dict or safetensors file has {}."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint file at {path}")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(9)
    if path.endswith(".safetensors") or (head[:1] != b"\x80" and head[8:9] == b"{"):
        return read_safetensors(path, size), {}
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                obj, byteorder = _read_zip(path, archive, size)
                return _state_dict(path, obj, key, byteorder, 4 * size + (1 << 20)), _metadata(obj)
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001 - BadZipFile, errors of a corrupt directory
            raise CheckpointError(f"{path}: corrupt or truncated zip checkpoint "
                                  f"({type(e).__name__}: {e})") from e
    if head[:1] == b"\x80":                       # a pickle (protocol >= 2): the legacy stream
        with open(path, "rb") as f:
            obj, byteorder = _read_legacy(path, f.read())
        return _state_dict(path, obj, key, byteorder, 4 * size + (1 << 20)), _metadata(obj)
    raise CheckpointError(f"{path}: not a PyTorch (zip or legacy) or safetensors checkpoint "
                          f"(starts with {head[:8]!r})")
