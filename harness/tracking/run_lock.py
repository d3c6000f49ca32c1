"""One execution per run: a lease in the run's folder (ARCHITECTURE.md "Run record").

`<run_dir>/run.lock` is a filelock `SoftFileLease`: created with O_EXCL, it records the holder's
host, pid and process start time, and filelock's heartbeat thread refreshes it every LEASE_S / 3
seconds while the holder lives. A process that meets a held lock skips the run and says where it
runs. A lock is stale, and is taken over (the caller says whose it was), when its pid is dead on
this host (filelock compares the pid and its start time, so a recycled pid is not mistaken for the
holder), or when it was taken on another host and nobody has refreshed it for LEASE_S seconds (a
node that died); filelock then watches the lease for LEASE_S seconds itself before it takes it."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import SoftFileLease, Timeout

LOCK_FILE = "run.lock"
LEASE_S = 120.0  # every process contending for a run must use the same value (filelock checks it)


@dataclass(frozen=True)
class Holder:
    """Who holds a run's lock, as its marker says."""

    host: str
    pid: int
    heartbeat_age_s: float  # seconds since the holder last refreshed the lease

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, lease refreshed {self.heartbeat_age_s:.0f} s ago"


class RunLock:
    """The lock of one run folder; `acquire()` never blocks on a live holder."""

    def __init__(self, run_dir: str | Path, lease_s: float = LEASE_S):
        self.path = Path(run_dir) / LOCK_FILE
        self.lease_s = lease_s
        self._lease = SoftFileLease(self.path, lease_duration=lease_s)
        self.took_over: Holder | None = None  # the stale holder this process replaced

    def holder(self) -> Holder | None:
        """The current holder (None when the run is not locked or its marker is unreadable)."""
        owner = self._lease.owner
        if owner is None:
            return None
        try:
            age = max(0.0, time.time() - self.path.stat().st_mtime)
        except FileNotFoundError:
            return None
        return Holder(owner.hostname, owner.pid, age)

    def held_elsewhere(self) -> Holder | None:
        """The holder, unless it is this process, a dead process of this host, or its lease has run
        out: a look that changes nothing (for plans and summaries; `acquire` is the authority)."""
        holder = self.holder()
        if holder is None or self._lease.is_lock_held_by_us or holder.heartbeat_age_s >= self.lease_s:
            return None
        return holder if _may_be_alive(holder) else None

    def acquire(self) -> bool:
        """Take the lock: True when this process now holds it, False when a live holder has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        before = self.holder()
        try:
            self._lease.acquire(blocking=False)  # a dead holder on this host is replaced at once
        except Timeout:
            if before is not None and before.heartbeat_age_s < self.lease_s:
                return False
            try:  # silent for a whole lease (or unreadable): filelock confirms it and takes it over
                self._lease.acquire(timeout=1.5 * self.lease_s)
            except Timeout:
                return False
        self.took_over = before
        return True

    def release(self) -> None:
        if self._lease.is_locked:
            self._lease.release()


def _may_be_alive(holder: Holder) -> bool:
    """False only for a pid of this host that no longer exists (filelock suffixes the host of a
    process in another pid namespace, so such a holder is never judged by this host's pids)."""
    if holder.host != socket.gethostname():
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
