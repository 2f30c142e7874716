r"""Convert an image folder (root/<class>/*.jpg|png|...) to sharded TFRecords.

    python -m tools.make_tfrecords --input_dir DIR --output PREFIX --num_shards N
    python -m tools.make_tfrecords --input_dir DIR --output PREFIX --num_shards 8 \
        --validation_fraction 0.1 --on_error skip

Writes PREFIX-train.tfrecord-0000i-of-0000N (and PREFIX-validation... with a validation
fraction) plus PREFIX.json; read them back with `pipelines.sources.load(PREFIX, split)`. The
splits equal those `load(DIR, split)` makes with the same --split_seed and fraction. Every image
is checked before anything is written (bad files raise, or are skipped and counted with
--on_error=skip); shards go to temporary files that are moved into place at the end.
"""

from __future__ import annotations

from absl import flags

from tools import flags as shared

flags.DEFINE_string("input_dir", None, "Image folder: input_dir/<class>/<images>.", required=True)
flags.DEFINE_string("output", None, "Output prefix, e.g. data/flowers (writes data/flowers-"
                    "train.tfrecord-* and data/flowers.json).", required=True)
flags.DEFINE_integer("num_shards", 1, "Shards of the train split (validation: "
                     "max(1, round(num_shards * validation_fraction))).")
flags.DEFINE_float("validation_fraction", 0.0, "Fraction of each class written as the "
                   "'validation' split (0: train only).")
flags.DEFINE_integer("split_seed", 0, "Seed of the train/validation split.")
flags.DEFINE_integer("seed", 0, "Seed of the order of examples across shards.")
flags.DEFINE_enum("on_error", "raise", ["raise", "skip"], "Bad image files: fail naming them, "
                  "or leave them out with one warning.")
flags.DEFINE_enum("verify", "decode", ["decode", "header"], "Check files by decoding them "
                  "(exact) or by magic bytes and end markers only (fast).")
flags.DEFINE_integer("channels", 3, "Channels the images are checked at and later decoded to.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras

    from pipelines import sources

    progress = None

    def report(done, total):
        nonlocal progress
        progress = progress or keras.utils.Progbar(total, unit_name="image")
        if done == total or done % 64 == 0:
            progress.update(done)

    meta = sources.write_tfrecords(   # bad input raises, saying what and where (tools.flags.run)
        FLAGS.input_dir, FLAGS.output, num_shards=FLAGS.num_shards,
        validation_fraction=FLAGS.validation_fraction, split_seed=FLAGS.split_seed,
        seed=FLAGS.seed, on_error=FLAGS.on_error, verify=FLAGS.verify,
        channels=FLAGS.channels, progress=report)
    counts = ", ".join(f"{split} {s['num_examples']} images in {len(s['files'])} shard(s)"
                       for split, s in meta["splits"].items())
    skipped = f"; skipped {len(meta['skipped'])} bad file(s)" if meta["skipped"] else ""
    print(f"Wrote {FLAGS.output}.json: {len(meta['class_names'])} classes, {counts}{skipped}.")


if __name__ == "__main__":
    shared.run(main)
