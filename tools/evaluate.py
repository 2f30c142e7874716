"""Evaluate a trained model under a paper's protocol: top-1 / top-5, confusion matrix, JSON.

    python -m tools.evaluate --keras_file runs/resnet20_cifar/best.keras --dataset digits
    python -m tools.evaluate --model resnet20_cifar --weights run/checkpoints/epoch_003.weights.h5 \\
        --dataset digits --protocol 10crop

Protocols (pipelines.evaluation): `center` (one centre crop), `10crop` (AlexNet: four corners
and centre, with flips) and `multiscale` (VGG: the image at several scales Q with flips,
softmax averaged; `--scales 256,384,512` at 224 px, scaled with the input size). Writes
`results.json` (with per-class accuracy) and `confusion.png` to `--output_dir`.

A `--keras_file` with a model card (`kerasnets.deployment.model_card`, e.g. tools.finetune's
`final.keras`) brings its normalisation, eval geometry, class names and dataset (the default of
`--dataset`); a dataset whose class names differ from the card's is an error naming both.
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from tools import flags as shared
import kerasnets
from kerasnets.deployment import model_card
from kerasnets.plots import plot_confusion
from kerasnets.measurement.run_report import per_class_rows
from kerasnets.utils import atomic_write_text
from kerasnets.weights.records import evaluation_transform, names_a_record

flags.DEFINE_string("model", None, "Registry model name (with --weights).")
flags.DEFINE_string("weights", None, "Weights for --model: a file (.weights.h5 / .keras / .h5 / "
                    ".pth / .safetensors), 'imagenet' (the default published checkpoint) or "
                    "another checkpoint's source or tag; a checkpoint's record also gives the "
                    "evaluation transform.")
flags.DEFINE_string("keras_file", None, "A whole saved model (.keras), e.g. a run's best.keras.")
flags.DEFINE_string("dataset", "digits", "Dataset (as tools.train; default: the model card's, "
                    "else digits).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir.")
flags.DEFINE_string("split", "test", "Split to evaluate.")
flags.DEFINE_enum("on_error", "raise", ["raise", "skip"], "Bad files in an image folder: fail "
                  "naming them, or leave them out with one counted warning.")
flags.DEFINE_list("classes", None, "Class subset (as in training).")
flags.DEFINE_enum("protocol", "center", ["center", "10crop", "ten_crop", "multiscale"],
                  "Evaluation protocol.")
flags.DEFINE_list("scales", None, "Multiscale Q values (shorter side), default the paper's "
                  "{256, 384, 512} scaled to the input size.")
flags.DEFINE_integer("image_size", None, "Input size (default: the model's).")
flags.DEFINE_integer("batch_size", 64, "Images per batch (views count separately).")
flags.DEFINE_string("output_dir", None, "Where results.json and confusion.png go (default: "
                    "beside --keras_file / --weights, else eval/<model>).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from pipelines import evaluation, sources

    if bool(FLAGS.keras_file) == bool(FLAGS.model):
        raise app.UsageError("Give either --keras_file or --model (with --weights).")
    if FLAGS.keras_file and not os.path.exists(FLAGS.keras_file):
        raise app.UsageError(f"--keras_file {FLAGS.keras_file!r} does not exist.")
    card = model_card.read(FLAGS.keras_file) if FLAGS.keras_file else None
    dataset = FLAGS.dataset if FLAGS["dataset"].present or not (card and card.dataset) \
        else card.dataset
    classes = [int(c) for c in FLAGS.classes] if FLAGS.classes else None
    ds, info = sources.load(dataset, FLAGS.split, data_dir=FLAGS.data_dir, classes=classes,
                            on_error=FLAGS.on_error)
    if card:
        card.check_classes(info.class_names, f"{info.name}/{FLAGS.split}")
    if FLAGS.keras_file:
        model = kerasnets.load_model(FLAGS.keras_file, compile=False)
        name, where = model.name, os.path.dirname(os.path.abspath(FLAGS.keras_file))
    else:
        entry = kerasnets.get_entry(FLAGS.model)
        named = FLAGS.weights and names_a_record(FLAGS.weights)
        if FLAGS.weights and not named and not os.path.exists(FLAGS.weights):
            raise app.UsageError(f"--weights {FLAGS.weights!r} does not exist.")
        size = FLAGS.image_size or evaluation_transform(entry.name, FLAGS.weights).size
        model = kerasnets.create_model(entry.name, classes=info.num_classes,
                                       weights=FLAGS.weights,
                                       input_shape=(size, size, entry.input_shape[2]))
        name = entry.name
        where = (os.path.dirname(os.path.abspath(FLAGS.weights)) if FLAGS.weights and not named
                 else os.path.join("eval", entry.name))
    out_classes = model.output_shape[-1]
    if out_classes != info.num_classes:
        raise app.UsageError(f"The model predicts {out_classes} classes but {info.name} has "
                             f"{info.num_classes}: pass the --classes used in training.")
    model_name = name if name in kerasnets.list_models() else (FLAGS.model or None)
    protocol = "ten_crop" if FLAGS.protocol == "10crop" else FLAGS.protocol
    result = evaluation.evaluate(
        model, ds, protocol, batch_size=FLAGS.batch_size, confusion=True, verbose=1,
        model_name=model_name, image_size=FLAGS.image_size,
        weights=FLAGS.weights if FLAGS.model else None,
        scales=tuple(int(s) for s in FLAGS.scales) if FLAGS.scales else None,
        **(dict(preprocessing=card.preprocessing, crop_fraction=card.crop_fraction,
                channels=card.channels) if card else {}))
    output_dir = FLAGS.output_dir or where
    result.update(model=name, dataset=info.name, split=FLAGS.split,
                  class_names=list(info.class_names),
                  per_class=per_class_rows(result["confusion"], info.class_names))
    result["confusion_png"] = plot_confusion(
        result["confusion"], os.path.join(output_dir, "confusion.png"),
        class_names=info.class_names, title=f"{name} on {info.name} ({protocol})")
    result["confusion"] = result["confusion"].tolist()
    path = atomic_write_text(os.path.join(output_dir, "results.json"),
                             json.dumps(result, indent=2) + "\n")
    top_k = [k for k in result if k.startswith("top") and k != "top1"][0]
    print(f"{name} on {info.name}/{FLAGS.split} ({protocol}, {result['views']} views, "
          f"{result['n']} images): top-1 {result['top1']:.4f}, {top_k} {result[top_k]:.4f}; "
          f"{path}")
    print("per class: " + ", ".join(f"{r['class']} {r['accuracy']} ({r['correct']}/{r['images']})"
                                    for r in result["per_class"]))


if __name__ == "__main__":
    shared.run(main)
