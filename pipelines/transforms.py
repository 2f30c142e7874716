"""Training and evaluation preprocessing recipes of the papers, as tf.data maps.

A recipe turns an unbatched `(uint8 HxWxC image, int label)` dataset (what `pipelines.sources`
yields) into batches of float32 NHWC model inputs. Every random op is a `tf.random.stateless_*`
/ `tf.image.stateless_*` op whose seed comes with the element (a `tf.data.Dataset.random` stream
zipped in before the map), so the maps run in parallel, give the same batches for the same seed,
differ from epoch to epoch, and are the same under every `tf.distribute` strategy.

Recipes (train / eval), all sizes scaled by `image_size / 224` (`image_size / 32` for `cifar`):

- `alexnet` -- Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
  Neural Networks" (NIPS 2012), section 4.1: shorter side to 256, centre 256x256, random 224x224
  crop, horizontal flip, PCA colour jitter (sigma 0.1 along the eigenvectors of ImageNet's RGB
  covariance; the values of fb.resnet.torch, the paper publishes none). Eval: centre 224 of 256.
- `vgg` -- Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
  Recognition" (arXiv:1409.1556), section 3.1: shorter side to S ~ U[256, 512] (scale jitter),
  random 224 crop, flip, AlexNet's RGB colour shift. Eval: centre 224 of Q = 384 (= (256+512)/2).
- `inception` -- Szegedy et al., "Going Deeper with Convolutions" (arXiv:1409.4842), section 6, as
  TF-slim's `inception_preprocessing`: random-resized crop (area 0.08-1, aspect 3/4-4/3), flip,
  photometric distortion (brightness, saturation, hue, contrast in one of four random orders).
  Eval: centre crop of 87.5%.
- `cifar` -- He et al., "Deep Residual Learning" (arXiv:1512.03385), section 4.2: zero-pad 4,
  random 32 crop, flip. Eval: the image.
- `none` -- resize to image_size x image_size, nothing random.

Options: MixUp (Zhang et al., arXiv:1710.09412), CutMix (Yun et al., arXiv:1905.04899) and
RandAugment (Cubuk et al., arXiv:1909.13719) are Keras' own layers; their randomness is fed from
the same stateless per-element seeds. Normalisation is the model's (`normalize`, the registry's
`entry.preprocessing`), which is where the papers' mean subtraction happens. Multi-view
evaluation (centre crop, AlexNet 10-crop, VGG multi-scale) is `eval_views` here and
`pipelines.evaluation.predict` / `evaluate`.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Mapping

import keras
import tensorflow as tf

# The model's input normalisation and the eval geometry live in kerasnets (their one home, used
# by exported graphs too); re-exported here.
from kerasnets.zoo.preprocessing import (MODES, central_crop, center_crop_resize,  # noqa: F401
                                     normalize, resize_shorter, resize_square, to_channels)

from kerasnets.zoo.registry import get_entry
from kerasnets.weights.records import evaluation_transform

AUTOTUNE = tf.data.AUTOTUNE
RECIPES = ("alexnet", "vgg", "inception", "cifar", "none")
PROTOCOLS = ("center", "ten_crop", "multiscale")

# ImageNet RGB covariance, pixels in [0, 1] (fb.resnet.torch datasets/imagenet.lua); columns
# of the eigenvector matrix are the principal components.
PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009),
              (-0.5808, -0.0045, -0.8140),
              (-0.5836, -0.6948, 0.4203))


def scaled(size: float, image_size: int, reference: int = 224) -> int:
    """A paper's size at `reference` input, scaled to `image_size` (round half up)."""
    return int(math.floor(size * image_size / reference + 0.5))


def _check(name: str, value: str, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {', '.join(allowed)}.")
    return value


# ---------------------------------------------------------------------------------------------
# Pixels: channels, normalisation, geometry.

def _crop(image, top, left, size):
    return image[top:top + size, left:left + size]


# ---------------------------------------------------------------------------------------------
# Random ops, all stateless: `seed` is a shape-[2] integer tensor.

def _seeds(seed, n):
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=n))


