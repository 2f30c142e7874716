"""The import graph of kerasnets, pipelines and tools, read from the source with `ast` (no module is
imported): no cycle, the registry a leaf, and function-level imports kept to optional heavy
dependencies (issue #22).

An edge A -> B is any `import` or `from ... import` in A, at module level or inside a function,
that names B: `from kerasnets.weights import records` is an edge to the module
`kerasnets.weights.records`, `from kerasnets.zoo.registry import get_entry` one to
`kerasnets.zoo.registry`, and relative imports resolve against A's package. A module importing itself
(a package's `__init__` naming its own attribute) is not a cycle.
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("kerasnets", "pipelines", "tools")
# Optional heavy dependencies: the only things imported inside functions.
HEAVY = {"tf2onnx", "onnx", "onnxruntime", "ai_edge_litert", "litert", "torch", "torchvision",
         "timm", "jax", "mlxtend", "skimage", "sklearn", "matplotlib", "safetensors", "triton"}
# Ratchets: function-level imports still in the tree (lower them as modules move; never raise).
MAX_INTERNAL_FUNCTION_LEVEL = 121  # 224 at 4f7d948; 123 at b7b633c; 121 after the relayout
MAX_OTHER_FUNCTION_LEVEL = 95     # keras / tensorflow / h5py / stdlib inside functions


def _modules() -> dict[str, str]:
    """{dotted module name: file path} of the three packages."""
    found = {}
    for package in PACKAGES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for file in files:
                if not file.endswith(".py"):
                    continue
                parts = os.path.relpath(os.path.join(folder, file), ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = os.path.join(folder, file)
    return found


def _imports(tree: ast.AST):
    """(node, inside a function) for every import statement of a module."""
    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda))
            yield from walk(child, inner)
    yield from walk(tree, False)


def _targets(node, module: str, is_package: bool, modules) -> list[str]:
    """The dotted names an import statement in `module` loads (internal ones resolved to the
    deepest module that exists)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in modules else base)
    return out


def _internal(name: str, modules) -> str | None:
    """The module of the three packages that `name` is or lies in, or None (external)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@functools.lru_cache(maxsize=1)
def import_graph():
    """({module: {imported internal module}}, [(module, target, line, internal)] of
    function-level imports)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    function_level = []
    for name, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        is_package = path.endswith("__init__.py")
        for node, in_function in _imports(tree):
            for target in _targets(node, name, is_package, modules):
                internal = _internal(target, modules)
                if internal is not None and internal != name:
                    graph[name].add(internal)
                if in_function:
                    function_level.append((name, target, node.lineno, internal is not None))
    return graph, function_level


def cycles(graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _cycle_path(graph, component) -> str:
    """One closed path through a component, for the failure message."""
    members, start = set(component), component[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(graph[path[-1]] & members)
        back = [w for w in nxt if w == start]
        fresh = [w for w in nxt if w not in seen]
        if back and len(path) > 1 or not fresh:
            return " -> ".join(path + [start])
        path.append(fresh[0])
        seen.add(fresh[0])


def test_no_import_cycles():
    graph, _ = import_graph()
    assert len(graph) > 100 and "kerasnets.zoo.registry" in graph and "tools.flags" in graph
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(
        f"  {len(c)} modules: {', '.join(c)}\n    e.g. {_cycle_path(graph, c)}" for c in found)


def test_the_registry_is_a_leaf():
    graph, _ = import_graph()
    assert not graph["kerasnets.zoo.registry"], sorted(graph["kerasnets.zoo.registry"])


def test_function_level_imports_only_for_heavy_dependencies():
    _, function_level = import_graph()
    internal = [f"{m}:{line} -> {t}" for m, t, line, inside in function_level if inside]
    other = [f"{m}:{line} -> {t}" for m, t, line, inside in function_level
             if not inside and t.split(".")[0] not in HEAVY]
    print(f"function-level imports: {len(internal)} internal, {len(other)} external not heavy")
    assert len(internal) <= MAX_INTERNAL_FUNCTION_LEVEL, "\n".join(internal)
    assert len(other) <= MAX_OTHER_FUNCTION_LEVEL, "\n".join(other)


def test_importing_kerasnets_loads_neither_keras_nor_tensorflow():
    """The function-level imports that remain keep `import kerasnets` light."""
    code = "import sys, kerasnets; print(sorted({'keras', 'tensorflow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_graph_reader_sees_cycles_and_function_level_imports():
    """The reader itself: a planted cycle through a function-level relative import is found."""
    tree = ast.parse("import os\nfrom . import b\ndef f():\n    from .c import d\n")
    modules = {"p", "p.a", "p.b", "p.c"}
    seen = [(_targets(n, "p.a", False, modules), inside) for n, inside in _imports(tree)]
    assert seen == [(["os"], False), (["p.b"], False), (["p.c"], True)]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}) == [["a", "b", "c"]]


def layer_violations(graph) -> list[str]:
    """Imports that go up `design_layout.LAYERS` (a part importing a later part), plus kerasnets
    importing pipelines or tools and pipelines importing tools."""
    from kerasnets.design_layout import layer_of

    order = {"kerasnets": 0, "pipelines": 1, "tools": 2}
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            top, target_top = module.split(".")[0], target.split(".")[0]
            if order[target_top] > order[top]:
                bad.append(f"{module} -> {target}")
            elif top == target_top == "kerasnets" and layer_of(target) > layer_of(module):
                bad.append(f"{module} -> {target}")
    return bad


def test_each_part_imports_only_the_parts_below_it():
    """The layout is the architecture: shared helpers < the zoo < measurement < training <
    deployment < mechanisms < experiments, then pipelines, then tools (docs/design.md)."""
    graph, _ = import_graph()
    assert not layer_violations(graph), "\n".join(layer_violations(graph))
    # the check itself: an import from the zoo up into the experiments is caught
    planted = {"kerasnets.zoo.registry": {"kerasnets.experiments.transfer"},
               "kerasnets.experiments.transfer": set(), "pipelines.data": {"tools.flags"},
               "tools.flags": set()}
    assert layer_violations(planted) == ["kerasnets.zoo.registry -> kerasnets.experiments.transfer",
                                         "pipelines.data -> tools.flags"]


def test_old_module_paths_import_the_moved_modules_with_a_warning():
    """The flat layout's paths (`kerasnets.registry`, `kerasnets.export.exporter`, ...) still
    import, as the same module objects, each with a DeprecationWarning that names the new path."""
    import importlib
    import warnings

    import kerasnets
    from kerasnets import _moved

    for old, new in sorted(_moved.MOVED.items()):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        assert module is importlib.import_module(new) and module.__spec__.name == new, old
        assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message)
                   for w in caught), (old, [str(w.message) for w in caught])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from kerasnets.export.exporter import export  # a module inside a moved package
        from kerasnets.zoo import model_info  # kerasnets.zoo was a module
    assert export is importlib.import_module("kerasnets.deployment.export").export
    assert model_info is kerasnets.model_info and len(caught) >= 2
