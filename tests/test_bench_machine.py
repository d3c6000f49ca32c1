"""The machine a benchmark records beside its figures (harness.bench.machine_load): the CPU's name
from /proc/cpuinfo, the CPUs this process may use and torch's vector ISA where torch is loaded, and
the share of CPU time a virtual machine's host took during the run (/proc/stat's steal ticks)."""

from __future__ import annotations

import os
import platform

import torch

from harness.bench.machine_load import cpu_model, cpu_ticks, load_line, machine, machine_line, steal_share
from harness.threads import usable_cpus

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor @ 2.60GHz
flags\t\t: fpu avx2 avx512f

processor\t: 1
model name\t: Intel(R) Xeon(R) Processor @ 2.60GHz
"""


def test_cpu_model_reads_the_model_name(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    assert cpu_model(info) == "Intel(R) Xeon(R) Processor @ 2.60GHz"


def test_cpu_model_without_cpuinfo_falls_back_to_platform(tmp_path):
    assert cpu_model(tmp_path / "missing") == (platform.processor() or platform.machine())
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t:   \n")  # an empty name is no name
    assert cpu_model(info) == (platform.processor() or platform.machine())


def test_machine_names_the_cpus_and_torchs_isa():
    m = machine()
    assert m["cpus"] == usable_cpus() and m["cpu_count"] == os.cpu_count() and m["python"] == platform.python_version()
    assert m["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # torch is loaded here
    assert machine_line({"machine": m}) == f"{m['cpu']}, {m['cpus']} CPUs, torch {m['torch_cpu_capability']}"
    assert machine_line({"machine": {**m, "torch_cpu_capability": None}}) == f"{m['cpu']}, {m['cpus']} CPUs"


def test_steal_share_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 20 800 5 0 3 12 40 0\ncpu0 50 0 10 400 2 0 1 6 20 0\n")
    before = cpu_ticks(stat)
    assert before == (100 + 20 + 800 + 5 + 3 + 12, 12)  # guest time is inside user: not added twice
    stat.write_text("cpu  190 0 30 850 5 0 3 62 80 0\n")
    after = cpu_ticks(stat)
    assert steal_share(before, after) == round(50 / (90 + 10 + 50 + 50), 3)
    assert steal_share(before, before) is None and steal_share(None, after) is None
    stat.write_text("intr 1 2 3\n")
    assert cpu_ticks(stat) is None and cpu_ticks(tmp_path / "missing") is None


def test_load_line_names_the_hosts_share_when_measured():
    report = {"load_average_before": [1.0, 1.0, 1.0], "load_average_after": [1.1, 1.0, 1.0]}
    assert load_line(report) == "load average before [1.0, 1.0, 1.0], after [1.1, 1.0, 1.0]"
    assert load_line({**report, "cpu_steal": None}) == load_line(report)
    assert load_line({**report, "cpu_steal": 0.072}).endswith(", CPU time taken by the host 7.2 %")
