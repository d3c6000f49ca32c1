"""Which code made a run: run.json `code` (commit, dirty, SHA-256 of `git diff HEAD`) on a scratch git
repository, checked against git's own output hashed with hashlib; `packages` against
importlib.metadata; and `panbench runs stale` listing exactly the finished runs of another state."""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
from pathlib import Path

import pytest

from analysis.runs import load_runs
from harness.cli import main
from harness.tracking import provenance
from harness.tracking.provenance import code_state, package_versions
from harness.tracking.run_store import RunStore
from run_records import spec_for


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    git(repo, "add", "a.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return repo


def test_a_clean_tree_has_its_commit_and_no_diff(repo):
    state = code_state.__wrapped__(repo)
    assert state == {"commit": git(repo, "rev-parse", "HEAD").strip(), "dirty": False, "diff_sha256": None}


def test_a_dirty_tree_has_dirty_true_and_the_hash_of_its_diff(repo):
    (repo / "a.py").write_text("x = 2\n")
    (repo / "untracked.py").write_text("not counted\n")
    state = code_state.__wrapped__(repo)
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=repo, check=True, capture_output=True).stdout
    assert b"-x = 1" in diff and b"untracked" not in diff
    assert state["dirty"] is True and state["diff_sha256"] == hashlib.sha256(diff).hexdigest()
    assert state["commit"] == git(repo, "rev-parse", "HEAD").strip()
    (repo / "a.py").write_text("x = 3\n")
    assert code_state.__wrapped__(repo)["diff_sha256"] != state["diff_sha256"]  # another change, another state


def test_outside_a_checkout_the_commit_is_null(tmp_path):
    assert code_state.__wrapped__(tmp_path) == {"commit": None, "dirty": False, "diff_sha256": None}


def test_packages_are_the_installed_versions_and_missing_ones_are_left_out(monkeypatch):
    assert {"torch", "torchvision", "numpy", "pycocotools", "panbench"} <= set(package_versions())
    monkeypatch.setattr(provenance, "PACKAGES", ("torch", "numpy", "no-such-package-for-panbench"))
    versions = package_versions.__wrapped__()  # uncached: the cached call keeps the real list
    assert versions == {"torch": importlib.metadata.version("torch"), "numpy": importlib.metadata.version("numpy")}


def test_run_json_carries_code_and_packages(tmp_path):
    store = RunStore(tmp_path / "runs")
    record = store.start(spec_for("panda-table2-mini", ("data.n=10",)))
    assert record["code"] == code_state() and record["git_commit"] == record["code"]["commit"]
    assert record["packages"] == package_versions() and "torch" in record["packages"]
    assert store.read_run(record["run_id"])["code"] == record["code"]


def test_runs_stale_lists_exactly_the_finished_runs_of_another_state(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    here = code_state()
    other_commit = {"commit": "0" * 40, "dirty": False, "diff_sha256": None}
    other_diff = {**here, "dirty": True, "diff_sha256": "f" * 64}
    ids = {}
    for name, n, code, status in (("same", 10, here, "finished"), ("commit", 20, other_commit, "finished"),
                                  ("diff", 40, other_diff, "finished"), ("failed", 80, other_commit, "failed")):
        spec = spec_for("panda-table2-mini", (f"data.n={n}", "data.synth.count=80"))
        store.start(spec)
        store.finish(spec.run_id, {"pq": 1.0}, 1.0)
        store.update(spec.run_id, code=code, status=status)
        ids[name] = spec.run_id
    other = spec_for("panda-table1-mini", ("data.n=10",))  # another recipe, another state
    store.start(other)
    store.finish(other.run_id, {"pq": 1.0}, 1.0)
    store.update(other.run_id, code=other_commit)
    assert main(["runs", "stale", "--runs-root", str(store.root)]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines()[1:]}
    assert listed == {ids["commit"], ids["diff"], other.run_id}
    assert "3 finished run(s) made by other code" in out and "0000000000" in out and "+diff ffffffff" in out
    assert main(["runs", "stale", "--recipe", "panda-table2-mini", "--runs-root", str(store.root)]) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]} == {ids["commit"], ids["diff"]}
    codes = dict(zip(*load_runs(store.root)[["run_id", "code_state"]].to_dict("list").values()))
    assert codes[ids["commit"]] == "000000000000" and codes[ids["diff"]].endswith("+dirty(diff ffffffff)")


def test_a_hostile_code_field_reads_as_unknown():
    assert provenance.state_of({"code": {"commit": 7, "diff_sha256": ["x"]}}) == (None, None)
    assert provenance.state_of({"code": "abc", "git_commit": "a" * 40}) == ("a" * 40, None)
    assert provenance.describe_state((None, None)) == "unknown"
