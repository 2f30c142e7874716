"""One home for custom layers: every saveable kerasnets layer lives in `kerasnets.layers`, and
loading a `.keras` file imports no model family (issue #16)."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np

import kerasnets
import kerasnets.applications  # noqa: F401  (every family registered)
from kerasnets import layers as kl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where the layers lived before they moved: files saved then name these modules.
OLD_MODULES = {"TrainableSubsampling": "kerasnets.applications.lenet",
               "ConnectionTableConv2D": "kerasnets.applications.lenet",
               "EuclideanRBF": "kerasnets.applications.lenet",
               "ZeroPadChannels": "kerasnets.applications._resnet_blocks",
               "WeightedSum": "kerasnets.applications.randwire"}


def test_every_registered_layer_lives_in_kerasnets_layers():
    registered = {name: obj for name, obj in keras.saving.get_custom_objects().items()
                  if name.startswith("kerasnets>")}
    layer_like = {name: obj for name, obj in registered.items()
                  if (isinstance(obj, type) and issubclass(obj, keras.layers.Layer)
                      and not issubclass(obj, keras.Model))          # not distillation's models
                  or (not isinstance(obj, type) and callable(obj)
                      and not obj.__module__.startswith("kerasnets.distillation"))}
    assert {"kerasnets>TrainableSubsampling", "kerasnets>ConnectionTableConv2D",
            "kerasnets>EuclideanRBF", "kerasnets>scaled_tanh", "kerasnets>ZeroPadChannels",
            "kerasnets>WeightedSum", "kerasnets>ScaledAdd"} <= set(layer_like)
    elsewhere = {name: obj.__module__ for name, obj in layer_like.items()
                 if not obj.__module__.startswith("kerasnets.layers.")}
    assert not elsewhere, elsewhere
    # the family modules re-export them (old imports keep working)
    from kerasnets.applications import _resnet_blocks, lenet, randwire

    assert lenet.TrainableSubsampling is kl.TrainableSubsampling
    assert _resnet_blocks.ZeroPadChannels is kl.ZeroPadChannels
    assert randwire.WeightedSum is kl.WeightedSum


def _moved_layers_model():
    """A small model with every layer that moved (and LeCun's scaled_tanh)."""
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.Activation(kl.scaled_tanh)(kl.TrainableSubsampling(2)(inputs))
    x = kl.ConnectionTableConv2D(((0,), (0, 1), (1,)), 3)(x)
    padded = kl.ZeroPadChannels(2)(x)
    mixed = kl.WeightedSum()([padded, keras.layers.Conv2D(5, 1)(x)])
    x = kl.ScaledAdd(0.2)([padded, mixed])
    outputs = kl.EuclideanRBF(4, activation="softmax")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def _with_old_modules(path, old_path):
    """A copy of the `.keras` file whose config names the layers' old modules."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old_path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                for layer in config["config"]["layers"]:
                    if layer["class_name"] in OLD_MODULES:
                        layer["module"] = OLD_MODULES[layer["class_name"]]
                data = json.dumps(config).encode()
            dst.writestr(item, data)


def test_loading_a_keras_file_imports_no_model_family(tmp_path):
    rng = np.random.default_rng(0)
    runs = []   # (.keras file, inputs, expected outputs)
    lenet = kerasnets.create_model("lenet5", activation="scaled_tanh")
    small = _moved_layers_model()
    for name, model, shape in (("lenet5", lenet, (2, 32, 32, 1)), ("moved", small, (2, 12, 12, 2))):
        x = rng.normal(size=shape).astype("float32")
        np.save(tmp_path / f"{name}_x.npy", x)
        np.save(tmp_path / f"{name}_y.npy", np.asarray(model(x)))
        path, old = str(tmp_path / f"{name}.keras"), str(tmp_path / f"{name}_old.keras")
        model.save(path)
        _with_old_modules(path, old)
        runs += [(p, str(tmp_path / f"{name}_x.npy"), str(tmp_path / f"{name}_y.npy"))
                 for p in (path, old)]
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import kerasnets
        for path, inputs, expected in {runs!r}:
            model = kerasnets.load_model(path, compile=False)
            np.testing.assert_allclose(np.asarray(model(np.load(inputs))), np.load(expected),
                                       rtol=1e-5, atol=1e-6, err_msg=path)
        print(sorted(m for m in sys.modules if m.startswith("kerasnets.applications")))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
