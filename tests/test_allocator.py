"""The allocator's policy (harness.allocator): the thresholds reach child processes through the
environment and this process through mallopt; a user's MALLOC_* setting is kept; every entry sets
it (harness.threads.set_process_defaults). Its effect (page faults, kernel time) is a bench figure
(results/bench/engines.json), not a timed assert."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from harness.allocator import ENV, MMAP_THRESHOLD, set_allocation_policy


def test_the_environment_carries_the_thresholds_to_children():
    environ: dict = {}
    set_allocation_policy(environ, in_process=False)
    assert environ == {key: str(value) for key, value in ENV.items()}
    assert int(environ["MALLOC_TRIM_THRESHOLD_"]) >= MMAP_THRESHOLD


def test_a_users_setting_wins():
    environ = {"MALLOC_MMAP_THRESHOLD_": "4096"}
    assert set_allocation_policy(environ) is False
    assert environ == {"MALLOC_MMAP_THRESHOLD_": "4096"}


def test_process_defaults_set_it_in_a_fresh_process():
    code = ("import os; from harness.threads import set_process_defaults; set_process_defaults(); "
            "print(os.environ['MALLOC_MMAP_THRESHOLD_'], os.environ['MALLOC_TRIM_THRESHOLD_'])")
    environ = {k: v for k, v in os.environ.items() if k not in ENV}
    out = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(ENV["MALLOC_MMAP_THRESHOLD_"]), str(ENV["MALLOC_TRIM_THRESHOLD_"])]


def test_mallopt_takes_the_thresholds_on_glibc():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    code = "from harness.allocator import set_allocation_policy; print(set_allocation_policy({}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
