"""What a new user reads before running anything: help text on every option of every sub-command,
help without module internals, the recipes listed by `sweep --help`, a dry run that stays one line
per run at the terminal's width and names every missing data root and weights file, and `train`
refusing those before it makes a run folder (`--print-config` lists them and exits 0)."""

from __future__ import annotations

import argparse

import pytest

from harness.cli import build_parser, main
from harness.launch.plan_view import fit_columns
from harness.config.recipes import list_recipes

MISSING = "/nonexistent-panbench-data"
PAPER_DATA = ["data.dataset=cityscapes", f"data.root={MISSING}/train", f"data.val_root={MISSING}/val"]


def sub_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("panbench",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from sub_parsers(sub, (*path, name))


def test_every_option_and_argument_of_every_sub_command_has_help():
    silent = [f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
              for path, parser in sub_parsers(build_parser()) for action in parser._actions
              if not isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))
              and not action.help]
    assert len(list(sub_parsers(build_parser()))) > 20 and silent == []


@pytest.mark.parametrize("command", [["sync"], ["runs", "stale"], ["sweep"], ["train"]])
def test_help_prints_no_module_internals(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert "harness." not in out and "`--runs-root`, shared by" not in out


def test_sweep_help_lists_the_recipes(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(name in out for name in list_recipes()) and "--rerun" in out


def test_fit_columns_cuts_the_named_columns_to_the_width():
    rows = [["a" * 12, "to do (new)", "panda-1x", "data.n=10 " * 12, "0.0431 GPU-h"]]
    lines = fit_columns(("run id", "status", "variant", "cell", "estimate"), rows, width=80, shrink=(3, 2, 1))
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)
    assert lines[1].startswith("a" * 12) and lines[1].endswith("0.0431 GPU-h") and "…" in lines[1]
    wide = fit_columns(("run id", "cell"), [["x", "short"]], width=80, shrink=(1,))
    assert wide == ["run id  cell", "x       short"]


def test_dry_run_is_one_line_per_run_and_names_every_missing_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("PANBENCH_WEIGHTS", str(tmp_path / "weights"))
    assert main(["sweep", "panda-table2", "--dry-run", "--runs-root", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    table = lines[1:lines.index(next(line for line in lines if line.startswith("preflight")))]
    assert len(table) == 1 + 10 and all(len(line) <= 80 for line in table)  # header + one line per run
    preflight = out[out.index("preflight:"):out.index("estimate:")]  # before the estimate
    assert "preflight: 5 problem(s)" in preflight
    assert f"{tmp_path / 'weights'}/resnet50-0676ba61.pth" in preflight and "(10 runs)" in preflight
    assert "data.root=data/cityscapes/train" in preflight and "panoptic_val2017.json does not exist" in preflight
    assert not (tmp_path / "runs").exists()


def test_dry_run_preflight_ok_on_the_mini_recipes(tmp_path, capsys):
    assert main(["sweep", "panda-table2-mini", "--dry-run", "--runs-root", str(tmp_path / "runs")]) == 0
    assert "preflight: ok" in capsys.readouterr().out


def test_print_config_lists_the_problems_and_train_refuses_them_before_a_run_folder(tmp_path, capsys):
    runs = tmp_path / "runs"
    command = ["train", "panda-table2-mini", *PAPER_DATA, "--runs-root", str(runs)]
    assert main([*command, "--print-config"]) == 0
    out = capsys.readouterr().out
    assert '"run_id"' in out and "preflight: 2 problem(s)" in out
    assert f"data.root={MISSING}/train: {MISSING}/train does not exist" in out and f"{MISSING}/val" in out
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"panbench: error: data.root={MISSING}/train")
    assert "and 1 more" in err and not runs.exists()
