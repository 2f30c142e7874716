"""Evaluation protocols: class probabilities averaged over test views, and accuracy from them.

Protocols (`pipelines.transforms.eval_views` makes the views):

- `center`: one centre crop (`center_crop_resize`, crop fraction 0.875 by default).
- `ten_crop`: AlexNet's (Krizhevsky et al., NIPS 2012, section 4.1): the four corner and the
  centre 224 crops of the 256x256 image and their mirror images; softmax averaged over the ten.
- `multiscale`: VGG's (Simonyan & Zisserman, arXiv:1409.1556, section 3.2): the image at several
  scales Q (shorter side; default {256, 384, 512}) and mirrored, softmax averaged. A model with a
  fixed input sees the centre image_size crop of each scale. A fully-convolutional model (input
  (None, None, C), pooled head) is evaluated *densely* (`dense=True`, its default): the whole
  centre Q x Q square of each scale goes through the model (square so that batches stack; the
  paper uses the whole rectangle), one pass over the data per scale.

All sizes are at 224 and scale with image_size. Input size, channels, normalisation, crop
fraction and interpolation come from the model's registry entry (`model_name`, or the model's own
name when it is registered) and, with `weights=` naming a checkpoint, from that checkpoint's
record (`kerasnets.weights.records.evaluation_transform`) unless given. Models ending in a softmax are averaged as they are; others are taken as logits.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pipelines import transforms as T


def _settings(model, model_name, image_size, channels, preprocessing, weights=None):
    defaults = {}
    try:
        defaults = T.model_defaults(model_name or model.name, weights)
    except ValueError:
        if model_name:
            raise
    _, height, _, model_channels = model.input_shape
    image_size = image_size or height or defaults.get("image_size")
    channels = channels or model_channels or defaults.get("channels", 3)
    preprocessing = preprocessing or defaults.get("preprocessing")
    if preprocessing is None:
        raise ValueError(f"Model {model.name!r} is not a registered model name: pass "
                         f"preprocessing= (one of {', '.join(T.MODES)}) or model_name=.")
    if image_size is None:
        raise ValueError(f"Model {model.name!r} takes any input size: pass image_size=.")
    return (image_size, channels, T._check("preprocessing mode", preprocessing, T.MODES),
            defaults)


def outputs_probabilities(model) -> bool:
    """Whether the model's last layer is a softmax (Dense(activation='softmax'), Activation or
    Softmax layer)."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None) == "softmax"


def _pairs(ds: tf.data.Dataset) -> tuple[tf.data.Dataset, bool]:
    spec = ds.element_spec
    has_labels = isinstance(spec, tuple)
    if has_labels and len(spec) != 2:
        raise ValueError(f"Expected images or (image, label) pairs, got elements {spec}.")
    image_spec = spec[0] if has_labels else spec
    if image_spec.shape.rank != 3:
        raise ValueError(f"Expected unbatched HxWxC images, got shape {image_spec.shape}.")
    if not has_labels:
        ds = ds.map(lambda image: (image, tf.constant(-1, tf.int64)))
    return ds, has_labels


def _run(model, ds, views, *, channels, preprocessing, batch_size, from_logits, verbose):
    """Mean class probabilities over each image's views, and the labels, as numpy arrays."""
    ds = ds.map(lambda image, label: (T.normalize(views(T.to_channels(image, channels)),
                                                  preprocessing), label),
                num_parallel_calls=T.AUTOTUNE)
    probs, labels = [], []
    bar = keras.utils.Progbar(None, unit_name="batch") if verbose else None
    for i, (x, y) in enumerate(ds.batch(batch_size).prefetch(T.AUTOTUNE)):
        b, v = x.shape[0], x.shape[1]
        out = model.predict_on_batch(tf.reshape(x, (b * v,) + tuple(x.shape[2:])))
        out = tf.reshape(tf.cast(out, tf.float32), (b, v, -1))
        if from_logits:
            out = tf.nn.softmax(out, axis=-1)
        probs.append(tf.reduce_mean(out, axis=1).numpy())
        labels.append(y.numpy())
        if bar:
            bar.update(i + 1)
    if not probs:
        raise ValueError("The dataset is empty: no images to evaluate.")
    return np.concatenate(probs), np.concatenate(labels)


