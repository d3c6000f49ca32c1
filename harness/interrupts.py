"""The stop signals of a cluster (SIGTERM from SLURM, Kubernetes or `kill`; SIGINT from Ctrl-C;
SIGHUP from a closed terminal) turned into an orderly stop, as torchrun's agent and submitit do.

Inside `deferred()` (the training loop) a signal only sets a flag: the step in progress finishes,
the loop checkpoints and raises `Interrupted`. Elsewhere, or at a second signal (DUPLICATE_S or more
after the first), `Interrupted` is raised at once (the step is abandoned; the last checkpoint stays
good). Either way the run is recorded `interrupted`, its W&B run closed and its lock released on
the way out, and the process exits 128 + the signal's number, the shell's convention.

Handlers are only put where the signal still has its default (or Python's Ctrl-C) handler: inside
a submitit job, submitit's own (SIGTERM bypassed, USR2 checkpoint and requeue) keep working. A
forked child (a data worker, a pool process) gets the previous handlers back. Child processes
(`watch`: a sweep's runs, torchrun, an evaluator trained first) are sent the signal this
process received and get CHILD_WAIT_S to record their runs (`wait_for`) before they are killed."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None)
DUPLICATE_S = 1.0  # a repeat within this time is one event delivered twice (a Ctrl-C reaches a whole
# process group, and the sweep forwards it to its children too): only a later repeat abandons the step
CHILD_WAIT_S = 60.0  # how long a sweep waits for its interrupted children before it kills them


class Interrupted(BaseException):
    """A stop signal ended the work. A BaseException, like KeyboardInterrupt: `except Exception`
    clean-ups do not swallow it."""

    def __init__(self, signum: int, iteration: int | None = None, run_id: str | None = None):
        self.signum, self.iteration, self.run_id = signum, iteration, run_id
        super().__init__(signum, iteration, run_id)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def record(self) -> dict:
        """run.json's `interrupted`."""
        return {"signal": self.name, "iteration": self.iteration}

    def __str__(self) -> str:
        at = f" at iteration {self.iteration}" if self.iteration is not None else ""
        if self.run_id is None:
            return f"stopped by {self.name}{at}"
        return f"run {self.run_id} stopped by {self.name}{at}, recorded as interrupted; the same command resumes it"


class _State:
    pending: int | None = None  # the first signal received
    since: float = 0.0  # when
    deferring: int = 0  # depth of deferred() blocks
    installed: dict[int, object] = {}  # signal -> the handler it had before
    children: set[subprocess.Popen] = set()
    lock = threading.Lock()


def _handler(signum: int, frame: FrameType | None) -> None:
    first = _State.pending is None
    if first:
        _State.pending, _State.since = signum, time.monotonic()
    elif time.monotonic() - _State.since < DUPLICATE_S:
        return
    _forward(signum)
    if not first or not _State.deferring:
        raise Interrupted(signum)


def _forward(signum: int) -> None:
    with _State.lock:
        children = [p for p in _State.children if p.poll() is None]
    for child in children:
        try:
            os.kill(child.pid, signum)
        except ProcessLookupError:
            pass


def pending() -> int | None:
    """The signal received, if any (checked by the training loop between steps)."""
    return _State.pending


@contextmanager
def handled() -> Iterator[None]:
    """Turn the stop signals into Interrupted for the duration of the block (nested blocks share the
    outer handlers); outside the main thread it changes nothing (Python allows handlers only there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mine = []
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler):
            _State.installed[signum] = current
            signal.signal(signum, _handler)
            mine.append(signum)
    try:
        yield
    finally:
        for signum in mine:
            signal.signal(signum, _State.installed.pop(signum))
        if mine:  # the outermost block: the next one starts afresh
            _State.pending = None


@contextmanager
def deferred() -> Iterator[None]:
    """Inside: the first signal waits for `pending()` to be looked at (the current step finishes)."""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1


@contextmanager
def watch(child: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Forward the stop signals this process receives to `child` while the block runs."""
    with _State.lock:
        _State.children.add(child)
    if _State.pending is not None:  # it started after the signal
        _forward(_State.pending)
    try:
        yield child
    finally:
        with _State.lock:
            _State.children.discard(child)


def wait_for(child: subprocess.Popen, tick: Callable[[], None] | None = None, every_s: float = 5.0) -> int:
    """`child`'s exit code, calling `tick` every `every_s` seconds meanwhile (a launcher's look at its
    run's progress); once a stop signal is pending (and forwarded to it), it has CHILD_WAIT_S to record
    its run and exit before it is killed."""
    deadline, next_tick = None, time.monotonic() + every_s
    while True:
        try:
            return child.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            if tick is not None and time.monotonic() >= next_tick:
                tick()
                next_tick = time.monotonic() + every_s
            if _State.pending is not None:
                deadline = deadline or time.monotonic() + CHILD_WAIT_S
                if time.monotonic() > deadline:
                    child.kill()


def _restore_in_child() -> None:
    for signum, previous in list(_State.installed.items()):
        signal.signal(signum, previous)
    _State.installed.clear()
    _State.children = set()
    _State.pending, _State.deferring = None, 0


os.register_at_fork(after_in_child=_restore_in_child)
