"""The zoo: the registry of every variant (`registry`, a leaf that imports no other kerasnets
module), the questions asked of it (`info`: `list_models`, `model_info`, `resolve_models`), FLOP
counting (`flops`), input normalisation (`preprocessing`), ImageNet's class names (`imagenet`) and
the table of registered models (`model_table`).

The builders themselves are `kerasnets.applications`, their custom layers `kerasnets.layers` and
their checkpoints `kerasnets.weights`. Nothing is imported here, so importing
`kerasnets.zoo.registry` loads the registry alone.
"""

import importlib as _importlib
import warnings as _warnings


def __getattr__(name):
    """`kerasnets.zoo` was a module: its functions still resolve, from `kerasnets.zoo.info`, with a
    DeprecationWarning (`kerasnets.list_models` / `kerasnets.model_info` are the public names)."""
    if name in ("list_models", "model_info", "resolve_models"):
        _warnings.warn(f"kerasnets.zoo.{name} moved to kerasnets.zoo.info.{name}.",
                       DeprecationWarning, stacklevel=2)
        return getattr(_importlib.import_module("kerasnets.zoo.info"), name)
    raise AttributeError(f"module 'kerasnets.zoo' has no attribute {name!r}")
