"""`<run_dir>/train.log`: the run's log for people, written by rank 0 whatever the progress setting
(a sweep's runs have no terminal), in detectron2's style, one line every `train.log_every` iterations:

    [12/07 10:31:02] iter: 40/200  loss: 1.2345  loss_cls: 0.2100  lr: 0.01  s/it: 0.512  eta: 0:01:21  max_mem: 812M

`s/it` is the mean over the iterations since the previous line, the ETA the remaining iterations at
that pace, `max_mem` the peak so far: torch.cuda.max_memory_allocated on a GPU, the process's peak
RSS on the CPU. Evaluations add a line with their metrics. The file is appended per attempt (a
launched run's own output goes to the same file), each attempt opening with a line that names it."""

from __future__ import annotations

import datetime
import math
import re
import time
from pathlib import Path
from typing import Any

import torch

from harness.train.loop import peak_rss_mb

NOT_LOSSES = ("step", "epoch", "s_per_it", "data_s")  # history fields that are not loss terms (nor lrs)
ITER_FORMAT = "iter: {it}/{total}"  # read back by `latest_step` (a sweep's progress lines)
ITER_LINE = re.compile(r"^\[[^\]]*\] (iter: (\d+)/(\d+) .*)$", re.MULTILINE)
TAIL_BYTES = 16384


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


class TrainLog:
    """Appends the lines of one attempt to `path`; `begin` says how many iterations there are."""

    def __init__(self, path: Path, device: torch.device):
        self.path, self.device = Path(path), device
        self.total, self.last_step, self.last_time = 0, 0, time.perf_counter()

    def begin(self, total: int, start: int) -> None:
        """Training of `total` iterations starts (or resumes) at iteration `start`."""
        self.total, self.last_step, self.last_time = total, start, time.perf_counter()
        self.line(f"training {total} iterations" + (f", resumed at iteration {start}" if start else ""))

    def line(self, text: str) -> None:
        stamp = datetime.datetime.now().strftime("%m/%d %H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(f"[{stamp}] {text}\n")

    def max_mem(self) -> str:
        if self.device.type == "cuda":
            return f"{torch.cuda.max_memory_allocated(self.device) / 2**20:.0f}M"
        return f"{peak_rss_mb():.0f}M (rss)"

    def step(self, record: dict[str, Any]) -> None:
        """One history record (harness.train.loop): its losses, lrs and the pace since the last line."""
        it, now = int(record["step"]), time.perf_counter()
        s_it = (now - self.last_time) / (it - self.last_step) if it > self.last_step else math.nan
        self.last_step, self.last_time = it, now
        lrs = {k: v for k, v in record.items() if k == "lr" or k.startswith("lr_")}
        losses = {k: v for k, v in record.items() if k not in NOT_LOSSES and k not in lrs}
        eta = datetime.timedelta(seconds=round(s_it * (self.total - it))) if math.isfinite(s_it) else "?"
        fields = [ITER_FORMAT.format(it=it, total=self.total), *(f"{k}: {_number(v)}" for k, v in losses.items()),
                  *(f"{k}: {v:.4g}" for k, v in lrs.items()), f"s/it: {s_it:.3f}", f"eta: {eta}",
                  f"max_mem: {self.max_mem()}"]
        self.line("  ".join(fields))

    def evaluation(self, metrics: dict[str, Any], step: int, final: bool = False) -> None:
        """The flat metrics of an evaluation at iteration `step`."""
        shown = "  ".join(f"{k}: {_number(v)}" for k, v in metrics.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool))
        self.line(f"{'final evaluation' if final else 'evaluation'} at iter {step}: {shown or '(no metrics)'}")


def latest_step(path: Path) -> tuple[str, float] | None:
    """(the line without its time stamp, the fraction of training done) of the newest step line of
    a train.log, None before the first one."""
    try:
        with open(path, "rb") as log:
            log.seek(max(0, log.seek(0, 2) - TAIL_BYTES))
            tail = log.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    found = list(ITER_LINE.finditer(tail))
    if not found:
        return None
    line, it, total = found[-1].groups()
    return line, int(it) / max(1, int(total))
