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

import math

from kerasnets.zoo.registry import PREPROCESSING, get_entry
from kerasnets.weights.records import evaluation_transform

MODES = tuple(PREPROCESSING)

# Single-channel stand-ins for the three-channel statistics (their channel means).
_GRAY_TORCH = (0.449, 0.226)
_GRAY_CAFFE = 114.799
_LITE = (127.0, 128.0)  # mean, std: tensorflow/tpu efficientnet_lite_builder MEAN_RGB, STDDEV_RGB
# keras.applications.imagenet_utils' constants (their inverse is `denormalize`).
_TORCH_RGB = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))    # mean, std of [0, 1] pixels
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


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


def denormalize(x, mode: str):
    """The inverse of `normalize`: model input in `mode` (any shape ending in 1 or 3 channels)
    -> float pixels in [0, 255], RGB or one channel, as a float32 tensor."""
    import tensorflow as tf

    check_mode(mode)
    x = tf.cast(x, tf.float32)
    if mode == "raw":
        return x
    if mode == "lite":
        return x * _LITE[1] + _LITE[0]
    if mode == "tf":
        return (x + 1.0) * 127.5
    if x.shape[-1] == 3:
        if mode == "caffe":    # BGR minus the mean pixel -> RGB
            return tf.reverse(x + tf.constant(_CAFFE_BGR_MEAN), axis=[-1])
        return (x * tf.constant(_TORCH_RGB[1]) + tf.constant(_TORCH_RGB[0])) * 255.0
    if mode == "caffe":
        return x + _GRAY_CAFFE
    return (x * _GRAY_TORCH[1] + _GRAY_TORCH[0]) * 255.0


def renormalize(x, source: str, target: str, channels: int | None = None):
    """Model input normalised by mode `source` -> the same pixels normalised by `target`, with
    `channels` channels (1 <-> 3 as `to_channels`: gray repeated, RGB to BT.601 luma); what a
    teacher needs when the pipeline normalises for its student. TF ops, batched or not."""
    import tensorflow as tf

    x = denormalize(x, source)
    have = x.shape[-1]
    if channels is not None and channels != have:
        if channels == 3 and have == 1:
            x = tf.repeat(x, 3, axis=-1)
        elif channels == 1 and have == 3:
            x = tf.tensordot(x, tf.constant(_GRAY_WEIGHTS), [[x.shape.rank - 1], [0]])[..., None]
        else:
            raise ValueError(f"renormalize: cannot turn {have} channels into {channels}.")
    return normalize(x, target)


def preprocess_input(name: str, images, weights="imagenet"):
    """`images` (NHWC or one HWC image; uint8, or floats in [0, 255]; numpy or a tensor) ->
    the input registry model `name` expects, float32: the normalisation of the checkpoint that
    `weights` names (its record's transform; "imagenet": the default checkpoint), else the
    entry's `preprocessing` mode. A numpy array comes back as numpy, a tensor as a tensor."""
    import keras
    import numpy as np
    import tensorflow as tf

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

    out = normalize(images, evaluation_transform(entry.name, weights).normalization)
    return out.numpy() if is_numpy else out


# ---------------------------------------------------------------------------------------------
# Geometry of evaluation and serving (pipelines.transforms re-exports these; exported graphs
# decode image bytes with them).

_GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale (ITU-R BT.601)


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """Grayscale <-> RGB: gray (and gray + alpha) is repeated to 3 channels; RGB (and RGBA)
    becomes BT.601 luma for 1. Keeps the dtype (uint8 stays uint8)."""
    import tensorflow as tf

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 3:
        raise ValueError(f"Expected one HxWxC image, got shape {image.shape}; pipelines take "
                         "unbatched datasets.")

    def from_gray(x):
        return tf.tile(x[..., :1], [1, 1, channels])

    def from_rgb(x):
        if channels == 3:
            return x[..., :3]
        y = tf.tensordot(tf.cast(x[..., :3], tf.float32), tf.constant(_GRAY_WEIGHTS), [[2], [0]])
        y = tf.expand_dims(y, -1)
        return tf.cast(tf.round(y), x.dtype) if x.dtype.is_integer else tf.cast(y, x.dtype)

    c = image.shape[-1]
    if c is None:  # e.g. decode_image(channels=0): decide at run time
        c = tf.shape(image)[-1]
        rgb = tf.pad(image, [[0, 0], [0, 0], [0, tf.maximum(0, 3 - c)]])
        out = tf.cond(c <= 2, lambda: from_gray(image),
                      lambda: from_rgb(tf.ensure_shape(rgb, [None, None, None])))
    else:
        out = from_gray(image) if c <= 2 else from_rgb(image)
    return tf.ensure_shape(out, [None, None, channels])


def resize_shorter(image: tf.Tensor, size, interpolation: str = "bilinear") -> tf.Tensor:
    """Isotropic resize so that the shorter side is `size` (int or scalar tensor); float32 out,
    antialiased when shrinking; `interpolation` "bilinear", "bicubic" or "nearest"."""
    import tensorflow as tf

    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    size_f = tf.cast(size, tf.float32)
    scale = size_f / tf.minimum(h, w)
    new = tf.maximum(size_f, tf.round(tf.stack([h, w]) * scale))
    return tf.image.resize(tf.cast(image, tf.float32), tf.cast(new, tf.int32),
                           method=interpolation, antialias=True)


def _crop(image, top, left, size):
    return image[top:top + size, left:left + size]


def central_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The centre size x size window (the image must be at least that large)."""
    import tensorflow as tf

    shape = tf.shape(image)
    out = _crop(image, (shape[0] - size) // 2, (shape[1] - size) // 2, size)
    return tf.ensure_shape(out, [size, size, image.shape[-1]])


def resize_square(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resize to size x size regardless of aspect ratio (the `none` and `cifar` geometry)."""
    import tensorflow as tf

    out = tf.image.resize(tf.cast(image, tf.float32), [size, size], antialias=True)
    return tf.ensure_shape(out, [size, size, image.shape[-1]])


def center_crop_resize(image: tf.Tensor, size: int, crop_fraction: float | None = 0.875,
                       interpolation: str = "bilinear") -> tf.Tensor:
    """The eval geometry: shorter side to round(size / crop_fraction), centre size x size crop
    (a checkpoint's own: `kerasnets.weights.records.evaluation_transform`);
    `crop_fraction=None`: `resize_square` (recipe `none`'s eval view)."""
    if crop_fraction is None:
        return resize_square(image, size)
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}.")
    return central_crop(resize_shorter(image, int(math.floor(size / crop_fraction + 0.5)),
                                       interpolation), size)
