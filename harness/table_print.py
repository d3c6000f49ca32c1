"""Tables on standard output, one policy for every command (`evaluate`, the analysis tables): a rich
table on a terminal wide enough for it, plain Markdown otherwise (piped, logged, captured, a narrow
terminal), which stays readable, greppable and pasteable. Off a terminal rich is never imported
(harness.progress.interactive) nor its table rendered: that was ~35 ms of a 0.5 s
`panbench evaluate panoptic` (issue 24)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None,
             caption: str | None = None) -> str:
    """A Markdown table (`|` in a cell escaped), after a bold title and its caption when given."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    lines = [f"**{title}**" + (f": {caption}" if caption else ""), ""] if title else []
    lines += [line(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [line(cells) for cells in rows]
    return "\n".join(lines) + "\n"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None, *,
                caption: str | None = None, left: Sequence[int] = (0,), section_before: int | None = None) -> None:
    """Print the table: rich at a terminal wide enough (columns in `left` left-aligned, the others
    right; a rule before row `section_before`), else `markdown`. Cells are plain text, never markup."""
    from harness.progress import interactive

    needed = sum(max(len(str(c)) for c in column) + 3 for column in zip(header, *rows)) + 1
    console = None
    if interactive():
        from rich.console import Console

        console = Console(highlight=False)
    if console is None or needed > console.width:
        sys.stdout.write(markdown(header, rows, title, caption))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for k, column in enumerate(header):
        table.add_column(column, justify="left" if k in left else "right")
    for k, cells in enumerate(rows):
        table.add_row(*(Text(str(c)) for c in cells), end_section=k + 1 == section_before)
    console.print(table)
    if caption:
        console.print(caption, style="dim")
