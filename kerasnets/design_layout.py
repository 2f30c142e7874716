"""The Layout section of docs/design.md, generated from the tree: each package and module with its purpose.

    python -m kerasnets.design_layout    # rewrite the section after adding or moving a module

A module's purpose is the first sentence of its docstring (read with `ast`: nothing is imported).
`kerasnets.applications`' family files are listed by name only. `tests/test_tools.py` keeps the
checked-in section equal to `render()`.
"""

from __future__ import annotations

import ast
import os
import re
import textwrap

from kerasnets.utils import atomic_write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DESIGN = os.path.join(ROOT, "docs", "design.md")
START = "<!-- layout: python -m kerasnets.design_layout -->"
END = "<!-- end of layout -->"
PACKAGES = ("kerasnets", "pipelines", "tools")
NAMES_ONLY = {os.path.join("kerasnets", "applications")}   # one family per file: names suffice
# What is not a Python package, in the order a reader meets it.
OTHERS = (("setup.cfg", "metadata, pinned dependencies, extras, pytest config"),
          ("pyproject.toml", "build-system only"),
          ("README.md", "two commands first: set up + run the main job; run the tests"),
          ("tests/", "mirrors the packages; test_models.py runs over list_models()"),
          ("docs/", "user guide pages, this design, the results tables that tools write"),
          (".ci/run", "installs from the project's files, then runs README's test command"))
COLUMN, WIDTH = 26, 100
# kerasnets' parts from the bottom up, as the layout lists them: a part imports only itself and
# the parts before it (`tests/test_import_graph.py` checks every import, function-level ones
# too); `kerasnets/__init__.py` belongs to the zoo. pipelines import kerasnets, never the other
# way; tools import both.
LAYERS = (("shared helpers", ("utils", "results", "plots", "design_layout", "_moved")),
          ("the zoo", ("zoo", "layers", "weights", "applications")),
          ("measurement", ("measurement",)),
          ("training", ("training",)),
          ("deployment", ("deployment",)),
          ("mechanisms", ("transfer", "net2net", "distillation")),
          ("experiments", ("experiments",)))


def layer_of(module: str) -> int:
    """The index in `LAYERS` of a kerasnets module's part (`kerasnets` itself: the zoo)."""
    parts = module.split(".")
    if parts[0] != "kerasnets":
        raise ValueError(f"{module} is not a kerasnets module.")
    if len(parts) == 1:
        return 1
    for index, (_, members) in enumerate(LAYERS):
        if parts[1] in members:
            return index
    raise ValueError(f"kerasnets.{parts[1]} is in no part of design_layout.LAYERS: add it.")


def purpose(path: str) -> str:
    """The first sentence of the module docstring of `path` (its first paragraph, whitespace
    collapsed, up to the first full stop that ends it or comes before a capital), or ''."""
    with open(path, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    match = re.search(r"(?<!\be\.g)(?<!\bi\.e)\.(?=\s+[A-Z]|$)", paragraph)
    return paragraph[:match.start() + 1] if match else paragraph


def _entry(name: str, text: str, depth: int) -> list[str]:
    label = "  " * depth + name
    indent = " " * COLUMN
    if len(label) >= COLUMN - 1:
        return [label] + (textwrap.wrap(text, WIDTH, initial_indent=indent,
                                        subsequent_indent=indent) if text else [])
    lines = textwrap.wrap(text, WIDTH, initial_indent=label.ljust(COLUMN),
                          subsequent_indent=indent)
    return lines or [label]


def _package(folder: str, depth: int) -> list[str]:
    relative = os.path.relpath(folder, ROOT)
    lines = _entry(os.path.basename(folder) + "/", purpose(os.path.join(folder, "__init__.py")),
                   depth)
    entries = sorted(os.listdir(folder))
    modules = [e[:-3] for e in entries if e.endswith(".py") and e != "__init__.py"]
    packages = [e for e in entries
                if os.path.isfile(os.path.join(folder, e, "__init__.py"))]
    if relative in NAMES_ONLY:
        public = [m for m in modules if not m.startswith("_")]
        private = [m for m in modules if m.startswith("_")]
        lines += _entry("", f"{len(public)} files: " + ", ".join(public), depth + 1)
        lines += _entry("", "shared private modules: " + ", ".join(private), depth + 1)
        return lines
    if relative == "kerasnets":  # its parts in LAYERS' order, bottom up
        for title, members in LAYERS:
            lines += _entry("", f"-- {title} --", depth + 1)
            for member in members:
                if member in modules:
                    lines += _entry(member + ".py", purpose(os.path.join(folder, member + ".py")),
                                    depth + 1)
                elif member in packages:
                    lines += _package(os.path.join(folder, member), depth + 1)
        missing = set(modules + packages) - {m for _, members in LAYERS for m in members}
        if missing:
            raise ValueError(f"kerasnets/{sorted(missing)[0]} is in no part of LAYERS: add it.")
        return lines
    for module in modules:
        lines += _entry(module + ".py", purpose(os.path.join(folder, module + ".py")), depth + 1)
    for package in packages:
        lines += _package(os.path.join(folder, package), depth + 1)
    return lines


def render() -> str:
    """The section between the markers: a code block of the tree."""
    lines = []
    for name, text in OTHERS[:3]:
        lines += _entry(name, text, 0)
    for package in PACKAGES:
        lines += _package(os.path.join(ROOT, package), 0)
    for name, text in OTHERS[3:]:
        lines += _entry(name, text, 0)
    return "```\n" + "\n".join(line.rstrip() for line in lines) + "\n```\n"


def update(text: str) -> str:
    """`text` (docs/design.md) with its layout section replaced by `render()`."""
    if START not in text or END not in text:
        raise ValueError(f"docs/design.md has no layout markers ({START} ... {END}).")
    head, rest = text.split(START, 1)
    return head + START + "\n" + render() + rest[rest.index(END):]


if __name__ == "__main__":
    with open(DESIGN, encoding="utf-8") as f:
        atomic_write_text(DESIGN, update(f.read()))
    print(f"Wrote the layout of {DESIGN}")
