"""Input normalisation: the one home of the preprocessing modes (`registry.PREPROCESSING`).

    x = kerasnets.preprocess_input("efficientnet_lite0", images)   # uint8 / float 0..255, NHWC

- `normalize(images, mode)`: float pixels in [0, 255] -> model input, in TF ops (usable inside
  tf.data maps and exported graphs). `pipelines.transforms.normalize` is this function.
- `preprocess_input(name, images)`: the same for a registry model, by its entry's
  `preprocessing`; numpy in, numpy out (tensors stay tensors), like keras.applications'.

Three channels: `caffe` (RGB -> BGR minus the mean pixel), `tf` ([-1, 1]) and `torch` ([0, 1]
minus mean over std) are keras.applications' own `preprocess_input`; `lite` is
(x - 127) / 128 (EfficientNet-Lite); `raw` returns the pixels (the model rescales inside). One
channel uses the channel means of those statistics.
"""

from __future__ import annotations

from kerasnets.registry import PREPROCESSING

MODES = tuple(PREPROCESSING)

# Single-channel stand-ins for the three-channel statistics (their channel means).
_GRAY_TORCH = (0.449, 0.226)
_GRAY_CAFFE = 114.799
_LITE = (127.0, 128.0)  # mean, std: tensorflow/tpu efficientnet_lite_builder MEAN_RGB, STDDEV_RGB


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"Unknown preprocessing mode {mode!r}; expected one of "
                         f"{', '.join(MODES)}.")
    return mode


def normalize(images, mode: str):
    """Float pixels in [0, 255] (any shape ending in channels) -> model input, as a float32
    tensor, by a registry entry's `.preprocessing` mode (see the module docstring)."""
    import tensorflow as tf

    check_mode(mode)
    x = tf.cast(images, tf.float32)
    if mode == "raw":
        return x
    if mode == "lite":
        return (x - _LITE[0]) / _LITE[1]
    if x.shape[-1] == 3:
        from keras.applications import imagenet_utils

        return imagenet_utils.preprocess_input(x, data_format="channels_last", mode=mode)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "caffe":
        return x - _GRAY_CAFFE
    return (x / 255.0 - _GRAY_TORCH[0]) / _GRAY_TORCH[1]


def preprocess_input(name: str, images):
    """`images` (NHWC or one HWC image; uint8, or floats in [0, 255]; numpy or a tensor) ->
    the input registry model `name` expects (its entry's `preprocessing` mode), float32. A numpy
    array comes back as numpy, a tensor as a tensor."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasnets.registry import get_entry

    entry = get_entry(name)
    is_numpy = not (tf.is_tensor(images) or keras.backend.is_keras_tensor(images))
    if is_numpy:
        images = np.asarray(images)
    shape, dtype = tuple(images.shape), str(getattr(images.dtype, "name", images.dtype))
    if len(shape) not in (3, 4):
        raise ValueError(f"preprocess_input({name!r}): expected NHWC images or one HWC image, "
                         f"got shape {shape}.")
    channels = entry.input_shape[2]
    if shape[-1] is not None and shape[-1] != channels:
        raise ValueError(f"preprocess_input({name!r}): {entry.name} takes {channels} channel(s) "
                         f"(channels last), got shape {shape}.")
    if not (dtype.startswith(("uint", "int", "float", "bfloat"))):
        raise ValueError(f"preprocess_input({name!r}): expected uint8 or float pixels in "
                         f"[0, 255], got dtype {dtype}.")
    if is_numpy and images.size and dtype.startswith("float"):
        low, high = float(np.nanmin(images)), float(np.nanmax(images))
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
            raise ValueError(f"preprocess_input({name!r}): float pixels must be in [0, 255], "
                             f"got values in [{low:g}, {high:g}].")
    out = normalize(images, entry.preprocessing)
    return out.numpy() if is_numpy else out
