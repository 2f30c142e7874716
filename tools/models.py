"""Print (and optionally write) the table of registered models.

    python -m tools.models                       # Markdown table to stdout
    python -m tools.models --flops --output docs/models.md

Columns: registry name, public builder, parameters (trainable, default classes) and their source,
default input; from the checkpoint records (`kerasnets.weights.records`): every published
ImageNet checkpoint as `source (tag)` (the first is `weights="imagenet"`'s, the others are
selected by their source or tag), the default's published top-1 and its source; paper. With
--flops, multiply-adds at the default input (builds every model).
"""

from __future__ import annotations

from absl import flags

from tools import flags as shared
import kerasnets
from kerasnets.utils import atomic_write_text
from kerasnets.weights import records

shared.define_model_selection("*")
flags.DEFINE_bool("flops", False, "Add GMACs at the default input size (builds each model).")
flags.DEFINE_string("output", None, "Also write the table to this Markdown file.")
flags.DEFINE_string("readme", None, "Replace the table between README_START and README_END in "
                    "this file (README.md) with the registry's.")
README_START, README_END = "<!-- models table: python -m tools.models --readme README.md -->", \
    "<!-- end of models table -->"
FLAGS = flags.FLAGS


def table(names, with_flops=False) -> str:
    import keras

    cols = ["model", "builder", "params", "source", "input", "weights", "top-1",
            "weights source", "paper"]
    if with_flops:
        cols.insert(3, "GMACs")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    progress = keras.utils.Progbar(len(names), unit_name="model") if with_flops else None
    for i, name in enumerate(names):
        info = kerasnets.model_info(name, flops=with_flops)
        paper = info["paper"] + (f" ([arXiv:{info['arxiv']}](https://arxiv.org/abs/"
                                 f"{info['arxiv']}))" if info["arxiv"] else "")
        row = {"model": f"`{name}`", "builder": f"`{info['builder'].rsplit('.', 1)[1]}`",
               "params": f"{info['params']:,}", "source": info["params_source"],
               "input": "x".join(str(s) for s in info["input_shape"]),
               "paper": paper}
        found = records.checkpoints(name)
        default = found[0] if found else None
        row["weights"] = ", ".join(f"{r.source} ({r.tag})" for r in found)
        row["top-1"] = f"{default.top1:g}" if default and default.top1 is not None else ""
        row["weights source"] = default.label if default else ""
        if with_flops:
            row["GMACs"] = f"{info['flops'] / 1e9:.3g}"
            progress.update(i + 1)
        lines.append("| " + " | ".join(row[c] for c in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    text = table(shared.resolve_models(FLAGS.models), FLAGS.flops)
    print(text)

    if FLAGS.output:
        atomic_write_text(FLAGS.output, text)
    if FLAGS.readme:
        atomic_write_text(FLAGS.readme, with_table(open(FLAGS.readme).read(), text))


def with_table(readme: str, text: str) -> str:
    """`readme` with the text between its models-table markers replaced by `text`."""
    if README_START not in readme or README_END not in readme:
        raise ValueError(f"the README has no models-table markers ({README_START} ... "
                         f"{README_END}).")
    head, rest = readme.split(README_START, 1)
    return head + README_START + "\n" + text + rest[rest.index(README_END):]


if __name__ == "__main__":
    shared.run(main)
