"""Which code produced a run (run.json `code` and `packages`). The run id hashes the config only, so
two runs of one cell made by different code share an id; these fields let the analysis and
`panbench runs stale` tell them apart, and `--rerun` make them again.

`code` = {"commit": HEAD's sha or null outside a git checkout, "dirty": whether tracked files differ
from HEAD, "diff_sha256": the SHA-256 of `git diff HEAD` (tracked files; untracked files do not
count) or null when clean}. `packages` = the installed version of each package that can change a
number; one that is not installed is left out. Both are computed once per process (the code a
process runs does not change under it)."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import subprocess
from pathlib import Path

PACKAGES = ("torch", "torchvision", "numpy", "hotcoco", "pycocotools", "torch-fidelity", "imagecodecs", "panbench")
REPO = Path(__file__).resolve().parents[2]  # the checkout this code runs from


def _git(args: list[str], cwd: Path) -> bytes | None:
    """`git ARGS` in `cwd`: its stdout, or None when git is missing or fails (no checkout)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def code_state(cwd: Path = REPO) -> dict:
    """{"commit", "dirty", "diff_sha256"} of the git checkout at `cwd` (see the module docstring)."""
    head = _git(["rev-parse", "HEAD"], cwd)
    commit = head.decode().strip() if head else None
    if commit is None:
        return {"commit": None, "dirty": False, "diff_sha256": None}
    # fixed options: the user's git config (colour, external diff, prefixes) must not change the hash
    diff = _git(["-c", "diff.noprefix=false", "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff",
                 "--no-textconv"], cwd)
    if diff is None:
        return {"commit": commit, "dirty": False, "diff_sha256": None}
    return {"commit": commit, "dirty": bool(diff), "diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None}


@functools.lru_cache(maxsize=None)
def package_versions() -> dict[str, str]:
    """{name: version} of the installed PACKAGES."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def state_of(record: dict) -> tuple[str | None, str | None]:
    """(commit, diff hash) of a run record; a record from before `code` existed has its `git_commit`.
    Values that are not strings (a damaged or hostile run.json) count as unknown."""
    code = record.get("code") if isinstance(record.get("code"), dict) else {}
    commit, diff = code.get("commit", record.get("git_commit")), code.get("diff_sha256")
    return (commit if isinstance(commit, str) else None), (diff if isinstance(diff, str) else None)


def describe_state(state: tuple[str | None, str | None]) -> str:
    """`1a2b3c4d5e` or `1a2b3c4d5e+diff 9f8e7d6c` (a dirty tree), `unknown` outside git."""
    commit, diff = state
    return (commit[:10] if commit else "unknown") + (f"+diff {diff[:8]}" if diff else "")
