"""Old module paths of the flat layout, kept importable: `import kerasnets.registry` (or
`from kerasnets import transfer_experiment`) gives the module at its new place,
`kerasnets.zoo.registry`, with a DeprecationWarning naming it. One table, one import hook; the
modules are not copied, so the old name and the new one are the same object.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {  # old path -> new path (issue #22: subpackages by concern)
    "kerasnets.registry": "kerasnets.zoo.registry",
    "kerasnets.flops": "kerasnets.zoo.flops",
    "kerasnets.imagenet": "kerasnets.zoo.imagenet",
    "kerasnets.preprocessing": "kerasnets.zoo.preprocessing",
    "kerasnets.model_table": "kerasnets.zoo.model_table",
    "kerasnets.benchmark": "kerasnets.measurement.benchmark",
    "kerasnets.precision": "kerasnets.measurement.precision",
    "kerasnets.serving": "kerasnets.deployment.serving",
    "kerasnets.run_report": "kerasnets.measurement.run_report",
    "kerasnets.steps": "kerasnets.training.steps",
    "kerasnets.train_job": "kerasnets.training.job",
    "kerasnets.export": "kerasnets.deployment.export",
    "kerasnets.export_job": "kerasnets.deployment.export_job",
    "kerasnets.quantization": "kerasnets.deployment.quantization",
    "kerasnets.model_card": "kerasnets.deployment.model_card",
    "kerasnets.transfer_experiment": "kerasnets.experiments.transfer",
    "kerasnets.transfer_report": "kerasnets.experiments.transfer_report",
    "kerasnets.net2net_experiment": "kerasnets.experiments.net2net",
    "kerasnets.benchmark_tables": "kerasnets.experiments.benchmark_tables",
    "kerasnets.default_paths": "kerasnets.experiments.default_paths",
    "kerasnets.distillation.experiment": "kerasnets.experiments.distillation.experiment",
    "kerasnets.distillation.experiment_setup": "kerasnets.experiments.distillation.setup",
    "kerasnets.distillation.experiment_results": "kerasnets.experiments.distillation.results",
    "kerasnets.distillation.job": "kerasnets.experiments.distillation.job",
    "kerasnets.distillation.hinton": "kerasnets.experiments.distillation.hinton",
    "kerasnets.distillation.specialists": "kerasnets.experiments.distillation.specialists",
}
# `kerasnets.zoo` was a module and is now the zoo's package: its functions resolve through the
# package's `__getattr__` (kerasnets/zoo/__init__.py).


def new_path(name: str) -> str | None:
    """The new path of an old module path (or of a module inside a moved package), else None."""
    if name in MOVED:
        return MOVED[name]
    for old, new in MOVED.items():
        if name.startswith(old + "."):
            return new + name[len(old):]
    return None


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self):
        self._specs = {}  # old name -> the module's own spec, put back after the import system

    def find_spec(self, fullname, path=None, target=None):
        if new_path(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = new_path(spec.name)
        warnings.warn(f"{spec.name} moved to {new}; import it from there (the old path will be "
                      f"removed).", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # the import system set the old name's spec on the module: put its own back
        module.__spec__ = self._specs.pop(module.__spec__.name)


def install() -> None:
    """Put the finder first on `sys.meta_path` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
