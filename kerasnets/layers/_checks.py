"""Argument checks the custom layers share."""

from __future__ import annotations


def positive_int(owner: str, key: str, value) -> int:
    """`int(value)`, or a ValueError naming the layer class and the argument when it is below 1."""
    if int(value) < 1:
        raise ValueError(f"{owner} needs {key} >= 1, got {value}.")
    return int(value)
