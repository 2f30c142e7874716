"""Keras-format weights: local files and keras.applications' published files.

Supported files:
- `.weights.h5` (Keras 3 `save_weights`),
- `.keras` (a whole saved model; its weights are copied layer by layer in order),
- `.h5` (the legacy format of keras.applications' published files: weights stored per layer in
  topological order). kerasnets models that have a keras.applications equivalent hold the same
  weights in the same order, so those files load directly.

Every path checks that each layer's weights have the expected shapes first and names the first
mismatching layer and the file; nothing is assigned unless the whole file matches.

`weights="imagenet"` (any builder of a model whose registry entry has a `keras_equivalent`)
resolves, through `imagenet_weights`, to Keras' published `.h5` file for that model: the file
name, URL and md5 of `keras/src/applications/*.py` (Keras 3.15; `PUBLISHED`), fetched with
`keras.utils.get_file` into Keras' cache (`$KERAS_HOME/models`, default `~/.keras/models`) and
loaded through the legacy `.h5` path above. A cached file needs no network; otherwise the host is
probed first (`kerasnets.utils.network_available`, a few seconds at most), so an offline
machine fails fast with a message saying how to pass the file by hand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re

import numpy as np


class WeightsMismatchError(ValueError):
    """The file's weights do not fit the model."""


class WeightsUnavailableError(RuntimeError):
    """A published weights file is neither cached nor downloadable from here."""


_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclasses.dataclass(frozen=True)
class Published:
    """keras.applications' published ImageNet weights of one model: file names (`{size}` stands
    for the input size, for models published at several), URL folder and md5 hashes (None where
    Keras publishes none)."""

    top: str
    notop: str
    base: str
    top_md5: str | None = None
    notop_md5: str | None = None
    sizes: tuple[int, ...] = ()

    def file(self, include_top: bool, input_size: int | None = None) -> tuple[str, str, str | None]:
        """`(file name, URL, md5)`. Like Keras, a size it has no file for uses the 224 file."""
        size = input_size if input_size in self.sizes else 224
        name = (self.top if include_top else self.notop).format(size=size)
        return name, self.base + name, self.top_md5 if include_top else self.notop_md5


def _tf_kernels(stem: str, base: str, top_md5: str, notop_md5: str) -> Published:
    return Published(f"{stem}_weights_tf_dim_ordering_tf_kernels.h5",
                     f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5", base, top_md5,
                     notop_md5)


def _efficientnet(name: str, base: str, top_md5: str, notop_md5: str) -> Published:
    return Published(f"{name}.h5", f"{name}_notop.h5", base, top_md5, notop_md5)


def _mobilenet_v3(kind: str, top_md5: str, notop_md5: str) -> Published:
    stem = f"weights_mobilenet_v3_{kind}_224_1.0_float"
    return Published(f"{stem}.h5", f"{stem}_no_top_v2.h5", _KA + "mobilenet_v3/", top_md5,
                     notop_md5)


