"""Atomic file writes: a temp file in the same folder, fsync, then rename, so a killed process never
leaves a half-written file behind."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's own 0600 would hide datasets from other users


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one line; a line is written with a single write() so readers never see half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def encode_png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


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
