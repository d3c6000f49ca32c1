"""One error type per kind of bad input, each naming the file and the problem."""

from __future__ import annotations

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


class ConfigError(PanbenchError, KeyError):
    """A recipe or command-line override names something that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