# keras.applications name -> its published file (keras/src/applications/*.py, Keras 3.15; a test
# checks this table against Keras' own constants).
PUBLISHED: dict[str, Published] = {
    "VGG16": _tf_kernels("vgg16", _KA + "vgg16/", "64373286793e3c8b2b4e3219cbf3544b",
                         "6d6bbae143d832006294945121d1f1fc"),
    "VGG19": _tf_kernels("vgg19", _KA + "vgg19/", "cbe5617147190e668d6c5d5026f83318",
                         "253f8cb515780f3b799900260a226db6"),
    "ResNet50": _tf_kernels("resnet50", _KA + "resnet/", "2cb95161c43110f7111970584f804107",
                            "4d473c1dd8becc155b73f8504c6f6626"),
    "ResNet101": _tf_kernels("resnet101", _KA + "resnet/", "f1aeb4b969a6efcfb50fad2f0c20cfc5",
                             "88cf7a10940856eca736dc7b7e228a21"),
    "ResNet152": _tf_kernels("resnet152", _KA + "resnet/", "100835be76be38e30d865e96f2aaae62",
                             "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "ResNet50V2": _tf_kernels("resnet50v2", _KA + "resnet/", "3ef43a0b657b3be2300d5770ece849e0",
                              "fac2f116257151a9d068a22e544a4917"),
    "ResNet101V2": _tf_kernels("resnet101v2", _KA + "resnet/",
                               "6343647c601c52e1368623803854d971",
                               "c0ed64b8031c3730f411d2eb4eea35b5"),
    "ResNet152V2": _tf_kernels("resnet152v2", _KA + "resnet/",
                               "a49b44d1979771252814e80f8ec446f9",
                               "ed17cf2e0169df9d443503ef94b23b33"),
    "DenseNet121": _tf_kernels("densenet121", _KA + "densenet/",
                               "9d60b8095a5708f2dcce2bca79d332c7",
                               "30ee3e1110167f948a6b9946edeeb738"),
    "DenseNet169": _tf_kernels("densenet169", _KA + "densenet/",
                               "d699b8f76981ab1b30698df4c175e90b",
                               "b8c4d4c20dd625c148057b9ff1c1176b"),
    "DenseNet201": _tf_kernels("densenet201", _KA + "densenet/",
                               "1ceb130c1ea1b78c3bf6114dbdfd8807",
                               "c13680b51ded0fb44dff2d8f86ac8bb1"),
    "InceptionV3": _tf_kernels("inception_v3", _KA + "inception_v3/",
                               "9a0d58056eeedaa3f26cb7ebd46da564",
                               "bcbd6486424b2319ff4ef7d526e38f63"),
    "InceptionResNetV2": _tf_kernels("inception_resnet_v2", _KA + "inception_resnet_v2/",
                                     "e693bd0210a403b3192acc6073ad2e96",
                                     "d19885ff4a710c122648d3b5c3b684e4"),
    "Xception": _tf_kernels("xception", _KA + "xception/", "0a58e3b7378bc2990ea3b43d5981f1f6",
                            "b0042744bf5b25fce3cb969f33bebb97"),
    "MobileNet": Published("mobilenet_1_0_{size}_tf.h5", "mobilenet_1_0_{size}_tf_no_top.h5",
                           _KA + "mobilenet/", sizes=(128, 160, 192, 224)),
    "MobileNetV2": Published("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}.h5",
                             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
                             _KA + "mobilenet_v2/", sizes=(96, 128, 160, 192, 224)),
    "MobileNetV3Large": _mobilenet_v3("large", "59e551e166be033d707958cf9e29a6a7",
                                      "07fb09a5933dd0c8eaafa16978110389"),
    "MobileNetV3Small": _mobilenet_v3("small", "8768d4c2e7dee89b9d02b2d03d65d862",
                                      "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "NASNetMobile": Published("NASNet-mobile.h5", "NASNet-mobile-no-top.h5", _KA + "nasnet/",
                              "020fb642bf7360b370c678b08e0adf61",
                              "1ed92395b5b598bdda52abe5c0dbfd63"),
    "NASNetLarge": Published("NASNet-large.h5", "NASNet-large-no-top.h5", _KA + "nasnet/",
                             "11577c9a518f0070763c2b964a382f17",
                             "d81d89dc07e6e56530c4e77faddd61b5"),
}
_EFFICIENTNET_MD5 = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
_EFFICIENTNET_V2_MD5 = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
PUBLISHED.update({f"EfficientNet{k.upper()}": _efficientnet(
    f"efficientnet{k}", "https://storage.googleapis.com/keras-applications/", *md5)
    for k, md5 in _EFFICIENTNET_MD5.items()})
PUBLISHED.update({f"EfficientNetV2{k.upper()}": _efficientnet(
    f"efficientnetv2-{k}", _KA + "efficientnet_v2/", *md5)
    for k, md5 in _EFFICIENTNET_V2_MD5.items()})


def sha256sum(path, chunk=1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def _mismatch(path, layer_name, detail):
    return WeightsMismatchError(f"Weights file {os.fspath(path)!r} does not match the model: "
                                f"first mismatch at layer {layer_name!r}: {detail}.")


def _check_and_assign(model, path, source: list[tuple[str, list[np.ndarray]]]):
    """Pairwise (in topological order) check of `source` against the model, then assign."""
    targets = _weighted_layers(model)
    for i, layer in enumerate(targets):
        if i >= len(source):
            raise _mismatch(path, layer.name, f"the file holds only {len(source)} layers with "
                                              f"weights, the model {len(targets)}")
        src_name, arrays = source[i]
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if want != got:
            raise _mismatch(path, layer.name, f"expected shapes {want}, the file's layer "
                                              f"{src_name!r} has {got}")
    if len(source) != len(targets):
        raise _mismatch(path, source[len(targets)][0],
                        f"the file holds {len(source)} layers with weights, the model "
                        f"{len(targets)}")
    for layer, (_, arrays) in zip(targets, source):
        layer.set_weights(arrays)


def _read_legacy_h5(path):
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise WeightsMismatchError(f"{os.fspath(path)!r} is not a Keras .h5 weights file "
                                       f"(no 'layer_names' attribute).")
        out = []
        for raw in group.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            g = group[name]
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in g.attrs.get("weight_names", [])]
            if names:
                out.append((name, [np.asarray(g[n]) for n in names]))
        return out


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _check_keras3_weights(model, path):
    """Check a Keras 3 `.weights.h5` file layer by layer before Keras loads it."""
    import h5py

    with h5py.File(path, "r") as f:
        if "layers" not in f:
            raise WeightsMismatchError(f"{os.fspath(path)!r} is not a Keras 3 .weights.h5 file "
                                       f"(no 'layers' group).")
        counters: dict[str, int] = {}
        for layer in model.layers:
            base = _snake(type(layer).__name__)
            n = counters.get(base, 0)
            counters[base] = n + 1
            key = base if n == 0 else f"{base}_{n}"
            if not layer.weights:
                continue
            if key not in f["layers"]:
                raise _mismatch(path, layer.name, f"the file has no entry {key!r}")
            shapes = []
            f["layers"][key].visititems(
                lambda _, obj: shapes.append(tuple(obj.shape)) if isinstance(obj, h5py.Dataset)
                else None)
            want = sorted(tuple(w.shape) for w in layer.weights)
            if sorted(shapes) != want:
                raise _mismatch(path, layer.name,
                                f"expected shapes {want}, the file has {sorted(shapes)}")