def pca_lighting(image: tf.Tensor, seed, sigma: float = 0.1) -> tf.Tensor:
    """AlexNet's colour jitter: add sum_i alpha_i * lambda_i * p_i (alpha_i ~ N(0, sigma)) to
    every RGB pixel, for pixels in [0, 255]."""
    alpha = tf.random.stateless_normal([3], seed, stddev=sigma)
    shift = tf.linalg.matvec(tf.constant(PCA_EIGVEC), alpha * tf.constant(PCA_EIGVAL)) * 255.0
    return image + shift


def inception_color(image: tf.Tensor, seed) -> tf.Tensor:
    """TF-slim's `distort_color` (fast_mode=False) on [0, 255] pixels: brightness (32/255),
    saturation [0.5, 1.5], hue 0.2, contrast [0.5, 1.5], in one of slim's four orders."""
    s = _seeds(seed, 5)
    ops = {
        "b": lambda x: tf.image.stateless_random_brightness(x, 32.0 / 255.0, s[0]),
        "s": lambda x: tf.image.stateless_random_saturation(x, 0.5, 1.5, s[1]),
        "h": lambda x: tf.image.stateless_random_hue(x, 0.2, s[2]),
        "c": lambda x: tf.image.stateless_random_contrast(x, 0.5, 1.5, s[3]),
    }

    def order(keys):
        def run():
            x = image / 255.0
            for k in keys:
                x = ops[k](x)
            return tf.clip_by_value(x, 0.0, 1.0) * 255.0
        return run

    which = tf.random.stateless_uniform([], s[4], 0, 4, dtype=tf.int32)
    return tf.switch_case(which, [order(k) for k in ("bshc", "sbch", "chbs", "hscb")])


def random_resized_crop(image: tf.Tensor, size: int, seed, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3), attempts: int = 10) -> tf.Tensor:
    """Inception's crop: a box of random area fraction and aspect ratio (the whole image when
    `attempts` draws fail), resized to size x size."""
    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=ratio, area_range=scale,
        max_attempts=attempts, use_image_if_no_bounding_boxes=True)
    return resize_square(tf.slice(image, begin, extent), size)


def _flip(image, seed):
    return tf.image.stateless_random_flip_left_right(image, seed)


def _random_crop(image, size, seed):
    return tf.image.stateless_random_crop(image, [size, size, image.shape[-1]], seed)


def train_transform(image: tf.Tensor, recipe: str, image_size: int, seed) -> tf.Tensor:
    """One random training view of `image` (HxWxC, pixels 0..255) by `recipe`: float32
    image_size x image_size x C in [0, 255]. `seed` is a shape-[2] integer tensor. Colour jitter
    needs RGB and is left out for one channel."""
    _check("recipe", recipe, RECIPES)
    s, x = image_size, tf.cast(image, tf.float32)
    k = _seeds(seed, 4)
    if recipe == "none":
        return resize_square(x, s)
    if recipe == "cifar":
        pad = scaled(4, s, reference=32)
        x = tf.pad(resize_square(x, s), [[pad, pad], [pad, pad], [0, 0]])
        return _flip(_random_crop(x, s, k[0]), k[1])
    if recipe == "alexnet":  # shorter side 256, centre 256x256, random 224
        x = _random_crop(center_crop_resize(x, scaled(256, s), 1.0), s, k[0])
    elif recipe == "vgg":  # shorter side S ~ U{256..512}, random 224
        lo, hi = scaled(256, s), scaled(512, s)
        shorter = tf.random.stateless_uniform([], k[0], lo, hi + 1, dtype=tf.int32)
        x = _random_crop(resize_shorter(x, shorter), s, k[3])
    else:
        x = random_resized_crop(x, s, k[0])
    x = _flip(x, k[1])
    if x.shape[-1] == 3:
        if recipe == "inception":
            x = inception_color(x, k[2])
        else:
            x = tf.clip_by_value(pca_lighting(x, k[2]), 0.0, 255.0)
    return tf.ensure_shape(x, [s, s, image.shape[-1]])


# Eval geometry of each recipe, as the crop fraction of `center_crop_resize` (None: resize).
EVAL_CROP_FRACTION = {"alexnet": 224 / 256, "vgg": 224 / 384, "inception": 0.875, "cifar": None,
                      "none": None}


