"""`panbench weights check [FILE ...]`: for each weights file, whether it is where panbench looks and
whether its bytes are the publisher's. torch hub's publishers (torchvision, torch-fidelity) put the
first hex digits of the file's SHA-256 in its name (`resnet50-0676ba61.pth`), the check torch hub
runs after a download; for files published without a hash (fyu/drn, deeplab-pytorch) and files of
one's own, the check is that the file reads as plain tensors (`weights_only=True`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.weight_files import KNOWN_FILES, candidate_path
from harness.weights import WeightsError, file_sha256, read_state_dict

OK, ABSENT, CORRUPTED = "ok", "absent", "corrupted"


@dataclass(frozen=True)
class FileCheck:
    path: Path
    status: str  # OK, ABSENT or CORRUPTED
    detail: str


def check_file(value: str | os.PathLike) -> FileCheck:
    """The state of the file `value` names (a path, or a bare name looked up in PANBENCH_WEIGHTS)."""
    path = candidate_path(value)
    known = KNOWN_FILES.get(path.name)
    if not path.is_file():
        get = f"; download it once from {known.source}" if known else ""
        return FileCheck(path, ABSENT, f"not found{get}")
    if known is not None and known.sha256_prefix:
        digest = file_sha256(path)
        if not digest.startswith(known.sha256_prefix):
            return FileCheck(path, CORRUPTED, f"sha256 {digest[:12]}... does not start with the publisher's "
                                              f"{known.sha256_prefix} (a partial or altered download)")
        return FileCheck(path, OK, f"sha256 starts with the publisher's {known.sha256_prefix}")
    try:
        state = read_state_dict(path)
    except WeightsError as exc:
        return FileCheck(path, CORRUPTED, exc.problem)
    published = "no hash published; " if known is not None else ""
    return FileCheck(path, OK, f"{published}reads as {len(state)} tensors")


def check_files(values: list[str] | None = None) -> list[FileCheck]:
    """`values`, or every file panbench knows (KNOWN_FILES) where panbench looks for it."""
    return [check_file(v) for v in (values or list(KNOWN_FILES))]
