"""The zoo's questions about registered models, answered from the registry, the checkpoint
records and the layer shapes: `list_models` (with the `pretrained` filter), `model_info`
and `resolve_models` (the tools' `--models`: names and patterns).

They sit above `kerasnets.zoo.registry`, which imports no other kerasnets module.
"""

from __future__ import annotations

from typing import Any

from kerasnets.zoo import registry
from kerasnets.weights import records
from kerasnets.weights.pretrained import (has_pretrained, pretrained_preprocessing,
                                          pretrained_sources)

_FLOPS_CACHE: dict[str, int] = {}


def resolve_models(pattern: str) -> list[str]:
    """Names for a comma-separated list of names and/or fnmatch patterns (the tools' `--models`);
    unknown ones raise."""
    names: list[str] = []
    for part in [p.strip() for p in pattern.split(",") if p.strip()]:
        matched = list_models(part) if any(c in part for c in "*?[") else \
            [registry.get_entry(part).name]
        if not matched:
            raise ValueError(f"No registered model matches {part!r}.")
        names += [n for n in matched if n not in names]
    return names


def list_models(pattern: str = "*", family: str | None = None,
                pretrained: bool | None = None) -> list[str]:
    """Registered model names matching an fnmatch `pattern` (case-insensitive), sorted.

    `pretrained=True` keeps the variants with published ImageNet weights (keras.applications'
    files, torchvision / timm checkpoints, or a package's file: `model_info(name)["pretrained"]`
    lists them), `False` those without."""
    names = registry.list_models(pattern, family)
    if pretrained is not None:
        names = [n for n in names if has_pretrained(n) == pretrained]
    return names


def model_info(name: str, *, flops: bool = True) -> dict[str, Any]:
    """Family, paper, default input, reference parameter count and FLOPs of a registered model.

    FLOPs are multiply-adds of one forward pass at the default input size, counted analytically
    (`kerasnets.zoo.flops`); computing them builds the model once (cached).
    """
    entry = registry.get_entry(name)
    info = {
        "name": entry.name,
        "builder": f"kerasnets.applications.{entry.builder_name}",
        "family": entry.family,
        "paper": entry.paper.title,
        "arxiv": entry.paper.arxiv,
        "year": entry.paper.year,
        "input_shape": entry.input_shape,
        "min_size": entry.min_size,
        "classes": entry.classes,
        "params": entry.params,
        "params_source": entry.params_source,
        "keras_equivalent": entry.keras_equivalent,
        "preprocessing": entry.preprocessing,
        "aliases": registry.aliases_of(entry.name),
        "pretrained": pretrained_sources(entry.name),
        # per checkpoint, the input normalisation it expects (`preprocessing` is the variant's
        # default: its keras.applications twin's, else its checkpoints')
        "pretrained_preprocessing": pretrained_preprocessing(entry.name),
        # every published checkpoint's record (kerasnets.weights.records), the default first
        "checkpoints": [record.as_dict() for record in records.checkpoints(entry.name)],
    }
    if flops:
        if entry.name not in _FLOPS_CACHE:
            # keras (under flops) loads here, not when kerasnets is imported
            import keras

            from kerasnets.zoo.flops import count_flops

            model = entry.builder()
            _FLOPS_CACHE[entry.name] = count_flops(model)
            del model
            keras.backend.clear_session(free_memory=True)
        info["flops"] = _FLOPS_CACHE[entry.name]
    return info
