"""Classify images with an ImageNet model, or a model of your own classes (a `.keras` file
with its model card, e.g. tools.finetune's `final.keras`): top-k labels with probabilities,
optionally plotted.

    python -m tools.predict --model efficientnet_lite0 cat.jpg coffee.png
    python -m tools.predict --model_file runs/finetune_efficientnet_lite0/final.keras photo.jpg
    python -m tools.predict --model resnet50 --weights resnet50.weights.h5 --top 3 \\
        --plot predictions/ photos/*.jpg

Each image is decoded (JPEG, PNG, GIF, BMP), its shorter side resized and the centre size x size
cropped, then normalised, all as the checkpoint's record says (its evaluation transform:
`kerasnets.weights.records.evaluation_transform`; a local file: the model's input size, resize
size / 0.875, bilinear, the registry's preprocessing).
Labels are the ImageNet class index shipped with kerasnets (`kerasnets.decode_predictions`).
With `--model_file`, size, crop, normalisation and class names come from the file's model card
(`kerasnets.deployment.model_card`).
`--plot DIR` writes `DIR/<image name>.png`: the crop the model saw beside its top-k bars.
"""

from __future__ import annotations

import os
import re

import numpy as np
from absl import flags

from tools import flags as shared
import kerasnets
from kerasnets.deployment import model_card
from kerasnets.zoo.imagenet import NUM_CLASSES
from kerasnets.plots import plot_predictions
from kerasnets.zoo.preprocessing import center_crop_resize, normalize, to_channels
from kerasnets.weights.records import evaluation_transform, names_a_record

flags.DEFINE_string("model", None, "Registry model name (e.g. efficientnet_lite0, resnet50).")
flags.DEFINE_string("model_file", None, "A .keras model with its model card (e.g. a fine-tuned "
                    "run's final.keras) instead of --model.")
flags.DEFINE_string("weights", "imagenet", "'imagenet' (the model's default published "
                    "checkpoint), another checkpoint's source or tag ('torchvision', "
                    "'racm_in1k'), or a weights file (.weights.h5 / .keras / .h5 / .pth / "
                    ".safetensors).")
flags.DEFINE_integer("top", 5, "How many classes to print per image.")
flags.DEFINE_string("plot", None, "Directory for one PNG per image: the image and its top-k.")
flags.DEFINE_integer("image_size", None, "Input size (default: the model card's or the "
                     "checkpoint's).")
flags.DEFINE_float("crop_fraction", None, "Centre crop: shorter side to size / crop_fraction "
                   "(default: the model card's or the checkpoint's).")
FLAGS = flags.FLAGS


def read_image(path: str, channels: int):
    """uint8 HxWxC of an image file; missing or undecodable files raise naming the path."""
    import tensorflow as tf

    from pipelines.transforms import to_channels

    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path!r}.")
    with open(path, "rb") as f:
        data = f.read()
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
        message = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]", "",
                         getattr(e, "message", str(e)).splitlines()[0])
        raise ValueError(f"{path!r} is not an image TensorFlow can decode (JPEG, PNG, GIF, BMP): "
                         f"{message}") from None
    return to_channels(image, channels)


def plot_names(paths) -> list[str]:
    """A PNG name per image: its file name, numbered where two images share one."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    return [f"{stem}.png" if stems.count(stem) == 1 else f"{stem}_{i}.png"
            for i, stem in enumerate(stems, start=1)]


def load(paths):
    """(model, preprocessing, size, channels, crop_fraction, interpolation, decode) from the
    flags, where `decode(probs)` gives each image's top-k (label, probability, note) rows."""
    if bool(FLAGS.model) == bool(FLAGS.model_file):
        raise ValueError("Give --model (a registry name) or --model_file (a .keras file).")
    if not paths:
        raise ValueError("Give one or more image files after the flags.")
    if FLAGS.model_file:
        model, card = model_card.load(FLAGS.model_file)
        if card is None:
            raise ValueError(f"{FLAGS.model_file} has no model card (class names, "
                             f"preprocessing); save it with kerasnets.deployment.model_card.save.")
        names = card.class_names
        top = min(FLAGS.top, len(names))
        crop = card.crop_fraction if FLAGS.crop_fraction is None else FLAGS.crop_fraction
        size = card.image_size
        if FLAGS.image_size and FLAGS.image_size != size:
            raise ValueError(f"--image_size {FLAGS.image_size}: {FLAGS.model_file} takes {size}.")

        def decode(probs):
            order = np.argsort(-probs, axis=1)[:, :top]
            return [[(names[i], p[i], "") for i in row] for p, row in zip(probs, order)]

        return model, card.preprocessing, size, card.channels, crop, "bilinear", decode
    if not 1 <= FLAGS.top <= NUM_CLASSES:
        raise ValueError(f"--top must be in [1, {NUM_CLASSES}], got {FLAGS.top}.")
    entry = kerasnets.get_entry(FLAGS.model)
    if not names_a_record(FLAGS.weights) and not os.path.exists(FLAGS.weights):
        raise FileNotFoundError(f"--weights {FLAGS.weights!r} does not exist.")
    transform = evaluation_transform(entry.name, FLAGS.weights)
    size, channels = FLAGS.image_size or transform.size, entry.input_shape[2]
    model = kerasnets.create_model(entry.name, weights=FLAGS.weights,
                                   input_shape=(size, size, channels))
    if model.output_shape[-1] != NUM_CLASSES:
        raise ValueError(f"{entry.name} with --weights {FLAGS.weights} predicts "
                         f"{model.output_shape[-1]} classes; tools.predict names ImageNet's "
                         f"{NUM_CLASSES} (a model of other classes: --model_file).")

    def decode(probs):
        return [[(label, p, wnid) for wnid, label, p in top]
                for top in kerasnets.decode_predictions(probs, top=FLAGS.top)]

    crop = FLAGS.crop_fraction or transform.crop_fraction
    return (model, transform.normalization, size, channels, crop, transform.interpolation,
            decode)


def main(argv):
    paths = argv[1:]
    # Every image is read before the model is built, so a bad path fails in a second.
    images = [read_image(path, 3) for path in paths]
    model, preprocessing, size, channels, crop_fraction, interpolation, decode = load(paths)
    crops = np.stack([np.clip(center_crop_resize(to_channels(image, channels), size,
                                                 crop_fraction, interpolation).numpy(), 0, 255)
                      for image in images])
    probs = model.predict(normalize(crops, preprocessing), batch_size=16, verbose=0)
    names = plot_names(paths) if FLAGS.plot else [None] * len(paths)
    for path, image, crop, top, name in zip(paths, images, crops, decode(probs), names):
        height, width = image.shape[:2]
        print(f"{path} ({width}x{height}; {model.name}, {size}x{size}):")
        for rank, (label, prob, note) in enumerate(top, start=1):
            print(f"  {rank}. {label:<30s} {prob:7.2%}  {note}".rstrip())
        if name:
            written = plot_predictions(crop, [(label, prob) for label, prob, _ in top],
                                       os.path.join(FLAGS.plot, name),
                                       title=f"{model.name}: {os.path.basename(path)}")
            print(f"  plot: {written}")


if __name__ == "__main__":
    shared.run(main)
