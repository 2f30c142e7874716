"""Small helpers shared by the library and the tools."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading

# Where Keras' and TFDS' published files are served from: the host a network probe tries.
NETWORK_PROBE = ("storage.googleapis.com", 443)


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


def _cell(value) -> str:
    return "" if value is None else str(value)


def tables(rows, columns, *, fmt=_cell, markdown_columns=None) -> tuple[str, str]:
    """`(markdown, csv)` texts of `rows` (dicts) over `columns`, each cell through `fmt`
    (missing keys and None give empty cells). `markdown_columns` (default `columns`) lets the
    Markdown show fewer columns than the CSV."""
    import csv
    import io

    shown = markdown_columns or columns
    markdown = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    markdown += ["| " + " | ".join(fmt(r.get(c)) for c in shown) + " |" for r in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: fmt(r.get(c)) for c in columns} for r in rows)
    return "\n".join(markdown) + "\n", buffer.getvalue()


def write_tables(path, rows, columns, *, header: str = "", footer: str = "", fmt=_cell,
                 **options) -> str:
    """`tables(...)` written atomically to `path` (its extension replaced: `.csv` and `.md`,
    the Markdown after `header` and a blank line, `footer` after it); returns the Markdown
    written."""
    stem = os.path.splitext(os.fspath(path))[0]
    markdown, csv_text = tables(rows, columns, fmt=fmt, **options)
    markdown = (f"{header}\n\n{markdown}" if header else markdown) + footer
    atomic_write_text(stem + ".csv", csv_text)
    atomic_write_text(stem + ".md", markdown)
    return markdown


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


def network_available(host_port: tuple[str, int] = NETWORK_PROBE, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to `host_port` (or to $HTTPS_PROXY's host) opens within
    `timeout` seconds; name resolution is bounded too (the probe runs in a thread)."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy:
        from urllib.parse import urlparse
        parsed = urlparse(proxy if "://" in proxy else "http://" + proxy)
        host_port = (parsed.hostname or host_port[0], parsed.port or 80)
    ok = []

    def probe():
        try:
            socket.create_connection(host_port, timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok)


# Keras' graph walks (`map_graph`, serialisation) recurse once per layer of the deepest path;
# ResNet-1202 needs ~1,200 frames against Python's default limit of 1,000.
DEEP_GRAPH_RECURSION_LIMIT = 20_000


@contextlib.contextmanager
def deep_graphs(limit: int = DEEP_GRAPH_RECURSION_LIMIT):
    """Raise the interpreter's recursion limit to at least `limit` inside the block (restored
    afterwards), so deep functional graphs build whatever headroom the interpreter has."""
    import sys

    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)
