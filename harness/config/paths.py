"""The run store's default folder and the one command-line option that names it (`--runs-root`),
in one place: every stage that reads or writes runs takes its default from here."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_RUNS_ROOT = Path("results/runs")


def add_runs_root(parser: argparse.ArgumentParser) -> None:
    """`--runs-root DIR` on a sub-command that reads or writes runs."""
    parser.add_argument("--runs-root", type=Path, default=DEFAULT_RUNS_ROOT,
                        help=f"run store (default {DEFAULT_RUNS_ROOT})")
