"""The command line's shared flags: one spelling per concept (`--runs-root` for the run store in
every sub-command, its default in one place; the old `--runs` is gone) and `panbench --version`."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from harness.cli import build_parser, main

RUN_STORE_COMMANDS = (["train", "mini"], ["sweep", "mini"], ["sync"], ["table", "panda-table2"],
                      ["figure", "fig3", "--out", "x"], ["report"], ["dashboard"])


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"panbench {importlib.metadata.version('panbench')}"


@pytest.mark.parametrize("argv", RUN_STORE_COMMANDS, ids=[a[0] for a in RUN_STORE_COMMANDS])
def test_every_run_store_command_takes_runs_root(argv):
    args = build_parser().parse_args([*argv, "--runs-root", "/tmp/store"])
    assert args.runs_root == Path("/tmp/store")
    assert build_parser().parse_args(argv).runs_root == Path("results/runs")


@pytest.mark.parametrize("command", ["table", "figure", "report", "dashboard"])
def test_old_runs_spelling_is_gone(command, capsys):
    argv = {"table": ["table", "panda-table2"], "figure": ["figure", "fig3", "--out", "x"]}.get(command, [command])
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--runs", "/tmp/old"])
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv[:2 if command == "figure" else 1], "--help"])  # a figure's own flags
    shown = capsys.readouterr().out
    assert "--runs-root" in shown and "--runs " not in shown and "--runs\n" not in shown


def test_the_run_store_folder_is_named_once_in_the_code():
    """`results/runs` is written in one place (harness/config/paths.py); every default reads it."""
    root = Path(__file__).resolve().parents[1]
    sources = [p for folder in ("harness", "analysis") for p in sorted((root / folder).rglob("*.py"))]
    naming = [str(p.relative_to(root)) for p in sources for _ in range(p.read_text(encoding="utf-8").count("results/runs"))]
    assert naming == ["harness/config/paths.py"]
