"""Print (and optionally write) the table of registered models.

    python -m tools.models                       # Markdown table to stdout
    python -m tools.models --flops --output docs/models.md

Columns: registry name, public builder, parameters (trainable, default classes) and their source,
default input; from the checkpoint records (`kerasnets.weights.records`): every published
ImageNet checkpoint as `source (tag)` (the first is `weights="imagenet"`'s, the others are
selected by their source or tag), the default's published top-1 and its source; paper. With
--flops, multiply-adds at the default input (builds every model). The table is
`kerasnets.zoo.model_table.table`.
"""

from __future__ import annotations

from absl import flags

from kerasnets.zoo.model_table import table, with_table
from kerasnets.utils import atomic_write_text
from tools import flags as shared

shared.define_model_selection("*")
flags.DEFINE_bool("flops", False, "Add GMACs at the default input size (builds each model).")
flags.DEFINE_string("output", None, "Also write the table to this Markdown file.")
flags.DEFINE_string("readme", None, "Replace the table between README_START and README_END in "
                    "this file (README.md) with the registry's.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    text = table(shared.resolve_models(FLAGS.models), FLAGS.flops)
    print(text)
    if FLAGS.output:
        atomic_write_text(FLAGS.output, text)
    if FLAGS.readme:
        atomic_write_text(FLAGS.readme, with_table(open(FLAGS.readme).read(), text))


if __name__ == "__main__":
    shared.run(main)
