"""Small helpers shared by the library and the tools."""

from __future__ import annotations

import os
import shutil
import tempfile


def atomic_write_text(path, text: str) -> str:
    """Write `text` to a temporary file beside `path`, then move it into place: a reader never
    sees a half-written file, and an interrupted write leaves the old file intact."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix="-" + os.path.basename(path))
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def atomic_directory(path):
    """Context manager yielding a temporary directory beside `path` that replaces `path` only
    when the block succeeds (exports, checkpoints); on failure it is removed."""
    import contextlib

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
