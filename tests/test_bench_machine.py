"""The machine a benchmark records beside its figures (harness.bench.machine_load): the CPU's name
from /proc/cpuinfo, the CPUs this process may use and torch's vector ISA where torch is loaded."""

from __future__ import annotations

import platform

import torch

from harness.bench.machine_load import cpu_model, machine, machine_line
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
    assert m["cpus"] == usable_cpus() and m["python"] == platform.python_version()
    assert m["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # torch is loaded here
    assert machine_line({"machine": m}) == f"{m['cpu']}, {m['cpus']} CPUs, torch {m['torch_cpu_capability']}"
    assert machine_line({"machine": {**m, "torch_cpu_capability": None}}) == f"{m['cpu']}, {m['cpus']} CPUs"