def _keras_cache_dir() -> str:
    try:  # where keras.utils.get_file caches: $KERAS_HOME, else ~/.keras (Keras' own resolution)
        from keras.src.backend.config import keras_home

        return keras_home()
    except ImportError:  # pragma: no cover - a Keras without the private accessor
        return os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))


def imagenet_weights(model_name: str, *, include_top: bool = True, classes: int | None = None,
                     input_size: int | None = None) -> str:
    """Local path of Keras' published ImageNet weights for the registry model `model_name`,
    fetched with `keras.utils.get_file` (md5-checked) unless cached.

    Raises ValueError for a model without a keras.applications equivalent or a top with other
    than 1000 classes, and WeightsUnavailableError within seconds when the file is not cached
    and its host cannot be reached; both messages say how to pass a local file instead.
    """
    import keras

    from kerasnets import registry

    entry = registry.get_entry(model_name)
    local = ("download the file on a machine with network and pass its local path "
             "(weights='/path/to/file.h5'; tools: --weights /path/to/file.h5)")
    published = PUBLISHED.get(entry.keras_equivalent or "")
    if published is None:
        have = sorted(n for n in registry.list_models() if registry.get_entry(n).keras_equivalent)
        raise ValueError(f"weights='imagenet': {entry.name} has no published keras.applications "
                         f"weights (those exist for {', '.join(have)}); {local}.")
    if include_top and classes not in (None, 1000):
        raise ValueError(f"weights='imagenet' with include_top=True needs classes=1000 (got "
                         f"classes={classes}); build with include_top=False (or "
                         f"kerasnets.transfer.build_classifier) for a new head.")
    fname, url, md5 = published.file(include_top, input_size)
    cached = os.path.join(_keras_cache_dir(), "models", fname)
    if not os.path.exists(cached):
        from kerasnets import utils

        if not utils.network_available():
            raise WeightsUnavailableError(
                f"weights='imagenet' for {entry.name} needs keras.applications' file {fname} "
                f"({url}), which is not in Keras' cache ({cached}) and cannot be downloaded: no "
                f"network. Download it elsewhere (e.g. `curl -O {url}`) and either pass its "
                f"local path (weights='/path/to/{fname}'; tools: --weights /path/to/{fname}) or "
                f"copy it to {cached}.")
    try:
        return keras.utils.get_file(fname, url, cache_subdir="models", file_hash=md5)
    except Exception as e:  # noqa: BLE001 - urllib, hash and file errors alike
        raise WeightsUnavailableError(f"Could not fetch {url} for weights='imagenet' of "
                                      f"{entry.name} ({type(e).__name__}: {e}); {local}.") from e


def load_weights(model, path, *, sha256: str | None = None):
    """Load weights from a local file into `model` (see the module docstring for formats).

    `path="imagenet"` loads Keras' published weights when `model.name` is a registry model with
    a keras.applications equivalent (`imagenet_weights`). `sha256` (optional) is checked
    before anything is read. Raises FileNotFoundError for a missing file, ValueError for a bad
    hash or unknown format, WeightsMismatchError (a ValueError) naming the first mismatching
    layer.
    """
    path = os.fspath(path)
    if path == "imagenet":
        include_top = any(layer.name == "predictions" for layer in model.layers)
        path = imagenet_weights(model.name, include_top=include_top,
                                classes=model.output_shape[-1] if include_top else None,
                                input_size=model.input_shape[1])
    if not os.path.exists(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}.")
    if sha256 is not None:
        actual = sha256sum(path)
        if not actual.startswith(sha256.lower()):
            raise ValueError(f"Weights file {path!r} has sha256 {actual}, expected {sha256}.")
    if path.endswith(".weights.h5"):
        _check_keras3_weights(model, path)
        model.load_weights(path)
    elif path.endswith(".keras"):
        import keras

        from kerasnets import load_model

        source = load_model(path, compile=False)
        _check_and_assign(model, path, [(layer.name, layer.get_weights())
                                        for layer in _weighted_layers(source)])
    elif path.endswith((".h5", ".hdf5")):
        _check_and_assign(model, path, _read_legacy_h5(path))
    else:
        raise ValueError(f"Unknown weights format for {path!r}: expected a .weights.h5, .keras "
                         f"or .h5 file.")
    return model
