"""A user's PyTorch checkpoint -> a Keras `.keras` / `.weights.h5` file, with an optional parity
report against the PyTorch model (`tools.convert`).

    result = convert_checkpoint("resnet18", "run/best.pth", "resnet18_7.keras", check=True)
    result["classes"], result["parity"].worst

The checkpoint is read by `read_training_checkpoint` (no torch, no code from the file), a
trainer's dict unwrapped (`convert.unwrap_state_dict`), the class count taken from its head.
Where a timm training checkpoint names its architecture (`arch`), the model may be left out.
"""

from __future__ import annotations

import dataclasses
import os

from kerasnets.weights import parity, pretrained
from kerasnets.weights.checkpoint import read_training_checkpoint
from kerasnets.weights.convert import head_classes, load_torch_state_dict, unwrap_state_dict

OUTPUT_SUFFIXES = (".keras", ".weights.h5")


@dataclasses.dataclass
class Conversion:
    variant: str
    source: str
    source_model: str            # the torchvision / timm name of the source architecture
    classes: int
    output: str
    parity: parity.Parity | None = None
    skipped: str = ""             # why the parity check did not run


def resolve(model: str | None, metadata: dict, source: str | None) -> tuple[str, str, str]:
    """`(variant, source, source model name)` from `--model` (a registry or zoo name) or a timm
    checkpoint's `arch`, and `--source` (default: the variant's first torchvision / timm
    checkpoint)."""
    import kerasnets

    if model is None:
        arch = metadata.get("arch") or metadata.get("args", {}).get("model")
        if not arch:
            raise ValueError("the checkpoint does not name its architecture (no 'arch'): pass "
                             "--model")
        variant = pretrained.variant_for(source or "timm", arch)
        return variant, source or "timm", arch
    variant = kerasnets.get_entry(model).name
    found = [w for w in pretrained.torch_weights(variant)
             if w.source in ("torchvision", "timm") and (source is None or w.source == source)]
    if not found:
        raise ValueError(f"{variant} has no {source or 'torchvision / timm'} checkpoint "
                         f"registered, so no mapping for it (have: "
                         f"{pretrained.pretrained_sources(variant)})")
    return variant, found[0].source, found[0].model


def convert_checkpoint(model: str | None, checkpoint, output, *, source: str | None = None,
                       classes: int | None = None, check: bool = False, report_dir=None,
                       input_size: int | None = None, seed: int = 0) -> Conversion:
    """Convert `checkpoint` (.pth / .pt / .bin / .safetensors) for registry model `model` and
    save it to `output` (.keras or .weights.h5, written atomically). `classes` must agree with
    the checkpoint's head when given. With `check`, the PyTorch model (torchvision / timm) is
    built, loads the same file with torch's reader, and is compared with the saved file loaded
    back (`parity.compare`); `parity.md` / `parity.json` go to `report_dir` (default: beside
    `output`). Without torch, `result.skipped` says why."""
    import kerasnets
    from kerasnets.utils import save_model

    output = os.fspath(output)
    if not output.endswith(OUTPUT_SUFFIXES):
        raise ValueError(f"--output {output!r} must end in .keras or .weights.h5")
    state, metadata = read_training_checkpoint(checkpoint)
    state = unwrap_state_dict(state)
    variant, source, source_name = resolve(model, metadata, source)
    mapping = pretrained.torch_mapping(variant)
    head = head_classes(state, mapping)
    if classes is not None and head is not None and classes != head:
        raise ValueError(f"--classes {classes}, but the checkpoint's classifier has {head} "
                         f"outputs")
    classes = classes or head or kerasnets.get_entry(variant).classes
    keras_model = kerasnets.create_model(variant, classes=classes)
    load_torch_state_dict(keras_model, state, source, variant=variant,
                          where=f"checkpoint {os.fspath(checkpoint)!r}")
    save_model(keras_model, output)
    result = Conversion(variant, source, source_name, classes, output)
    if check:
        try:
            parity.import_torch(source)
        except ImportError as e:
            result.skipped = f"parity check skipped: {e.name or 'torch'} is not installed"
            return result
        size = input_size or kerasnets.get_entry(variant).input_shape[0]
        logits = kerasnets.create_model(variant, classes=classes, input_shape=(size, size, 3),
                                        classifier_activation=None, weights=output)
        kwargs = dict(next((w.source_kwargs for w in pretrained.torch_weights(variant)
                            if w.source == source), ()))
        torch_model = parity.build_source_model(source, source_name, classes=classes, **kwargs)
        parity.load_torch_file(torch_model, checkpoint)
        taps = {t: p for t, p in mapping.taps.items() if t.startswith("stage")}
        result.parity = parity.compare(logits, torch_model, taps, input_size=size, seed=seed)
        result.parity.write(report_dir or os.path.dirname(os.path.abspath(output)),
                            f"{os.path.basename(os.fspath(checkpoint))}: {source} "
                            f"{source_name} vs kerasnets {variant} ({classes} classes)")
    return result
