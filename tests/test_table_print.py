"""harness.table_print: Markdown off a terminal (cells escaped, the title and caption above), a rich
table at a terminal wide enough for it, Markdown again when the terminal is too narrow."""

from __future__ import annotations

import pytest

from harness import table_print

HEADER = ["category", "PQ"]
ROWS = [["road", "75.6"], ["a|b", "-"], ["All (n=2)", "75.6"]]


def test_markdown_escapes_cells_and_keeps_every_row():
    text = table_print.markdown(HEADER, ROWS, "Panoptic quality", "two classes")
    assert text.splitlines() == ["**Panoptic quality**: two classes", "", "| category | PQ |", "|---|---|",
                                 "| road | 75.6 |", "| a\\|b | - |", "| All (n=2) | 75.6 |"]


def test_off_a_terminal_the_table_is_markdown(capsys):
    table_print.print_table(HEADER, ROWS, "Panoptic quality", section_before=2)
    assert capsys.readouterr().out == table_print.markdown(HEADER, ROWS, "Panoptic quality")


@pytest.mark.parametrize("width, rich_drawn", [(80, True), (12, False)])
def test_at_a_terminal_rich_draws_it_unless_too_narrow(monkeypatch, capsys, width, rich_drawn):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: a terminal, whatever pytest's capture is
    monkeypatch.setenv("COLUMNS", str(width))
    table_print.print_table(HEADER, ROWS, "Panoptic quality", caption="two classes", section_before=2)
    out = capsys.readouterr().out
    assert ("┃" in out) is rich_drawn and ("| category | PQ |" in out) is not rich_drawn
    assert ("a|b" if rich_drawn else "a\\|b") in out and "All (n=2)" in out and "two classes" in out
