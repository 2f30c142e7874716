"""Flags shared by several tools. Library code never parses flags; tools call `define_*` here."""

from absl import flags


def define_model_selection(default_pattern="resnet*"):
    flags.DEFINE_string("models", default_pattern,
                        "Registry pattern (fnmatch, e.g. 'resnet*') or comma-separated names.")


def define_device_flags():
    flags.DEFINE_integer("threads", 0, "Intra-op threads for TensorFlow (0 = TensorFlow's default).")


def resolve_models(pattern: str) -> list[str]:
    """Names for a comma-separated list of names and/or fnmatch patterns; unknown ones raise."""
    import kerasnets

    names: list[str] = []
    for part in [p.strip() for p in pattern.split(",") if p.strip()]:
        matched = kerasnets.list_models(part) if any(c in part for c in "*?[") else \
            [kerasnets.get_entry(part).name]
        if not matched:
            raise ValueError(f"No registered model matches {part!r}.")
        names += [n for n in matched if n not in names]
    return names
