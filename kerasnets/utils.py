"""Small helpers shared by the library and the tools."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile


def _suffix(path: str) -> str:
    """The extension writers key their format on (`.weights.h5` counts as one)."""
    return ".weights.h5" if path.endswith(".weights.h5") else os.path.splitext(path)[1]


@contextlib.contextmanager
def atomic_file(path):
    """Yield a temporary path beside `path`, with the same extension, that is moved onto
    `path` when the block succeeds and removed when it fails: a reader never sees a
    half-written file, and an interrupted write leaves the old file intact."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=_suffix(path))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path, text: str) -> str:
    """Write `text` to `path` through `atomic_file`."""
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
        f.write(text)
    return os.fspath(path)


def save_model(model, path) -> str:
    """`model.save(path)` (`.keras`) or `model.save_weights(path)` (`.weights.h5`) through
    `atomic_file`, so a kill never leaves half a file where a loader would look."""
    path = os.fspath(path)
    with atomic_file(path) as tmp:
        (model.save_weights if path.endswith(".weights.h5") else model.save)(tmp)
    return path


def atomic_directory(path):
    """Context manager yielding a temporary directory beside `path` that replaces `path` only
    when the block succeeds (exports, checkpoints); on failure it is removed."""
    @contextlib.contextmanager
    def _ctx():
        target = os.path.abspath(os.fspath(path))
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-" + os.path.basename(target) + "-")
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = None
        if os.path.exists(target):
            old = tempfile.mkdtemp(dir=parent, prefix=".old-" + os.path.basename(target) + "-")
            os.rmdir(old)
            os.replace(target, old)
        os.replace(tmp, target)
        if old:
            shutil.rmtree(old, ignore_errors=True)

    return _ctx()