def eval_transform(image: tf.Tensor, recipe: str, image_size: int) -> tf.Tensor:
    """The single evaluation view of `recipe` (see EVAL_CROP_FRACTION): float32 in [0, 255]."""
    fraction = EVAL_CROP_FRACTION[_check("recipe", recipe, RECIPES)]
    if fraction is None:
        return resize_square(image, image_size)
    return center_crop_resize(image, image_size, fraction)


# ---------------------------------------------------------------------------------------------
# Multi-view evaluation protocols.

def default_scales(image_size: int) -> tuple[int, ...]:
    """VGG's test scales for a model trained with S in [256, 512]: Q in {256, 384, 512}."""
    return tuple(scaled(q, image_size) for q in (256, 384, 512))


def num_views(protocol: str, *, scales=None, flips: bool | None = None) -> int:
    _check("protocol", protocol, PROTOCOLS)
    flips = protocol != "center" if flips is None else flips
    base = {"center": 1, "ten_crop": 5}.get(protocol) or len(scales or default_scales(224))
    return base * (2 if flips else 1)


def eval_views(image: tf.Tensor, protocol: str, image_size: int, *, crop_fraction: float = 0.875,
               scales=None, flips: bool | None = None, interpolation: str = "bilinear"
               ) -> tf.Tensor:
    """The test views of one image, stacked: float32 [V, image_size, image_size, C] in [0, 255]
    (not normalised; `pipelines.evaluation.predict` normalises and averages the softmax).

    - `center`: `center_crop_resize(image, image_size, crop_fraction)`; 1 view (2 with flips).
    - `ten_crop` (AlexNet): shorter side to 256, centre 256x256, then the 224 crops at the top-left,
      top-right, bottom-left and bottom-right corners and the centre, then their mirror images.
    - `multiscale` (VGG, fixed-input form): for each Q in `scales` (default {256, 384, 512}),
      shorter side to Q, the centre image_size crop; then the mirror images. (Dense evaluation of
      the whole Q-scaled image for fully-convolutional models is in `predict`.)
    Sizes are at 224 and scale with `image_size`; `flips` defaults to True except for `center`.
    """
    _check("protocol", protocol, PROTOCOLS)
    s, x = image_size, tf.cast(image, tf.float32)
    if protocol == "center":
        views = [center_crop_resize(x, s, crop_fraction, interpolation)]
    elif protocol == "ten_crop":
        big = scaled(256, s)
        x, d, c = center_crop_resize(x, big, 1.0), big - s, (big - s) // 2
        views = [_crop(x, top, left, s) for top, left in ((0, 0), (0, d), (d, 0), (d, d), (c, c))]
    else:
        scales = tuple(scales or default_scales(s))
        if min(scales) < s:
            raise ValueError(f"multiscale test scales must be >= image_size {s}, got {scales}.")
        views = [central_crop(resize_shorter(x, q), s) for q in scales]
    if protocol != "center" if flips is None else flips:
        views += [tf.image.flip_left_right(v) for v in views]
    return tf.ensure_shape(tf.stack(views), [len(views), s, s, image.shape[-1]])


# ---------------------------------------------------------------------------------------------
# Keras' random layers, fed from stateless seeds.

class _StatelessSeeds(keras.random.SeedGenerator):
    """Takes the place of a Keras layer's SeedGenerator while a tf.data map is traced: its n-th
    draw is `stateless_fold_in(seed, n)`, a pure function of the element's seed, so MixUp, CutMix
    and RandAugment run in parallel maps, repeat exactly under a seed and never touch a
    variable (no state shared between elements, threads or replicas)."""

    def __init__(self, seed):  # deliberately no state variable (no super().__init__)
        self._seed, self._draws = seed, 0

    def next(self, ordered=True):
        self._draws += 1
        return tf.random.experimental.stateless_fold_in(self._seed, self._draws)


@contextlib.contextmanager
def _seeded(layer, seed):
    saved = layer.generator
    object.__setattr__(layer, "generator", _StatelessSeeds(seed))  # bypass Keras' tracking
    try:
        yield
    finally:
        object.__setattr__(layer, "generator", saved)


