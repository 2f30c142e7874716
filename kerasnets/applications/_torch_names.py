"""Torch module paths -> kerasnets layer names as data: a family's `TorchMapping.rename` is a
table of `(pattern, template)` rules (classic families: vgg, alexnet, squeezenet, densenet,
googlenet, inception_v3).

A pattern must match the whole module path (`re.fullmatch`); the first rule that matches wins.
Its named groups fill the template (`str.format`); a template of None marks a module that is
deliberately not loaded (auxiliary classifiers). A path that no rule matches is returned
unchanged, so the conversion reports it as a layer the model does not have (naming the tensor).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Optional

Rule = tuple[str, Optional[str]]


def rename_rules(rules: Iterable[Rule]) -> Callable[[str], Optional[str]]:
    """`rename(module_path)` from `(pattern, template)` rules."""
    compiled = [(re.compile(pattern), template) for pattern, template in rules]

    def rename(path: str) -> Optional[str]:
        for pattern, template in compiled:
            match = pattern.fullmatch(path)
            if match:
                return None if template is None else template.format(**match.groupdict())
        return path

    return rename
