"""One error type per kind of bad input, each naming the file and the problem."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


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


def nearest(word: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.4) -> list[str]:
    """The `choices` closest to a mistyped `word`, best first (difflib's ratio), for "did you mean"
    hints in ConfigError messages."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)