def _apply_seeded(layer, data, seed):
    with _seeded(layer, seed):
        return layer(data, training=True)


class SelectedRandAugment(keras.layers.RandAugment):
    """keras.layers.RandAugment, computing only the operations it picks.

    Keras 3.15's `transform_images` runs all eleven operations at each of the `num_ops` steps
    and keeps the picked one with `where`; this runs the picked one alone (`tf.switch_case`) with
    the same random transformations, so the output is the same (tested) for about a fifth of the
    CPU time (224 px: 23 instead of 102 ms per image). TensorFlow graphs only (tf.data maps),
    which is where the pipelines use it."""

    def transform_images(self, images, transformation, training=True):
        images = self.backend.cast(images, self.compute_dtype)
        if not training:
            return images

        def apply(key, value, x):
            out = getattr(self, key).transform_images(x, value)
            return tf.ensure_shape(self.backend.cast(out, self.compute_dtype), x.shape)

        items = list(transformation["transforms"].items())
        for i in range(self.num_ops):
            branches = [functools.partial(apply, key, value, images) for key, value in items]
            images = tf.switch_case(tf.cast(transformation["layer_idxes"][i], tf.int32), branches)
        return images


def _mixer(mixup: float, cutmix: float):
    """A batch map (images, one-hot labels, seed) -> mixed (images, labels): MixUp with
    Beta(mixup, mixup) weights, CutMix with Keras' `factor=cutmix`; with both, each batch uses
    one of them with probability 1/2 (as timm does)."""
    layers = []
    if mixup:
        layers.append(keras.layers.MixUp(alpha=mixup))
    if cutmix:
        layers.append(keras.layers.CutMix(factor=cutmix))

    def mix(images, labels, seed):
        k = _seeds(seed, 3)

        def run(i):
            out = _apply_seeded(layers[i], {"images": images, "labels": labels}, k[i])
            return out["images"], out["labels"]

        if len(layers) == 1:
            return run(0)
        return tf.cond(tf.random.stateless_uniform([], k[2]) < 0.5, lambda: run(0), lambda: run(1))

    return mix


# ---------------------------------------------------------------------------------------------
# Whole pipelines.

def _check_pairs(ds: tf.data.Dataset):
    spec = ds.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(f"Expected a dataset of (image, label) pairs, got elements {spec}.")
    if spec[0].shape.rank != 3:
        raise ValueError(f"Expected unbatched HxWxC images, got shape {spec[0].shape}; pass the "
                         "dataset before .batch() (pipelines.sources.load gives it so).")


def _cache(ds, cache):
    if not cache:
        return ds
    return ds.cache(cache if isinstance(cache, str) else "")