def _predict(model, ds, *, protocol="center", batch_size=32, model_name=None, image_size=None,
             channels=None, preprocessing=None, crop_fraction=..., interpolation=None,
             weights=None, scales=None, flips=None, dense=None, from_logits=None, verbose=0):
    T._check("protocol", protocol, T.PROTOCOLS)
    ds, has_labels = _pairs(ds)
    fully_convolutional = model.input_shape[1] is None
    dense = protocol == "multiscale" and fully_convolutional if dense is None else dense
    if dense and protocol != "multiscale":
        raise ValueError(f"dense evaluation is the multiscale protocol's, not {protocol!r}'s.")
    if dense and not fully_convolutional:
        raise ValueError(f"dense evaluation needs a model with input (None, None, C); "
                         f"{model.name!r} takes {model.input_shape[1:]}.")
    image_size, channels, preprocessing, defaults = _settings(
        model, model_name, image_size, channels, preprocessing, weights)
    if crop_fraction is ...:  # not given: the checkpoint's; None: a square resize (a model card's)
        crop_fraction = defaults.get("crop_fraction", 0.875)
    interpolation = interpolation or defaults.get("interpolation", "bilinear")
    from_logits = not outputs_probabilities(model) if from_logits is None else from_logits
    run = dict(channels=channels, preprocessing=preprocessing, batch_size=batch_size,
               from_logits=from_logits, verbose=verbose)
    if not dense:
        probs, labels = _run(model, ds, lambda x: T.eval_views(
            x, protocol, image_size, crop_fraction=crop_fraction, interpolation=interpolation,
            scales=scales, flips=flips),
            **run)
    else:  # one pass per scale, each view the whole centre Q x Q square
        flips = True if flips is None else flips
        per_scale = [_run(model, ds, lambda x, q=q: T.eval_views(
            x, "center", q, crop_fraction=1.0, flips=flips), **run)
            for q in tuple(scales or T.default_scales(image_size))]
        probs, labels = np.mean([p for p, _ in per_scale], axis=0), per_scale[0][1]
    return probs, (labels if has_labels else None)


def predict(model, ds: tf.data.Dataset, *, protocol: str = "center", batch_size: int = 32,
            **kwargs) -> np.ndarray:
    """Class probabilities [N, classes] of each image of an unbatched dataset (images or
    (image, label) pairs, uint8 HxWxC), averaged over the protocol's views.

    Keyword arguments: model_name, image_size, channels, preprocessing, crop_fraction (center;
    None: the square resize of recipe `none`),
    interpolation (default: the evaluation transform of the checkpoint `weights` names, e.g.
    "imagenet", "timm"; without one, the registry entry's preprocessing, crop 0.875, bilinear),
    scales, flips (see `eval_views`), dense (multiscale on a
    fully-convolutional model; default True for such models), from_logits (default: True unless
    the model ends in a softmax), verbose."""
    return _predict(model, ds, protocol=protocol, batch_size=batch_size, **kwargs)[0]


def evaluate(model, ds: tf.data.Dataset, protocol: str = "center", *, batch_size: int = 32,
             top_k: int = 5, confusion: bool = False, **kwargs) -> dict:
    """Accuracy of `model` on an unbatched (image, label) dataset under `protocol`.

    Returns {"top1", f"top{top_k}", "n", "nll" (mean negative log of the averaged probability of
    the true class), "protocol", "views"} and, with `confusion=True`, "confusion": an int64
    [classes, classes] matrix, rows true and columns predicted classes. Other keyword arguments
    are `predict`'s."""
    probs, labels = _predict(model, ds, protocol=protocol, batch_size=batch_size, **kwargs)
    if labels is None:
        raise ValueError("evaluate needs (image, label) pairs; the dataset has images only.")
    n, classes = probs.shape
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"Labels must be in 0..{classes - 1} (the model's classes), got "
                         f"{labels.min()}..{labels.max()}.")
    ranked = np.argsort(-probs, axis=1, kind="stable")[:, :min(top_k, classes)]
    result = {
        "top1": float(np.mean(ranked[:, 0] == labels)),
        f"top{top_k}": float(np.mean(np.any(ranked == labels[:, None], axis=1))),
        "n": int(n),
        "nll": float(-np.mean(np.log(np.clip(probs[np.arange(n), labels], 1e-12, None)))),
        "protocol": protocol,
        "views": T.num_views(protocol, scales=kwargs.get("scales"), flips=kwargs.get("flips")),
    }
    if confusion:
        result["confusion"] = np.bincount(labels * classes + ranked[:, 0],
                                          minlength=classes * classes).reshape(classes, classes)
    return result
