"""Command-line tools (absl apps): `python -m tools.<name> --help`.

Importing this package (which `python -m tools.<name>` does first) quiets TensorFlow's C++ log
before any tool imports it: `TF_CPP_MIN_LOG_LEVEL` is set from absl's `--verbosity` / `-v` in
argv (not given: errors only; an existing `TF_CPP_MIN_LOG_LEVEL` wins), and TensorFlow is imported
with its stderr captured, because the INFO lines its libraries write while loading (oneDNN's
notice, absl's "before absl::InitializeLog()" warning) ignore that variable. Captured lines below
the chosen level are dropped; everything else is written back to stderr.

`run(main)` is every tool's entry point (`tools.flags.run`): absl's `app.run` with bad input
reported as `error: ...` and exit status 2.
"""

from __future__ import annotations

import os
import re
import sys

# absl's C++ log line ("I0000 00:00:1796424708.935756   12130 port.cc:153] ...") and the line
# absl writes before its first message when the log is not initialised.
_CPP_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d?[.\d]*\s+\d+ [^\s\]]+:\d+\] ")
_BEFORE_INIT = "All log messages before absl::InitializeLog() is called are written to STDERR"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# Lines that start something new (a Python warning or traceback), never an absl continuation.
_OTHER = re.compile(r"(Traceback |\S+:\d+: \w*(Warning|Error)\b|[A-Za-z]\w*(Warning|Error): )")


def _verbosity(argv) -> int | None:
    """absl's `--verbosity` / `-v` from argv (the last one given), or None."""
    value = None
    args = list(argv[1:])
    for i, arg in enumerate(args):
        if arg == "--":
            break
        match = re.fullmatch(r"(?:--verbosity|-v|--v)(?:=(.*))?", arg)
        if match:
            text = match.group(1) if match.group(1) is not None else \
                (args[i + 1] if i + 1 < len(args) else "")
            try:
                value = int(text)
            except ValueError:
                pass
    return value


def tf_min_log_level(argv=None, environ=None) -> int:
    """TensorFlow's C++ log level for a tool run: `TF_CPP_MIN_LOG_LEVEL` if set, else from
    absl's verbosity (1 debug or 0 info -> 0: everything; -1 warning -> 1; -2 error -> 2), else
    2 (errors only)."""
    environ = os.environ if environ is None else environ
    try:
        return int(environ["TF_CPP_MIN_LOG_LEVEL"])
    except (KeyError, ValueError):
        pass
    verbosity = _verbosity(sys.argv if argv is None else argv)
    return 2 if verbosity is None else min(3, max(0, -verbosity))


def _keep(text: str, level: int) -> str:
    """`text` without absl C++ lines below `level` (and their continuation lines)."""
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        match = _CPP_LINE.match(line)
        if match:
            dropping = _SEVERITY[match.group(1)] < level
        elif _BEFORE_INIT in line:
            dropping = level > 1      # absl writes it at WARNING level
        elif _OTHER.match(line):
            dropping = False
        if not dropping:
            kept.append(line)
    return "".join(kept)


def quiet_tensorflow(argv=None) -> int:
    """Set `TF_CPP_MIN_LOG_LEVEL` and import TensorFlow with its load-time log filtered (see the
    module docstring); returns the level. Does nothing to the import if TensorFlow is already
    imported or the level is 0."""
    level = tf_min_log_level(argv)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(level)
    if level == 0 or "tensorflow" in sys.modules:
        return level
    import tempfile

    sys.stderr.flush()
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            rest = _keep(capture.read().decode("utf-8", "replace"), level)
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
    return level


quiet_tensorflow()

# After TensorFlow is imported quietly: kerasnets imports it.
from absl import app, logging  # noqa: E402
from absl.flags import FLAGS as _FLAGS  # noqa: E402  (not `flags`: that is tools.flags)

from kerasnets.weights.bundle import ENV  # noqa: E402

# The errors a tool reports as `error: ...` (exit 2) instead of a traceback.
_REPORTED = ("ValueError", "FileNotFoundError", "DatasetUnavailableError",
             "WeightsUnavailableError", "WeightsMismatchError", "UsageError", "ExportError",
             "UnsupportedOpError", "CheckpointError", "UnsafeCheckpointError")


def run(main):
    """`absl.app.run(main)`, where a bad input (ValueError, FileNotFoundError, the data
    sources' DatasetUnavailableError, kerasnets.weights' errors) ends the tool with its message
    and exit status 2 instead of a traceback; KERASNETS_TRACEBACK=1 shows the traceback.
    `--weights_dir` (tools.flags) sets KERASNETS_WEIGHTS_DIR first."""
    def guarded(argv):
        try:
            if _FLAGS.weights_dir:
                os.environ[ENV] = _FLAGS.weights_dir
            return main(argv)
        except (ValueError, FileNotFoundError, RuntimeError) as e:
            if os.environ.get("KERASNETS_TRACEBACK") or type(e).__name__ not in _REPORTED:
                raise
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    logging.set_verbosity(logging.WARNING)
    app.run(guarded)
