"""The progress bar of all long work (data, PanDA, evaluation, training), built in one place.

A bar is for a person at a terminal. When output is piped (logs, CI, a caller reading stdout) there
is none: rich would still write its last state, or a blank line, there, and a failed command must
print nothing but its one error line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich import get_console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

T = TypeVar("T")


def interactive() -> bool:
    """True when standard output is a terminal (where bars are drawn)."""
    return get_console().is_terminal


def progress_bar(*columns: ProgressColumn, disable: bool = False, transient: bool = False) -> Progress:
    """A rich Progress (default columns: description, bar, done/total, elapsed, remaining); disabled
    when asked or when not `interactive()`; `transient` bars vanish when done."""
    columns = columns or (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TimeRemainingColumn())
    return Progress(*columns, disable=disable or not interactive(), transient=transient)


def track(items: Iterable[T], description: str, disable: bool = False, total: int | None = None) -> Iterator[T]:
    """Iterate `items` under a transient bar."""
    with progress_bar(disable=disable, transient=True) as bar:
        yield from bar.track(items, total=total, description=description)
