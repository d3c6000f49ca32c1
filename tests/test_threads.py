"""The thread policy (harness.threads): which setting decides each count, in order environment >
recipe (`train.threads`) > auto, and what is applied to a process. No timing here: the measurements
behind the policy are harness/bench/threads_bench.py's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from harness.config.run_spec import RunSpec
from harness.errors import ConfigError
from harness.threads import apply_thread_policy, auto_threads, plan_threads, rayon_threads, set_process_defaults


@pytest.mark.parametrize("cpus, processes, expected", [(1, 1, 1), (2, 1, 1), (4, 1, 2), (16, 1, 8), (16, 4, 2),
                                                        (16, 8, 1), (2, 2, 1)])
def test_auto_is_half_the_cpus_shared_by_the_local_processes(cpus, processes, expected):
    assert auto_threads(cpus, processes) == expected
    assert plan_threads("auto", environ={"LOCAL_WORLD_SIZE": str(processes)}, cpus=cpus).intra_op == expected


def test_recipe_number_beats_auto_and_hotcoco_follows():
    plan = plan_threads("3", environ={}, cpus=2)
    assert (plan.intra_op, plan.intra_op_source, plan.rayon, plan.rayon_source) == (3, "train.threads", 3,
                                                                                    "intra-op count")
    assert plan_threads(5, environ={}, cpus=2).intra_op == 5


@pytest.mark.parametrize("key", ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_the_environment_wins_over_the_recipe(key):
    plan = plan_threads("3", environ={key: "2"}, cpus=16)
    assert (plan.intra_op, plan.intra_op_source) == (2, key)
    assert plan_threads("auto", environ={key: "6"}, cpus=2).intra_op == 6


def test_omp_num_threads_is_read_before_mkl_num_threads_as_torch_reads_them():
    assert plan_threads("auto", environ={"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "5"}, cpus=8).intra_op == 2
    assert plan_threads("auto", environ={"OMP_NUM_THREADS": " ", "MKL_NUM_THREADS": "5"}, cpus=8).intra_op == 5


def test_rayon_num_threads_wins_for_hotcoco_alone():
    plan = plan_threads("auto", environ={"RAYON_NUM_THREADS": "4"}, cpus=2)
    assert (plan.intra_op, plan.rayon, plan.rayon_source) == (1, 4, "RAYON_NUM_THREADS")


@pytest.mark.parametrize("environ, setting, names", [({}, "0", "train.threads"), ({}, "many", "train.threads"),
                                                      ({"OMP_NUM_THREADS": "x"}, "auto", "OMP_NUM_THREADS"),
                                                      ({"RAYON_NUM_THREADS": "-1"}, "auto", "RAYON_NUM_THREADS")])
def test_bad_counts_are_one_line_naming_the_setting(environ, setting, names):
    with pytest.raises(ConfigError, match=f"^{names} must be a positive number of threads or auto"):
        plan_threads(setting, environ=environ, cpus=2)


def test_the_recipe_key_is_checked_and_left_out_of_the_run_id():
    base = RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=none"])
    assert base.settings.train.threads == "auto"
    two = RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=none", "train.threads=2"])
    assert two.settings.train.threads == "2" and two.run_id == base.run_id
    with pytest.raises(ConfigError, match="train.threads must be a positive number of threads or auto, got 'none'"):
        RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=none", "train.threads=none"])


def test_apply_sets_torch_and_hotcoco_and_the_wait_policy():
    threads = torch.get_num_threads()
    environ: dict[str, str] = {}
    try:
        plan = apply_thread_policy("1", environ=environ)
        assert plan.intra_op == 1 and torch.get_num_threads() == 1
        assert environ == {"OMP_WAIT_POLICY": "PASSIVE", "RAYON_NUM_THREADS": "1"}
        kept = {"OMP_WAIT_POLICY": "ACTIVE", "RAYON_NUM_THREADS": "3"}
        apply_thread_policy("1", environ=kept)
        assert kept == {"OMP_WAIT_POLICY": "ACTIVE", "RAYON_NUM_THREADS": "3"}  # the environment's own stay
    finally:
        torch.set_num_threads(threads)


def test_rayon_threads_sets_the_pool_size_unless_the_environment_did():
    environ: dict[str, str] = {}
    assert rayon_threads(3, environ) == 3 and environ == {"RAYON_NUM_THREADS": "3"}
    assert rayon_threads(5, environ) == 3
    with pytest.raises(ConfigError, match="--workers must be a positive number"):
        rayon_threads(0, {})


def test_set_process_defaults_keeps_what_is_set():
    environ = {"OMP_WAIT_POLICY": "active"}
    set_process_defaults(environ)
    assert environ == {"OMP_WAIT_POLICY": "active"}
    set_process_defaults(environ := {})
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["harness.cli"])  # also torchrun's workers: `-m harness.cli train`
def test_entry_points_set_the_wait_policy_before_torch_loads(entry):
    """`panbench` and torchrun's worker module: OMP_WAIT_POLICY is in the environment by the time
    torch (and GNU OpenMP, which reads it once) is imported."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    probe = ("import builtins, os, sys\n"
             "real = builtins.__import__\n"
             "def watch(name, *a, **k):\n"
             "    if name == 'torch' and 'torch' not in sys.modules:\n"
             "        print('at torch import:', os.environ.get('OMP_WAIT_POLICY'))\n"
             "    return real(name, *a, **k)\n"
             "builtins.__import__ = watch\n"
             f"import {entry}\n"
             + ("try:\n    harness.cli.main(['--version'])\nexcept SystemExit:\n    pass\nimport torch\n"
                if entry == "harness.cli" else ""))
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    first = [line for line in done.stdout.splitlines() if line.startswith("at torch import:")]
    assert first == ["at torch import: PASSIVE"], done.stdout + done.stderr
