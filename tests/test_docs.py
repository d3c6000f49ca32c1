"""The project documents itself: every section of ARCHITECTURE.md a docstring cites exists, the
files and make targets the documents name exist, and the demo's command list is what `make demo`
runs (one list, harness/demo.py)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from analysis.specs import make_targets
from harness.cli import build_parser
from harness.demo import demo_commands, stage_name

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r'ARCHITECTURE\.md,? "([^"]+)"')


def headings(path: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")}


def sources() -> list[Path]:
    return [p for folder in ("harness", "analysis", "tests") for p in (ROOT / folder).rglob("*.py")]


def test_every_cited_architecture_section_exists():
    sections = headings(ROOT / "ARCHITECTURE.md")
    cited = {(p.relative_to(ROOT), m) for p in sources() for m in CITED.findall(p.read_text())}
    assert len({m for _, m in cited}) >= 3  # dataset layout, run record, one trainer
    assert {(path, m) for path, m in cited if m not in sections} == set()


def test_the_documents_name_only_paths_and_make_targets_that_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z0-9][a-z0-9-]*):", makefile, re.M))
    # the paper tables' pattern rule (`panda-table% synth-table%:`) covers the targets the specs name
    patterns = re.findall(r"^([a-z0-9-]+%(?: [a-z0-9-]+%)*):", makefile, re.M)
    targets |= {t for t in make_targets() if any(fnmatch.fnmatch(t, p.replace("%", "*"))
                                                 for line in patterns for p in line.split())}
    for doc in ("README.md", "ARCHITECTURE.md"):
        text = (ROOT / doc).read_text()
        for target in re.findall(r"`make ([a-z0-9-]+)", text):
            assert target in targets, f"{doc}: make {target}"
        for path in set(re.findall(r"`((?:harness|analysis|recipes|tests)/[\w/.-]+\.(?:py|yaml))`", text)):
            assert (ROOT / path).is_file(), f"{doc}: {path}"
        assert "../shared" not in text


def test_the_demo_runs_both_papers_through_real_sub_commands(tmp_path):
    parser = build_parser()
    commands = demo_commands(tmp_path / "demo", runs_root=tmp_path / "runs", cache=tmp_path / "cache", seeds="0,1")
    for command in commands:
        parser.parse_args(command)  # every one is a valid `panbench` command line
    sweeps = [c for c in commands if c[0] == "sweep"]
    assert [c[1] for c in sweeps] == ["panda-table2-mini", "synth-evaluators-mini", "synth-table1-mini"]
    assert all(f"data.cache={tmp_path / 'cache'}" in c and str(tmp_path / "runs") in c for c in sweeps)
    synthesis = sweeps[2]
    reference = f"synth-evaluators-mini data.cache={tmp_path / 'cache'}"  # exactly the evaluator sweep's runs
    assert f"eval.segmenter={reference}" in synthesis and f"eval.detector={reference}" in synthesis
    assert stage_name(sweeps[0]) == "panbench sweep panda-table2-mini"
    assert stage_name(commands[-1]) == "panbench dashboard"
    assert "--seeds" in sweeps[0] and "--seeds" not in sweeps[1]  # evaluators are not repeated per seed
    assert "harness.demo" in (ROOT / "Makefile").read_text()
