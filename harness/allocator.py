"""The C allocator's policy of panbench's processes, set in one place (`set_allocation_policy`, called
by harness.threads.set_process_defaults at every entry: `panbench`, torchrun's workers, the benches).

Why: glibc serves blocks above its mmap threshold (128 KiB, raised only as far as the largest block
freed so far) with fresh `mmap`s and returns the heap's top to the kernel past its trim threshold.
The evaluation engines (hotcoco's PQ and COCOeval) allocate and free megabytes per image (a
2048x1024 id map is 8 MiB), so every image touched fresh pages: in one process, 3 passes of
hotcoco's PQ over 8 such images took 74,824 minor page faults and 0.14-0.16 s of kernel time
(about 6 ms per image, 40 % of its 15 ms); with the thresholds below, 6 faults and no kernel time
(issue 24; `make bench`, results/bench/engines.json "allocator"). Blocks up to MMAP_THRESHOLD now
come from the heap and stay mapped for the next image; at most TRIM_THRESHOLD of free heap is
kept from the kernel, memory the next image reuses. The values are the ones glibc reaches by itself
once it has freed a 32 MiB block (its dynamic threshold's ceiling), set from the start and no
higher: the issue's 256 MiB removed the same faults, but would keep training's larger activations
(a paper-scale step frees hundreds of MiB) in a fragmenting heap instead of unmapping them.

In this process the thresholds are set through `mallopt` (glibc's, through ctypes; elsewhere, e.g.
macOS or musl, nothing is done); child processes (spawned workers, torchrun, subprocesses) read
the same values from `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` at their start. The
environment wins: where either variable is already set, glibc has applied it and nothing is changed."""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 32 << 20  # bytes: glibc's own ceiling for its dynamic threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # glibc's own ratio when it raises the mmap threshold itself
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
ENV = {"MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD, "MALLOC_TRIM_THRESHOLD_": TRIM_THRESHOLD}


def _glibc_mallopt():
    """glibc's `mallopt`, or None where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(None)  # this process's symbols, the C library's among them (no ldconfig lookup)
        libc.gnu_get_libc_version  # glibc only
        return libc.mallopt
    except (OSError, AttributeError):
        return None


def set_allocation_policy(environ: os._Environ | dict = os.environ, in_process: bool = True) -> bool:
    """Set the thresholds for child processes (environment) and, with `in_process`, in this one
    (mallopt); True when this process's allocator took them. A user's MALLOC_* setting is kept."""
    if any(str(environ.get(key, "")).strip() for key in ENV):
        return False
    for key, value in ENV.items():
        environ[key] = str(value)
    mallopt = _glibc_mallopt() if in_process else None
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
