"""One error type per kind of bad input, each naming the file and the problem."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable


class PanbenchError(Exception):
    """Base class: every error panbench raises on purpose, printed without a traceback by the CLI."""


class DatasetError(PanbenchError, ValueError):
    """A panoptic dataset on disk is malformed; the message starts with the offending file."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # rebuilt from (path, problem) when it crosses a process pool
        return type(self), (self.path, self.problem)


class WriteError(PanbenchError, OSError):
    """The system refused a write (disk full, no permission, a file where a folder should be); the
    message starts with the file being written. Still an OSError, for code that handles those."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        return type(self), (self.path, self.problem)


class ConfigError(PanbenchError, KeyError):
    """A recipe or command-line override names something that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


LINE_LIMIT = 600  # characters of one error line: a hostile value (a 50 MB file name) is quoted as a prefix


def clip(text: str, limit: int = LINE_LIMIT) -> str:
    """`text`, or its first `limit` characters and how many were left out."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def warn(message: str) -> None:
    """One warning line on stderr (`panbench: warning: <file>: <problem>`); the command goes on."""
    print(f"panbench: warning: {clip(message)}", file=sys.stderr)


def nearest(word: str, choices: Iterable[str], n: int = 4) -> list[str]:
    """The valid names closest to a mistyped one, nearest first: the one "did you mean" of panbench
    (recipe keys and names, model names and arguments, PanDA parameters). A dotted key whose whole
    spelling matches nothing is compared with the keys of its own section (`train.epoch` ->
    `train.epochs`, whatever else is close)."""
    import difflib  # only where a name is mistyped: every command imports this module

    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=n, cutoff=0.5)
    if close or "." not in word:
        return close
    section = word.rpartition(".")[0]
    siblings = [c for c in choices if c.rpartition(".")[0] == section]
    return difflib.get_close_matches(word, siblings, n=n, cutoff=0.0)
