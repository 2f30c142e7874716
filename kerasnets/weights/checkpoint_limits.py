"""The bounds a checkpoint file must respect before `read_checkpoint` allocates anything for it.

A hostile or damaged file must not be able to make the reader allocate more than a small multiple
of its own size, or run for long. Three places in a PyTorch / safetensors file declare sizes
that readers trust:

- the pickles: C's unpickler grows its memo table to twice any memo index it meets (one flipped
  bit in a `LONG_BINPUT` of the lite0 checkpoint made it allocate 2.1 GB), and reads each
  declared string length in one call. `scan_pickle` walks every opcode first with `pickletools`
  over an in-memory stream, which never reads past its end, so every declared length must be
  present, only the opcodes a state dict needs are allowed, and memo indexes are bounded by the
  number of opcodes so far;
- zip records: `zipfile` reads a stored record in one call of its declared size;
  `check_zip_records` holds every record's size and offset to the file;
- a safetensors header's length (`read_safetensors`; the library itself checks the rest).

Storage element counts (checked in `checkpoint` against the bytes present) and the total size
of the rebuilt tensors (at most 4x the file) are the rest.
"""

from __future__ import annotations

import io
import json
import pickletools
import struct
import zipfile

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, truncated, or does not hold a state dict of tensors."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint's pickle refers to a global outside the allow-list (it could run code)."""


# The opcodes a pickle of dicts, lists, tuples, numbers, strings and tensors needs (protocols
# 2-4); the others build objects (INST, OBJ, NEWOBJ*), reach the copyreg registry (EXT*) or take
# out-of-band buffers (protocol 5).
_OPCODES = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP", "NONE", "NEWTRUE", "NEWFALSE",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "EMPTY_TUPLE", "TUPLE", "TUPLE1",
    "TUPLE2", "TUPLE3", "EMPTY_LIST", "APPEND", "APPENDS", "LIST", "EMPTY_DICT", "DICT",
    "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS", "FROZENSET", "GET", "BINGET", "LONG_BINGET",
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD",
    "PERSID", "BINPERSID", "NEWOBJ"})
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
# Each opcode makes at most one object (~100 bytes); a torch state dict takes ~36 opcodes per tensor
# (lite0: 10,696 for 296 tensors), so this allows ~100,000 tensors and bounds the objects to
# a few hundred MB whatever the file.
MAX_OPCODES = 4_000_000


def scan_pickle(data, start: int, path: str) -> int:
    """Where the pickle starting at `data[start]` ends, after checking every opcode first:
    only `_OPCODES`, every length it declares present in the bytes that follow (pickletools
    reads them from a BytesIO, which never allocates past its end), and memo indexes no larger
    than the number of opcodes so far (pickle numbers its memo 0, 1, 2...; C's unpickler grows
    its memo table to twice an index, so one flipped bit there would allocate gigabytes)."""
    stream = io.BytesIO(data)
    stream.seek(start)
    count = 0
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            count += 1
            if count > MAX_OPCODES:
                raise CheckpointError(f"{path}: the pickle has over {MAX_OPCODES} opcodes; a "
                                      f"state dict needs a few dozen per tensor")
            if opcode.name not in _OPCODES:
                raise CheckpointError(f"{path}: the pickle uses opcode {opcode.name}, which a "
                                      f"state dict does not need")
            if opcode.name in _PUTS and not 0 <= arg <= count:
                raise CheckpointError(f"{path}: corrupt pickle: memo index {arg} after "
                                      f"{count} opcodes")
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - unknown opcode, cut-off argument, no STOP
        raise CheckpointError(f"{path}: corrupt or truncated pickle ({type(e).__name__}: "
                              f"{e})") from e
    return stream.tell()


def check_zip_records(path: str, archive: zipfile.ZipFile, size: int) -> None:
    """Every zip record's declared sizes against the `size` bytes of the file, before any
    record is read (zipfile reads a stored record in one call of its declared size)."""
    for info in archive.infolist():
        if info.header_offset + info.compress_size > size or (
                info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size):
            raise CheckpointError(f"{path}: zip record {info.filename!r} declares "
                                  f"{info.compress_size} bytes at offset {info.header_offset}, "
                                  f"past the end of the {size}-byte file (truncated or corrupt)")
        if info.file_size > 8 * size:
            raise CheckpointError(f"{path}: zip record {info.filename!r} would expand to "
                                  f"{info.file_size} bytes, over 8 times the file")


def read_safetensors(path: str, size: int) -> dict[str, np.ndarray]:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise CheckpointError(f"{path}: reading .safetensors needs the safetensors package "
                              f"(pip install safetensors)") from None
    try:
        arrays = safetensors.numpy.load_file(path)
        # where ml_dtypes registered numpy a bfloat16 (TensorFlow does), it loads as that type
        return {name: array.astype(np.float32) if array.dtype.name == "bfloat16" else array
                for name, array in arrays.items()}
    except TypeError:
        pass                                  # a dtype numpy lacks (bfloat16): tensor by tensor
    except Exception as e:  # noqa: BLE001 - SafetensorError derives from Exception only
        raise CheckpointError(f"{path}: not a valid safetensors file ({e})") from e
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8:
                raise CheckpointError(f"{path}: the safetensors header declares {length} bytes, "
                                      f"more than the file holds")
            header = json.loads(f.read(length))
        start = 8 + length
        result = {}
        with safetensors.safe_open(path, framework="np") as f:
            for name in f.keys():
                dtype = f.get_slice(name).get_dtype()
                if dtype != "BF16":
                    result[name] = np.array(f.get_tensor(name))
                    continue
                begin, end = header[name]["data_offsets"]
                raw = np.fromfile(path, dtype="<u2", count=(end - begin) // 2,
                                  offset=start + begin)
                result[name] = (raw.astype(np.uint32) << 16).view(np.float32).reshape(
                    header[name]["shape"])
        return result
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot read safetensors file ({type(e).__name__}: "
                              f"{e})") from e
