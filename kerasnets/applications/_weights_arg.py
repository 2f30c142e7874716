"""How a public builder reads its `weights` argument: None, a local file, "imagenet" or another
published checkpoint's source or tag (`weights.records`), resolved before the model is built and
loaded as far as needed once it exists; and the "Weights:" line of the builders' docstrings.
"""

from __future__ import annotations

import os

from kerasnets.zoo import registry
from kerasnets.weights import bundle, convert, imagenet_weights, pretrained, records


def _nothing(model):
    return None


def resolve_weights(variant: str, weights, *, include_top, classes, default_classes, shape):
    """`(file, classes, load)` for one build of `variant`: `file` is what the factory's `finish`
    loads (None or a Keras weights file: a local one, an offline bundle's or Keras' published
    file fetched for `shape`); `classes` the number to build with (a user's torch checkpoint's
    head gives it where the caller kept the default); `load(model)` loads what needs the built
    model (a torchvision / timm / package record, a user's torch file).

    A string that is neither an existing file nor a weights file name must name a record of the
    variant ("imagenet": the default one; a source such as "torchvision"; a tag such as
    "racm_in1k"; `records.select` raises listing them). A published record with the top needs
    the variant's classes.
    """
    if isinstance(weights, str) and weights == "imagenet":  # an offline bundle's file first
        weights = bundle.imagenet_file(variant, include_top=include_top) or weights
    if records.names_a_record(weights):
        record = records.select(variant, weights)
        entry = registry.get_entry(variant)
        if include_top and classes not in (None, entry.classes):
            raise ValueError(f"weights={weights!r} with include_top=True needs classes="
                             f"{entry.classes} (got classes={classes}); build with "
                             f"include_top=False (or kerasnets.transfer.build_classifier) for a "
                             f"new head.")
        if record.source == "keras":  # Keras' file, fetched
            return imagenet_weights(variant, include_top=include_top, classes=classes,
                                    input_size=shape[0]), classes, _nothing
        return None, classes, lambda model: pretrained.load_imagenet(model, variant, record)
    if isinstance(weights, (str, os.PathLike)) and os.fspath(weights).lower().endswith(
            records.TORCH_SUFFIXES):
        # a user's checkpoint, unwrapped from a trainer's dict: its head gives the classes
        state_dict, head = pretrained.read_torch_checkpoint(weights, variant)
        if include_top and head and classes == default_classes:
            classes = head
        where = f"checkpoint {os.fspath(weights)!r}"
        return None, classes, lambda model: convert.load_torch_state_dict(
            model, state_dict, variant=variant, where=where)
    return weights, classes, _nothing


def weights_doc(name: str) -> str:
    """The builders' "Weights:" line: the variant's published records, the default first."""
    found = records.checkpoints(name)
    if not found:
        return "none published (weights=None or a local file)"
    lines = []
    for i, record in enumerate(found):
        top1 = f", top-1 {record.top1:g}%" if record.top1 is not None else ""
        lines.append(f"{'imagenet = ' if i == 0 else ''}{record.source} ({record.tag}){top1}")
    return "; ".join(lines)
