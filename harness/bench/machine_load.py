"""The machine and its load average beside a benchmark's timings: a ratio against a FLOP floor
depends on the CPU (a matmul on AVX-512 runs ~1.7x the rate of AVX2, the memory-bound ops around it
do not), and on a shared machine how contended the figures are is part of them."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def load_line(report: dict) -> str:
    """'load average before [...], after [...]' of a report holding `load_average_before/after`, and
    the share of CPU time the host took (`cpu_steal`) where the report has it."""
    line = f"load average before {report['load_average_before']}, after {report['load_average_after']}"
    if report.get("cpu_steal") is not None:
        line += f", CPU time taken by the host {100 * report['cpu_steal']:.1f} %"
    return line


def cpu_ticks(stat: Path = Path("/proc/stat")) -> tuple[int, int] | None:
    """(all, stolen) CPU ticks since boot, from the first line of /proc/stat (Linux; None elsewhere).
    Stolen ticks are those a virtual machine's host gave to others: the load average does not see
    them, yet every figure of a run that had many is slower."""
    try:
        fields = stat.read_text(encoding="ascii").split("\n", 1)[0].split()
        values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    if fields[0] != "cpu" or len(values) < 8:
        return None
    return sum(values), values[7]


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the CPU time between two `cpu_ticks` readings that the host took, or None."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return round((after[1] - before[1]) / (after[0] - before[0]), 3)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's marketing name ("model name" of /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass  # not Linux: platform's answer
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What ran a benchmark: CPU model, the CPUs this process may use (and the machine's count), torch's
    vector ISA (where the bench imported torch; importing it here would add seconds to benches that do
    not), Python, OS."""
    from harness.threads import usable_cpus

    torch = sys.modules.get("torch")
    isa = torch.backends.cpu.get_cpu_capability() if torch is not None else None
    return {"cpu": cpu_model(), "cpus": usable_cpus(), "cpu_count": os.cpu_count(), "torch_cpu_capability": isa,
            "python": platform.python_version(), "platform": platform.platform()}


def machine_line(report: dict) -> str:
    """'<cpu>, <n> CPUs, torch <ISA>' of a report holding `machine` (from `machine()`)."""
    m = report["machine"]
    isa = f", torch {m['torch_cpu_capability']}" if m.get("torch_cpu_capability") else ""
    return f"{m['cpu']}, {m['cpus']} CPUs{isa}"
