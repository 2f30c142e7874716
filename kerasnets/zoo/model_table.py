"""The table of registered models (`python -m tools.models`; README's copy is kept equal to it
by a test): registry name, public builder, parameters and their source, default input, the
published checkpoints (`kerasnets.weights.records`), the default's top-1 and its source, paper;
with flops, multiply-adds at the default input (builds every model).
"""

from __future__ import annotations

from typing import Sequence

import keras

import kerasnets
from kerasnets.weights import records

README_START = "<!-- models table: python -m tools.models --readme README.md -->"
README_END = "<!-- end of models table -->"


def table(names: Sequence[str], with_flops: bool = False) -> str:
    """The Markdown table of `names`, one row per model (a progress bar when counting FLOPs)."""
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


def with_table(readme: str, text: str) -> str:
    """`readme` with the text between its models-table markers replaced by `text`."""
    if README_START not in readme or README_END not in readme:
        raise ValueError(f"the README has no models-table markers ({README_START} ... "
                         f"{README_END}).")
    head, rest = readme.split(README_START, 1)
    return head + README_START + "\n" + text + rest[rest.index(README_END):]
