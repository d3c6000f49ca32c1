"""The threads bench's busy process (harness.bench.threads_bench.busy_process) never outlives the
bench: a bench killed by a signal runs no `finally`, and an orphaned busy loop would load every
later timing on the machine (it once did, for 46 minutes of a session's measurements)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

BENCH = """
import sys, time
from harness.bench.threads_bench import busy_process
with busy_process(True):
    print("running", flush=True)
    time.sleep(60)
"""


def children_of(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_busy_loop_ends_when_the_bench_is_killed():
    bench = subprocess.Popen([sys.executable, "-c", BENCH], stdout=subprocess.PIPE, text=True)
    try:
        assert bench.stdout.readline().strip() == "running"
        (busy,) = children_of(bench.pid)
        assert alive(busy)
        bench.send_signal(signal.SIGKILL)  # no finally runs in the bench
        bench.wait()
        deadline = time.monotonic() + 10
        while alive(busy) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(busy), "the busy loop outlived its bench"
    finally:
        bench.kill()
        bench.wait()
