"""Tables for lists whose first column is what people copy: a class path or a result id."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` under ``headers``; the first column is never wrapped, cut or ellipsized.

    The other columns give way when the terminal (80 columns when piped) is narrow, and a
    line still too wide is printed whole rather than cropped, so the key can be copied.
    """
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Column, Table

    key, *others = headers
    width = max((cell_len(row[0]) for row in rows), default=cell_len(key))
    table = Table(Column(key, no_wrap=True, min_width=width), *others)
    for row in rows:
        table.add_row(*row)
    Console().print(table, crop=False)
