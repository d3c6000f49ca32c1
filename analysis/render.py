"""A `Table` as Markdown (terminal, README), LaTeX (papers) or CSV (machines).

Markdown, LaTeX and the terminal print human headers (`analysis.labels`); CSV keeps the machine keys."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

from analysis.labels import column_label
from analysis.tables import Table
from harness.atomic import write_text
from harness.table_print import markdown, print_table as print_rows

TEXT_COLUMNS = ("model", "variant", "source", "dataset", "metric", "method", "note")


def format_cell(value: object, fmt: str | None) -> str:
    """Printed strings pass through; NaN / empty is the paper's dash; floats take the column format
    (`d`: a count, printed as an integer even when pandas made the column float)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    if fmt and isinstance(value, (int, float)) and not isinstance(value, bool):
        if fmt == "d":
            return str(int(value)) if float(value).is_integer() else str(value)
        return format(value, fmt)
    return str(value)


INSIDE = ("_std", "_low", "_high")  # printed inside the cell of the column they qualify


def shown_columns(table: Table) -> list[str]:
    """The frame's columns a reader sees: `m_std` is printed inside `m`'s cell, `m_low` / `m_high` too."""
    frame = table.frame
    return [c for c in frame.columns
            if not any(c.endswith(s) and c.removesuffix(s) in frame.columns for s in INSIDE)]


def display_rows(table: Table) -> tuple[list[str], list[list[str]]]:
    """Human header and cells: `m` and `m_std` merge into `mean ± std` when seeds > 1; `m`, `m_low` and
    `m_high` into `m [low, high]` (an interval)."""
    frame = table.frame
    columns = shown_columns(table)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in columns:
            text = format_cell(row[column], table.formats.get(column))
            std = row.get(f"{column}_std")
            if text and std is not None and isinstance(std, float) and not math.isnan(std):
                text = f"{text} ± {format_cell(std, table.formats.get(column))}"
            low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
            if text and isinstance(low, float) and isinstance(high, float) and not math.isnan(low + high):
                fmt = table.formats.get(column)
                text = f"{text} [{format_cell(low, fmt)}, {format_cell(high, fmt)}]"
            cells.append(text or "–")
        rows.append(cells)
    return [column_label(str(c)) for c in columns], rows


def to_markdown(table: Table) -> str:
    header, rows = display_rows(table)
    return markdown(header, rows, table.name, table.caption)


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def _latex(text: str) -> str:
    text = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    return text.replace("±", r"$\pm$").replace("–", "--").replace("²", r"$^2$")


def to_latex(table: Table) -> str:
    header, rows = display_rows(table)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_latex(table.caption)}}}",
             rf"\label{{tab:{table.name}}}", r"\begin{tabular}{" + "l" * len(header) + "}", r"\toprule",
             " & ".join(_latex(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex(c) for c in cells) + r" \\" for cells in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """Machine-readable: one column per value (std kept apart), floats at the table's precision."""
    out = table.frame.copy()
    for column in out.columns:
        out[column] = [format_cell(v, table.formats.get(column)) for v in out[column]]
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def write_table(table: Table, path: str | Path, fmt: str = "csv") -> Path:
    writers = {"csv": to_csv, "markdown": to_markdown, "latex": to_latex}
    path = Path(path)
    write_text(path, writers[fmt](table))
    return path


def print_table(table: Table, fmt: str = "markdown") -> None:
    """Rich table on a terminal wide enough for it; plain Markdown (or LaTeX) otherwise, e.g. when piped
    (harness.table_print's policy)."""
    if fmt == "latex":
        sys.stdout.write(to_latex(table))
        return
    header, rows = display_rows(table)
    left = [k for k, key in enumerate(shown_columns(table)) if key in TEXT_COLUMNS]
    print_rows(header, rows, table.name, caption=table.caption, left=left)
