"""Atomic writes: a file goes to a temp name in its folder, is fsynced and renamed; a multi-file
output (a dataset, a folder of PNGs) is built in a hidden folder beside its target and renamed into
place at the end. A failed or killed process never leaves a half-written file, nor a folder that
looks like a finished dataset. The system's refusals (disk full, no permission) become one
WriteError naming the file being written."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from harness.codecs import encode_png  # the one PNG encoder of everything panbench writes
from harness.errors import PanbenchError, WriteError

STAGING_MARK = ".partial-"  # `.<target name>.partial-<host>-<pid>`: a multi-file output being built
REPLACED_MARK = ".replaced-"  # the previous contents of a replaced output, removed once the new one is in place


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's own 0600 would hide datasets from other users


@contextmanager
def naming_failures(path: str | Path) -> Iterator[None]:
    """An OSError inside the block becomes a WriteError naming `path` (the file being written),
    the system's reason kept: `x/a.png: cannot write (No space left on device)`."""
    try:
        yield
    except OSError as exc:
        raise WriteError(path, f"cannot write ({exc.strerror or exc})") from None


def write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    """`durable` False skips the fsync (still atomic): for caches, whose readers check what they read
    and rebuild it, so a file a power cut leaves empty costs a rebuild, not a result."""
    path = Path(path)
    with naming_failures(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, _FILE_MODE)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def write_text(path: str | Path, text: str, durable: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), durable)


def write_json(path: str | Path, obj: Any, indent: int | None = 2, durable: bool = True) -> None:
    write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n", durable)


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one line; a line is written with a single write() so readers never see half of it."""
    path = Path(path)
    with naming_failures(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()


def link_or_copy(src: str | Path, dst: str | Path) -> None:
    """Hard-link `src` at `dst` (no extra disk; panbench never edits a file in place, it replaces
    it), or copy it across file systems; through a temp name, so `dst` is never half-written."""
    src, dst = Path(src), Path(dst)
    with naming_failures(dst):
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copy2(src, tmp)
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)


def write_png(path: str | Path, array: np.ndarray) -> None:
    write_bytes(path, encode_png(array))


def write_figure(path: str | Path, figure: Any, format: str | None = None, close: bool = True,
                 **savefig_kwargs: Any) -> Path:
    """A matplotlib figure saved atomically, as `format` (default: the suffix's, e.g. png, svg), then closed."""
    path = Path(path)
    buf = io.BytesIO()
    figure.savefig(buf, format=format or path.suffix.lstrip(".").lower(), **savefig_kwargs)
    if close:
        import matplotlib.pyplot as plt

        plt.close(figure)
    write_bytes(path, buf.getvalue())
    return path


# --- multi-file outputs ---------------------------------------------------------------------------
def _owner_gone(folder: Path, prefix: str) -> bool:
    """True when `folder` (named `<prefix><pid>`) was left by a process of this host that no longer runs."""
    try:
        pid = int(folder.name[len(prefix):])
        os.kill(pid, 0)
    except ValueError:
        return False
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


def _remove_stale_stagings(target: Path, host: str) -> None:
    prefix = f".{target.name}{STAGING_MARK}{host}-"
    for folder in target.parent.glob(f"{prefix}*"):
        if folder.is_dir() and _owner_gone(folder, prefix):
            shutil.rmtree(folder, ignore_errors=True)


def _commit(staging: Path, target: Path, replacing: bool, host: str) -> None:
    with naming_failures(target):
        if not replacing:
            os.rename(staging, target)  # replaces an empty target folder, atomically
            return
        old = target.parent / f".{target.name}{REPLACED_MARK}{host}-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except OSError:
            os.rename(old, target)
            raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def output_folder(target: str | Path, replace: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a fresh hidden folder beside `target` to build a multi-file output in; rename it to
    `target` when the block ends, remove it when the block fails. `target` must be missing or an
    empty folder, unless `replace(target)` says its present contents may go (they are removed only
    once the new folder is in place). Folders left by killed runs on this host are removed; a
    WriteError inside names the file's final path, not its staging one."""
    target = Path(os.path.abspath(target))
    if target.is_symlink():
        target = target.resolve()
    with naming_failures(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise WriteError(target, "exists and is not a folder")
    replacing = target.is_dir() and any(target.iterdir())
    if replacing and not (replace is not None and replace(target)):
        raise PanbenchError(f"{target}: already exists and is not empty; remove it or choose another output folder")
    host = socket.gethostname()
    _remove_stale_stagings(target, host)
    staging = target.parent / f".{target.name}{STAGING_MARK}{host}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with naming_failures(staging):
        staging.mkdir()
    try:
        yield staging
        _commit(staging, target, replacing, host)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, WriteError) and Path(exc.path).is_relative_to(staging):
            raise WriteError(target / Path(exc.path).relative_to(staging), exc.problem) from None
        raise
