"""The serving graph an export writes: probabilities (softmax added to logits), uint8 pixels
normalised inside, encoded image bytes decoded as the evaluation pipeline does, named top-k
outputs, and grouped convolutions traced on their split route."""

from __future__ import annotations

import contextlib

import keras


def ends_in_softmax(model) -> bool:
    """Whether the model's last layer applies softmax (else its outputs are taken as logits)."""
    last = model.layers[-1]
    return (isinstance(last, keras.layers.Softmax)
            or getattr(getattr(last, "activation", None), "__name__", "") == "softmax")


@contextlib.contextmanager
def split_grouped_convolutions(model):
    """Trace every `GroupedConv2D` of `model` (nested models included) on its split route, then
    restore each layer's `implementation`."""
    from kerasnets.layers import GroupedConv2D

    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, GroupedConv2D)]
    saved = [layer.implementation for layer in layers]
    try:
        for layer in layers:
            layer.implementation = "split"
        yield layers
    finally:
        for layer, implementation in zip(layers, saved):
            layer.implementation = implementation


class _Normalize(keras.layers.Layer):
    """uint8 / float pixels in [0, 255] -> model input, by the registry's preprocessing mode
    (`kerasnets.zoo.preprocessing.normalize`). Used only inside exported graphs, never saved."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, pixels):
        from kerasnets.zoo.preprocessing import normalize

        return normalize(keras.ops.cast(pixels, "float32"), self.mode)


def serving_model(model, input_dtype: str = "float32", preprocessing: str | None = None):
    """A functional wrapper: `images` (model-ready float32, or uint8 pixels normalised inside)
    -> probabilities (softmax added when the model outputs logits)."""
    shape = tuple(model.input_shape[1:])
    inputs = keras.Input(shape, dtype=input_dtype, name="images")
    x = _Normalize(preprocessing, name="normalize")(inputs) if input_dtype == "uint8" else inputs
    y = model(x, training=False)
    if not ends_in_softmax(model):
        y = keras.layers.Softmax(name="probabilities")(y)
    return keras.Model(inputs, y, name=f"{model.name}_serving")


def decode_images(image_bytes, size: int, channels: int, preprocessing: str,
                  crop_fraction: float | None = 0.875):
    """Encoded images (string tensor [N]) -> model input [N, size, size, channels], exactly as
    the evaluation pipeline: decode as RGB, convert to `channels`, centre crop + resize
    (`center_crop_resize`; `crop_fraction=None`: a square resize), normalise (`normalize`)."""
    import tensorflow as tf

    from kerasnets.zoo.preprocessing import normalize
    from kerasnets.zoo.preprocessing import center_crop_resize, to_channels

    def one(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image = center_crop_resize(to_channels(image, channels), size, crop_fraction)
        return tf.cast(image, tf.float32)

    images = tf.map_fn(one, image_bytes,
                       fn_output_signature=tf.TensorSpec((size, size, channels), tf.float32))
    return normalize(images, preprocessing)


def _named_outputs(probabilities, top_k: int, class_names):
    import tensorflow as tf

    top = tf.math.top_k(probabilities, k=top_k)
    out = {"probabilities": probabilities, "top_k_classes": top.indices,
           "top_k_probabilities": top.values}
    if class_names:
        out["top_k_class_names"] = tf.gather(tf.constant(list(class_names)), top.indices)
    return out
