"""Deep graphs build, load and clone whatever recursion limit the interpreter starts with.

Keras walks a functional graph recursively (`map_graph` when building or loading a model,
`clone_model`), one frame per layer of the deepest path: ResNet-1202 needs ~2,400 frames. Each
check runs in a fresh interpreter whose limit is set explicitly, because importing TensorFlow
here imports jedi, which raises the limit to 3,000 for the whole pytest process and would hide
the failure (it happened on an install without jedi: issue #16).
"""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The deepest registered model: 200 basic blocks per stage (4,215 Keras layers).
DEEPEST = "resnet1202_cifar"


def _run(script: str, timeout: int = 300) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_deepest_model_builds_at_pythons_default_limit():
    out = _run(f"""
        import sys
        import kerasnets
        kerasnets.list_models()           # every import done (TensorFlow's raises the limit)
        sys.setrecursionlimit(1000)       # Python's default
        model = kerasnets.create_model({DEEPEST!r})
        print(len(model.layers), sys.getrecursionlimit())
    """)
    layers, limit = map(int, out.split())
    assert layers > 4000
    assert limit == 1000  # raised for the build only, then restored


def test_load_and_clone_run_under_the_same_headroom(tmp_path):
    """A limit of 100 frames: a 110-layer graph cannot be loaded or widened (Net2Net clones it)
    unless those walks raise the limit too (without that both need ~150)."""
    out = _run(f"""
        import sys
        import kerasnets
        from kerasnets import net2net
        model = kerasnets.create_model("resnet110_cifar", classes=10)
        model.save({str(tmp_path / "m.keras")!r})
        sys.setrecursionlimit(100)
        loaded = kerasnets.load_model({str(tmp_path / "m.keras")!r}, compile=False)
        wider = net2net.wider(loaded, "stem_conv", 24)
        print(len(loaded.layers) == len(model.layers), wider.get_layer("stem_conv").filters,
              sys.getrecursionlimit())
    """)
    assert out.split() == ["True", "24", "100"]
