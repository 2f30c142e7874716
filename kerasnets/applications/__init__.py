"""Public builders, one per registered variant, with the keras.applications signature.

Each family lives in one module of this package and lists its public builders in `__all__`;
importing this package imports every family module (which registers its variants in
`kerasnets.zoo.registry`) and re-exports those builders here, so this file needs no edit for a
new family (the generated README table, stub and design layout do: docs/design.md, Layout).
`custom_model(spec, like=variant)` builds a spec of your own as a registered variant is built.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from kerasnets.zoo import registry as _registry
from kerasnets.applications._common import custom_model  # noqa: F401 (public)

__all__: list[str] = []

for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = _importlib.import_module(f"{__name__}.{_info.name}")
    for _name in getattr(_module, "__all__", []):
        if _name in globals():
            raise ImportError(f"kerasnets.applications: {_name} is exported by two family modules "
                              f"({globals()[_name].__module__} and {_module.__name__}).")
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
__all__.sort()


def __getattr__(name):
    """A retired builder name (`MobileNet_025`) still works, with a DeprecationWarning naming
    its replacement (`MobileNet_x0_25`)."""
    return _registry.retired_builder(name)