def make_dataset(ds: tf.data.Dataset, *, training: bool, batch_size: int, image_size: int,
                 recipe: str = "none", preprocessing: str = "torch", channels: int = 3,
                 seed: int | None = None, cache: bool | str = False,
                 drop_remainder: bool | None = None, mixup: float = 0.0, cutmix: float = 0.0,
                 randaugment: bool | Mapping[str, Any] = False, num_classes: int | None = None,
                 shuffle_buffer: int | None = None,
                 deterministic: bool | None = None) -> tf.data.Dataset:
    """Batched model inputs from an unbatched `(uint8 HxWxC image, int label)` dataset.

    Converts to `channels`, applies `recipe`'s training (random) or evaluation (centre crop)
    transform at `image_size`, RandAugment (training; True or RandAugment keyword arguments),
    normalises by `preprocessing`, batches, applies MixUp / CutMix (training; labels become
    one-hot float32 of `num_classes`), prefetches. Maps run with AUTOTUNE parallelism.

    Training shuffles with a buffer of `shuffle_buffer` decoded images (default 1024; 0: none)
    and drops the last partial batch unless `drop_remainder=False`. With a `seed`, batches are
    the same on every run (given TensorFlow's global seed, as for every tf.data seed) and differ
    from epoch to epoch; `deterministic` keeps element order (default: for eval, and for
    training with a seed).
    `cache` (True: memory, a string: a file prefix) stores the decoded images before the random
    ops when training, the finished eval views when not.
    """
    _check_pairs(ds)
    _check("recipe", recipe, RECIPES)
    _check("preprocessing mode", preprocessing, MODES)
    for name, value in (("batch_size", batch_size), ("image_size", image_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if mixup < 0 or cutmix < 0:
        raise ValueError(f"mixup and cutmix must be >= 0, got {mixup} and {cutmix}.")
    mixing = training and (mixup > 0 or cutmix > 0)
    if mixing and not num_classes:
        raise ValueError("mixup / cutmix mix one-hot labels: pass num_classes.")
    if training and randaugment and channels != 3:
        raise ValueError("RandAugment needs RGB images (channels=3).")
    if deterministic is None:  # eval keeps order; training does when seeded
        deterministic = not training or seed is not None
    options = tf.data.Options()
    options.deterministic = deterministic

    ds = ds.map(lambda image, label: (to_channels(image, channels), label),
                num_parallel_calls=AUTOTUNE)
    if not training:
        def eval_map(image, label):
            return normalize(eval_transform(image, recipe, image_size), preprocessing), label

        ds = _cache(ds.map(eval_map, num_parallel_calls=AUTOTUNE), cache)
        ds = ds.batch(batch_size, drop_remainder=bool(drop_remainder))
        return ds.prefetch(AUTOTUNE).with_options(options)

    ds = _cache(ds, cache)
    buffer = 1024 if shuffle_buffer is None else shuffle_buffer
    if buffer:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    # One random int64 per element, a new stream each epoch: the element's stateless seed.
    ds = tf.data.Dataset.zip(ds, tf.data.Dataset.random(seed=seed,
                                                         rerandomize_each_iteration=True))
    augment = None
    if randaugment:
        kwargs = dict(randaugment) if isinstance(randaugment, Mapping) else {}
        augment = SelectedRandAugment(**{"value_range": (0, 255), **kwargs})

    def train_map(example, r):
        image, label = example
        k = _seeds(tf.stack([r, tf.constant(0x5EED, tf.int64)]), 3)
        x = train_transform(image, recipe, image_size, k[0])
        if augment is not None:
            x = tf.ensure_shape(_apply_seeded(augment, x, k[1]), x.shape)
        return normalize(x, preprocessing), label, k[2]

    ds = ds.map(train_map, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True if drop_remainder is None else drop_remainder,
                  num_parallel_calls=AUTOTUNE)
    if mixing:
        mix = _mixer(mixup, cutmix)
        ds = ds.map(lambda x, y, s: mix(x, tf.one_hot(tf.cast(y, tf.int32), num_classes), s[0]),
                    num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(lambda x, y, s: (x, y))
    return ds.prefetch(AUTOTUNE).with_options(options)


def model_defaults(model_name: str, weights=None) -> dict[str, Any]:
    """image_size, channels and preprocessing of a registered model (its registry entry); with
    `weights` naming one of its checkpoints ("imagenet", "timm", ...), that checkpoint's
    preprocessing, crop_fraction and interpolation (its record's evaluation transform)."""
    entry = get_entry(model_name)
    out = {"image_size": entry.input_shape[0], "channels": entry.input_shape[2],
           "preprocessing": entry.preprocessing}
    if weights is not None:
        transform = evaluation_transform(entry.name, weights)
        out.update(preprocessing=transform.normalization,
                   crop_fraction=transform.crop_fraction, interpolation=transform.interpolation)
    return out


def for_model(ds: tf.data.Dataset, model_name: str, *, training: bool, batch_size: int,
              **overrides) -> tf.data.Dataset:
    """`make_dataset` with image_size, channels and preprocessing from `model_name`'s registry
    entry; keyword arguments override them (an image_size below the model's minimum raises)."""
    entry = get_entry(model_name)
    kwargs = {**model_defaults(model_name), **overrides}
    if kwargs["image_size"] < entry.min_size:
        raise ValueError(f"image_size={kwargs['image_size']} is below {entry.name}'s minimum "
                         f"input size {entry.min_size}.")
    return make_dataset(ds, training=training, batch_size=batch_size, **kwargs)
