"""Torch module paths -> kerasnets layer names as data: every family's `TorchMapping.rename` is a
table of `(pattern, replacement)` rules, turned into a function by `rename_rules`.

A pattern must match the whole module path (`re.fullmatch`); the first rule that matches wins.
The replacement is
- a template (`"stage{s}_block{b}_conv"`), filled with the match's named groups (`str.format`;
  a group that did not take part is absent, so a template that names it raises);
- a callable on the `re.Match`, for names that need arithmetic (`lambda m: f"block{int(m['b']) +
  1}"`: torch counts blocks from 0, we count from 1);
- None: a module that is deliberately not loaded (auxiliary classifiers).
A path that no rule matches is returned unchanged, so the conversion reports it as a layer the
model does not have (naming the tensor).

`nested(outer, name, rules)` writes the rules of a module's children once (an Inception module's
branches, a NASNet cell's operations) and `exact(table)` turns a `{module path: layer}` dict into
rules.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping, Optional, Union

Replacement = Union[str, None, Callable[[re.Match], Optional[str]]]
Rule = tuple[str, Replacement]


def _name(replacement: Replacement, match: re.Match) -> Optional[str]:
    if replacement is None or callable(replacement):
        return None if replacement is None else replacement(match)
    return replacement.format_map({k: v for k, v in match.groupdict().items() if v is not None})


def rename_rules(rules: Iterable[Rule]) -> Callable[[str], Optional[str]]:
    """`rename(module_path)` from `(pattern, replacement)` rules (see the module docstring)."""
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]

    def rename(path: str) -> Optional[str]:
        for pattern, replacement in compiled:
            match = pattern.fullmatch(path)
            if match:
                return _name(replacement, match)
        return path

    return rename


def nested(outer: str, name: Replacement, rules: Iterable[Rule]) -> list[Rule]:
    """`rules` for the submodules of the module(s) matching `outer`: each rule's pattern is matched
    after `outer` and a dot (an empty pattern is the `outer` module itself) and its name follows
    `name` (the outer module's layer prefix, a template or callable on the same match) after an
    underscore; a None rule stays None. Named groups of `outer` and of the rules share one match,
    so their names must differ."""
    def joined(replacement):
        if replacement is None:
            return None
        return lambda match: f"{_name(name, match)}_{_name(replacement, match)}"

    return [(f"(?:{outer})" + (f"\\.(?:{pattern})" if pattern else ""), joined(replacement))
            for pattern, replacement in rules]


def exact(table: Mapping[str, Optional[str]]) -> list[Rule]:
    """Rules for whole module paths: `{"conv_stem": "stem_conv", ...}`."""
    return [(re.escape(path), name) for path, name in table.items()]
