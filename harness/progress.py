"""The progress display of all long work (data, PanDA, evaluation, training), built in one place.

At a terminal it is a rich bar. When standard output is not a terminal (logs, CI, a cluster job,
a caller reading stdout) a bar cannot be drawn, and going silent for minutes looks like a hang: a
task then prints one plain line to standard output each time it has advanced another
`STEP_PERCENT` (5 %) of its total, at most every `PANBENCH_PROGRESS_SECONDS` (default 10 s) and at
least every `QUIET_LIMIT` such intervals while it advances, and a last line when it ends; work
shorter than the interval prints nothing. Progress never goes to standard error, where a failed
command prints its one error line and nothing else."""

from __future__ import annotations

import datetime
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from harness.errors import ConfigError

if TYPE_CHECKING:  # rich.progress (10 ms) is imported where a bar is drawn: a terminal
    from rich.progress import Progress, ProgressColumn

T = TypeVar("T")
DEFAULT_LINE_SECONDS = 10.0
STEP_PERCENT = 5.0  # a log line per 5 % of a task...
QUIET_LIMIT = 30  # ...but never more than 30 intervals (5 minutes by default) without one while it advances


RICH_TERMINAL_ENV = ("TTY_COMPATIBLE", "FORCE_COLOR")  # what rich reads to decide a terminal beside isatty


def interactive() -> bool:
    """True when standard output is a terminal (where bars are drawn), as rich decides it. rich's
    console (14 ms to import) is asked only where it could say yes: standard output is a tty, or one
    of the variables rich reads to force a terminal is set."""
    if not any(key in os.environ for key in RICH_TERMINAL_ENV):
        isatty = getattr(sys.stdout, "isatty", None)
        try:
            if isatty is None or not isatty():
                return False
        except ValueError:  # a closed stream: no terminal
            return False
    from rich import get_console

    return get_console().is_terminal


def line_seconds() -> float:
    """Seconds between two progress lines off a terminal: `PANBENCH_PROGRESS_SECONDS`, default 10."""
    raw = os.environ.get("PANBENCH_PROGRESS_SECONDS", "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_LINE_SECONDS
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"PANBENCH_PROGRESS_SECONDS: expected a number of seconds >= 0, got {raw!r}")
    return value


def _clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds)))


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float
    fields: dict[str, Any]
    start: float = field(default_factory=time.monotonic)
    printed: float | None = None  # when the last line was printed
    printed_percent: float = 0.0  # how far the task was then


class LineProgress:
    """The bar's stand-in off a terminal, with the part of rich's Progress API panbench uses
    (add_task, update, advance, track, context manager): `PQ: 120/500 (24%), 0:00:31 elapsed,
    ~0:01:38 left` every `STEP_PERCENT` of a task, at most every `interval` seconds (a task without
    a total: every `interval` seconds)."""

    def __init__(self, interval: float | None = None, stream=None):
        self.interval = line_seconds() if interval is None else interval
        self.stream = stream
        self.tasks: list[_Task] = []

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields: Any) -> int:
        self.tasks.append(_Task(description, total, completed, dict(fields)))
        return len(self.tasks) - 1

    def update(self, task_id: int, *, total: float | None = None, completed: float | None = None,
               advance: float | None = None, description: str | None = None, **fields: Any) -> None:
        task = self.tasks[task_id]
        if total is not None:
            task.total = total
        if description is not None:
            task.description = description
        if completed is not None:
            task.completed = completed
        if advance:
            task.completed += advance
        task.fields.update({k: v for k, v in fields.items() if k not in ("visible", "refresh")})
        self._maybe_print(task)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def track(self, sequence: Iterable[T], total: float | None = None, description: str = "working",
              **_: Any) -> Iterator[T]:
        if total is None and hasattr(sequence, "__len__"):
            total = len(sequence)  # type: ignore[arg-type]
        task_id = self.add_task(description, total=total)
        for item in sequence:
            yield item
            self.advance(task_id)

    def _maybe_print(self, task: _Task) -> None:
        now = time.monotonic()
        done = task.total is not None and task.completed >= task.total
        if done and task.printed is not None:
            self._print(task, now, done=True)
            task.printed = None  # the last line
        elif not done and self._due(task, now):
            self._print(task, now, done=False)
            task.printed = now
            task.printed_percent = self._percent(task)

    @staticmethod
    def _percent(task: _Task) -> float:
        return 100.0 * task.completed / task.total if task.total else 0.0

    def _due(self, task: _Task, now: float) -> bool:
        """A line is due once `interval` has passed since the last one (or the start), and the task
        has advanced another STEP_PERCENT since then, or QUIET_LIMIT intervals have passed."""
        since = now - (task.printed if task.printed is not None else task.start)
        if since < self.interval:
            return False
        if not task.total:
            return True
        return (self._percent(task) - task.printed_percent >= STEP_PERCENT
                or 0 < QUIET_LIMIT * self.interval <= since)

    def _print(self, task: _Task, now: float, done: bool) -> None:
        elapsed = now - task.start
        if task.total:
            fraction = task.completed / task.total
            line = f"{task.description}: {task.completed:g}/{task.total:g} ({100 * fraction:.0f}%)"
        else:
            fraction, line = 0.0, f"{task.description}: {task.completed:g}"
        if done:
            line += f", done in {_clock(elapsed)}"
        else:
            line += f", {_clock(elapsed)} elapsed"
            if fraction > 0:
                line += f", ~{_clock(elapsed * (1 - fraction) / fraction)} left"
        shown = {k: v for k, v in task.fields.items() if isinstance(v, (int, float)) and v == v}
        line += "".join(f", {k} {v:.4g}" for k, v in shown.items())
        print(line, file=self.stream or sys.stdout, flush=True)


def progress_bar(*columns: ProgressColumn, disable: bool = False, transient: bool = False) -> Progress | LineProgress:
    """A rich Progress at a terminal (default columns: description, bar, done/total, elapsed,
    remaining; `transient` bars vanish when done), else a LineProgress; nothing when `disable` (a
    LineProgress whose interval never passes)."""
    if disable:
        return LineProgress(interval=math.inf)
    if not interactive():
        return LineProgress()
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = columns or (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TimeRemainingColumn())
    return Progress(*columns, transient=transient)


def track(items: Iterable[T], description: str, disable: bool = False, total: int | None = None) -> Iterator[T]:
    """Iterate `items` under a transient bar (or progress lines off a terminal)."""
    with progress_bar(disable=disable, transient=True) as bar:
        yield from bar.track(items, total=total, description=description)
