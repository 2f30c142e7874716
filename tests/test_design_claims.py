"""docs/design.md's claims that no other test checks: cheap reads of the tree (files, imports,
setup.cfg) and of a few objects, no model built. Each test names the design's words it holds."""

import ast
import configparser
import functools
import importlib
import inspect
import os
import re
import warnings

import keras
import pytest

import kerasnets
from kerasnets import _moved, design_layout
from kerasnets import layers as kl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPLICATIONS = os.path.join(ROOT, "kerasnets", "applications")
# design.md, "Shared blocks": the public family files built from another family's parts.
FAMILY_IMPORTS = {"efficientnet_v2": {"efficientnet"},
                  "efficientnet_tv": {"efficientnet", "efficientnet_v2"}}
# design.md, "FLOPs": the custom layers that count zero by the convention (no `macs` method).
ZERO_BY_CONVENTION = {"LocalResponseNormalization", "CeilModeMaxPooling2D", "PaddedMaxPooling2D",
                      "TrainableSubsampling", "ScaledAdd", "ZeroPadChannels", "WeightedSum",
                      "EnsembleLogits"}
COUNTING = {"GroupedConv2D", "ConnectionTableConv2D", "EuclideanRBF"}   # macs > 0
RETURNING_ZERO = {"Shift", "ChannelShuffle", "ChannelSplit", "Renormalize"}
OPTIONAL = ("torch", "torchvision", "timm", "tf2onnx", "onnx", "onnxruntime", "ai_edge_litert",
            "jax", "skimage", "mlxtend")


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """These tests build no model: conftest's session reset (0.3 s each) is not needed."""
    yield


def _python_files(*tops):
    for top in tops:
        for folder, _, names in os.walk(os.path.join(ROOT, top)):
            for name in sorted(names):
                if name.endswith(".py"):
                    yield os.path.join(folder, name)


@functools.lru_cache(maxsize=None)
def _tree(path):
    return ast.parse(open(path, encoding="utf-8").read())


def _imports(path, module_level_only=False):
    """The modules `path` imports (`from a import b` gives `a` and `a.b`)."""
    tree = _tree(path)
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _design_text():
    """design.md without its generated Layout section (test_tools checks that one)."""
    with open(design_layout.DESIGN, encoding="utf-8") as f:
        text = f.read()
    head, rest = text.split(design_layout.START, 1)
    return head + rest.split(design_layout.END, 1)[1]


