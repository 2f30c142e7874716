"""Print (and optionally write) the table of registered models.

    python -m tools.models                       # Markdown table to stdout
    python -m tools.models --flops --output docs/models.md

Columns: registry name, public builder, parameters (trainable, default classes) and their source,
default input, paper. With --flops, multiply-adds at the default input (builds every model).
"""

from __future__ import annotations

from absl import flags

from tools import flags as shared

shared.define_model_selection("*")
flags.DEFINE_bool("flops", False, "Add GMACs at the default input size (builds each model).")
flags.DEFINE_string("output", None, "Also write the table to this Markdown file.")
FLAGS = flags.FLAGS


def table(names, with_flops=False) -> str:
    import keras

    import kerasnets

    cols = ["model", "builder", "params", "source", "input", "paper"]
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
               "input": "x".join(str(s) for s in info["input_shape"]), "paper": paper}
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
        from kerasnets.utils import atomic_write_text

        atomic_write_text(FLAGS.output, text)


if __name__ == "__main__":
    shared.run(main)
