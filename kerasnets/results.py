"""The one writer of what the tools produce: a `Table` (rows, columns, the header a reader
needs to trust the figures) written as CSV + Markdown, plus the cell formats the tools use.

Every tool that writes a table builds a `Table` through a library call and hands it to
`write_table`, which writes `<stem>.csv` and `<stem>.md` atomically (`kerasnets.utils`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

from kerasnets.utils import tables, write_tables


def cell_format(float_format: str | Callable[[float], str]) -> Callable[[object], str]:
    """A cell formatter: floats through `float_format` (a format spec such as ".4g", or a
    function of the float), None as an empty cell, anything else through `str`."""
    def fmt(value) -> str:
        if isinstance(value, float):
            return float_format(value) if callable(float_format) else format(value, float_format)
        return "" if value is None else str(value)
    return fmt


def _three_significant(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


# The tools' formats: speeds (3 significant digits, whole numbers from 100), accuracies and
# losses (4 decimals; tiny figures in scientific notation), ratios of the distillation runs.
SPEED = cell_format(_three_significant)
ACCURACY = cell_format(lambda v: f"{v:.2e}" if 0 < abs(v) < 1e-3 else f"{v:.4f}")
FOUR_SIGNIFICANT = cell_format(".4g")


@dataclasses.dataclass
class Table:
    """Rows (dicts) over `columns`, with the `header` paragraph the Markdown starts with, the
    `footer` text after its table, the `output` path a tool writes to when the user names none,
    the cell format and the columns the Markdown shows (default: all; the CSV has all)."""
    rows: list[dict]
    columns: list[str]
    header: str = ""
    output: str | None = None
    fmt: Callable[[object], str] = SPEED
    footer: str = ""
    markdown_columns: list[str] | None = None

    def markdown(self) -> str:
        """The Markdown table and footer (without the header)."""
        return tables(self.rows, self.columns, fmt=self.fmt,
                      markdown_columns=self.markdown_columns)[0] + self.footer


def write_table(table: Table, path: str | None = None) -> tuple[str, str]:
    """`table` written to `path` (default `table.output`) as `<stem>.csv` and `<stem>.md`,
    atomically; returns (the Markdown written, the line saying where)."""
    path = path or table.output
    if not path:
        raise ValueError("write_table needs a path: the table has no default output.")
    markdown = write_tables(path, table.rows, table.columns, header=table.header,
                            footer=table.footer, fmt=table.fmt,
                            markdown_columns=table.markdown_columns)
    return markdown, f"Wrote {path} and {os.path.splitext(path)[0]}.md"