def test_setup_tensorflow_comes_from_exactly_one_extra():
    """"Set-up": TensorFlow is not in install_requires; the cpu and and-cuda extras pin it."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    requires = [r.strip() for r in cfg["options"]["install_requires"].splitlines() if r.strip()]
    assert not [r for r in requires if re.match(r"tensorflow([^-]|$)", r)], requires
    extras = cfg["options.extras_require"]
    assert extras["cpu"].split() == ["tensorflow-cpu==2.21.0"]
    assert extras["and-cuda"].split() == ["tensorflow[and-cuda]==2.21.0"]


def test_every_custom_layer_counts_its_flops_or_is_zero_by_convention():
    """"FLOPs": a custom layer that multiplies has `macs`; the others are listed as zero."""
    classes = {name: obj for name, obj in vars(kl).items()
               if isinstance(obj, type) and issubclass(obj, keras.layers.Layer)}
    assert set(classes) == ZERO_BY_CONVENTION | COUNTING | RETURNING_ZERO, sorted(classes)
    for name, cls in classes.items():
        assert callable(getattr(cls, "macs", None)) == (name not in ZERO_BY_CONVENTION), name
    shape = (None, 8, 8, 4)
    for name in RETURNING_ZERO:
        assert classes[name].macs(None, shape, shape) == 0, name
    assert kl.GroupedConv2D(8, 3, 2).macs((None, 8, 8, 4), (None, 6, 6, 8)) == 6 * 6 * 8 * 9 * 2
    # ... so flops.py needs no kerasnets import
    flops = _imports(os.path.join(ROOT, "kerasnets", "zoo", "flops.py"))
    assert not [m for m in flops if m.split(".")[0] == "kerasnets"], flops


def test_public_family_files_import_each_other_only_where_the_design_says():
    """"Shared blocks": private modules, or the family file another family is built from."""
    public = {n[:-3] for n in os.listdir(APPLICATIONS)
              if n.endswith(".py") and not n.startswith("_")}
    found = {}
    for name in sorted(public):
        targets = {m.split(".")[2] for m in _imports(os.path.join(APPLICATIONS, name + ".py"))
                   if m.startswith("kerasnets.applications.") and m.split(".")[2] in public}
        if targets:
            found[name] = targets
    assert found == FAMILY_IMPORTS, (
        f"{found}: move the shared block into a private module of kerasnets/applications/, or "
        f"name the import in docs/design.md's 'Shared blocks' and FAMILY_IMPORTS")


def test_library_code_never_parses_flags():
    """"Pipelines and tools": no module of kerasnets or pipelines imports absl."""
    bad = [os.path.relpath(p, ROOT) for p in _python_files("kerasnets", "pipelines")
           if any(m.split(".")[0] == "absl" for m in _imports(p))]
    assert not bad, bad


def test_every_tool_runs_through_flags_run_and_has_an_end_to_end_test():
    """"Every tool ends through `tools.flags.run`"; "every tool has at least one end-to-end run"."""
    tools = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, "tools"))
                   if n.endswith(".py") and n not in ("__init__.py", "flags.py", "flag_values.py"))
    assert len(tools) >= 13, tools
    tests = "".join(open(p, encoding="utf-8").read() for p in _python_files("tests"))
    for tool in tools:
        source = open(os.path.join(ROOT, "tools", tool + ".py"), encoding="utf-8").read()
        assert re.search(r'if __name__ == "__main__":\n    shared\.run\(main\)', source), tool
        assert re.search(rf'"(-m", ")?tools\.{tool}"', tests), f"no test runs tools.{tool}"


def test_optional_dependencies_are_never_imported_at_module_level():
    """"Pretrained weights from PyTorch": torch, torchvision and timm are test-only (nor are the
    other optional packages needed to import any module of kerasnets, pipelines or tools)."""
    bad = [f"{os.path.relpath(p, ROOT)}: {m}" for p in _python_files("kerasnets", "pipelines", "tools")
           for m in _imports(p, module_level_only=True) if m.split(".")[0] in OPTIONAL]
    assert not bad, bad


def test_no_module_over_500_lines():
    """"No module over 500 lines" in kerasnets or pipelines."""
    long = {os.path.relpath(p, ROOT): n for p in _python_files("kerasnets", "pipelines")
            if (n := len(open(p, encoding="utf-8").read().splitlines())) > 500}
    assert not long, long


def test_create_model_takes_the_name_positionally_only():
    """"Distillation": `create_model(name, /, **kwargs)`, so a student can be named."""
    params = list(inspect.signature(kerasnets.create_model).parameters.values())
    assert params[0].name == "name" and params[0].kind is inspect.Parameter.POSITIONAL_ONLY
    assert params[1].kind is inspect.Parameter.VAR_KEYWORD


def test_a_name_warning_is_attributed_to_the_callers_line():
    """"Names": a DeprecationWarning points at the first caller outside kerasnets."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kerasnets.get_entry("mobilenet_025")
        kerasnets.get_entry("efficientnet_b0")
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 2, [str(w.message) for w in caught]
    assert {w.filename for w in deprecations} == {__file__}


def _resolves(dotted):
    """Whether `kerasnets.a.b.c` names a module or an attribute of one (not through an old path)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        if _moved.new_path(name):
            return False
        try:
            obj = importlib.import_module(name)
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_the_names_and_paths_the_design_gives_exist():
    """Every `kerasnets.*` / `pipelines.*` name and every file path in design.md's prose exists
    at its present place (an old module path of the flat layout does not count)."""
    text = _design_text()
    names = set(re.findall(r"\b(?:kerasnets|pipelines)(?:\.[A-Za-z_]\w*)+", text))
    names -= {"kerasnets.json"}  # the model card's member of a .keras file
    assert len(names) > 30
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # retired builder names warn
        missing = sorted(n for n in names if not _resolves(n))
    assert not missing, missing
    for tool in set(re.findall(r"\btools\.([a-z_0-9]+)", text)) - {"run"}:
        assert os.path.exists(os.path.join(ROOT, "tools", tool + ".py")), tool
    paths = set(re.findall(r"(?<![\w/.$~])((?:[\w.-]+/)+[\w.-]+\.(?:py|pyi|sh|txt|md))\b", text))
    assert len(paths) > 20
    for path in sorted(paths):
        assert any(os.path.exists(os.path.join(ROOT, top, path))
                   for top in ("", "kerasnets", "pipelines")), path
