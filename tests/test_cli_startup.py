"""Start-up: a sub-command imports only what it runs. `panbench --version`, `panbench --help` and
`panbench evaluate panoptic --help` load no third-party module at all (no torch, numpy, scipy, pandas,
matplotlib, wandb, hotcoco, rich): the parser is built from harness/cli.py's table of commands and
the one command module asked for (issue 24). Each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, sys
from harness.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
loaded = {m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names) - {'harness', 'analysis'}
print(json.dumps({'third_party': sorted(m for m in loaded if not m.startswith('_')),
                  'project': sorted(m for m in sys.modules if m.split('.')[0] in ('harness', 'analysis'))}))
"""
LIGHT = (["--version"], ["--help"], ["evaluate", "panoptic", "--help"])


def loaded_by(argv: list[str]) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("argv", LIGHT, ids=" ".join)
def test_light_commands_import_no_third_party_module(argv):
    loaded = loaded_by(argv)
    assert loaded["third_party"] == []  # the pinned set: nothing beyond the standard library
    assert not [m for m in loaded["project"] if m.startswith(("harness.train", "harness.models", "analysis"))]


def test_help_lists_every_command_without_importing_it():
    loaded = loaded_by(["--help"])
    assert not [m for m in loaded["project"] if m.startswith("harness.commands.")]
    full = build_parser()._subparsers._group_actions[0]  # every module registered: the same commands, same order
    assert list(full.choices) == list(COMMANDS)
    assert [a.help for a in full._choices_actions] == [help_line for _, help_line in COMMANDS.values()]


def test_one_command_registers_only_its_module():
    loaded = loaded_by(["evaluate", "panoptic", "--help"])
    assert [m for m in loaded["project"] if m.startswith("harness.commands.")] == ["harness.commands.metrics"]


EVALUATE_PROBE = """
import json, sys
from harness.cli import main
assert main(sys.argv[1:]) == 0
print(json.dumps(sorted(m for m in ('PIL', 'numpy.ma', 'rich.console', 'rich.table', 'rich.progress', 'torch', 'scipy', 'pandas')
                        if m in sys.modules)))
"""


def test_evaluate_panoptic_off_a_terminal_imports_only_what_it_runs(tmp_path):
    """A second `evaluate panoptic` (ground-truth cache warm), its output captured: hotcoco decodes
    the PNGs, so no Pillow; not at a terminal, so no rich at all: Markdown, progress lines (issue 24)."""
    from references.pq_pairs import write_pq_pair

    pair = write_pq_pair(tmp_path / "pair", n=2, height=32, width=48, seed=3)
    argv = ["evaluate", "panoptic", "--gt-json", str(pair["gt_json"]), "--gt-dir", str(pair["gt_dir"]),
            "--pred-json", str(pair["pred_json"]), "--pred-dir", str(pair["pred_dir"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PANBENCH_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", EVALUATE_PROBE, *argv], capture_output=True, text=True, env=env,
                           cwd=ROOT) for _ in range(2)]
    assert all(done.returncode == 0 for done in runs), runs[-1].stderr
    assert "| All (n=" in runs[-1].stdout
    assert json.loads(runs[-1].stdout.splitlines()[-1]) == []
