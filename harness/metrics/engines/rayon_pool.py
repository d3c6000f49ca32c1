"""hotcoco runs on rayon's global thread pool, started at its first use in a process, sized by
`RAYON_NUM_THREADS` then (harness.threads sets it) and never again. The pool does not survive
`fork`: in a forked child of a process that used it, hotcoco waits forever on threads the child
does not have. The engines therefore record which process started the pool and, in any other
(a fork child), hand the evaluation to their reference implementation, which gives the same numbers."""

from __future__ import annotations

import os

_started_by: int | None = None


def pool_usable() -> bool:
    """False in a forked child of the process that started hotcoco's pool."""
    return _started_by is None or _started_by == os.getpid()


def mark_pool_started() -> None:
    """Called before every hotcoco evaluation: the first call names this process as the pool's."""
    global _started_by
    if _started_by is None:
        _started_by = os.getpid()
