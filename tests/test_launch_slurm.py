"""`panbench sweep --executor slurm` through submitit for real: the SLURM script submitit would
submit, built from the recipe's `launch:` block and `launch.KEY=VALUE` overrides (with a stand-in
`srun` on PATH, as submitit's own tests do); a job array of 2-rank DDP jobs on `--cluster local`
(submitit's local executor: one process per task); a job preempted with SIGUSR2 checkpoints, is requeued by submitit and
resumes from its checkpoint; `--cluster debug` runs the job in this process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.config.run_spec import RunSpec
from harness.launch.slurm import SUBMITIT_DIR, make_executor
from harness.tracking.run_lock import RunLock
from harness.tracking.run_store import RunStore
from test_launch_sweeps import ENV, summary_counts, tiny_recipe

ROOT = Path(__file__).parents[1]


def test_the_sbatch_script_follows_the_launch_block_and_its_overrides(tmp_path, monkeypatch):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    spec = RunSpec.from_recipe("panda-table2", ["data.n=10", "launch.partition=gpu", "launch.account=proj42",
                                                "launch.time_min=90", "launch.mem_gb=64",
                                                "launch.setup=[module load cuda/12.4]"])
    assert spec.run_id == RunSpec.from_recipe("panda-table2", ["data.n=10"]).run_id  # launch: never in the id
    executor = make_executor(tmp_path / SUBMITIT_DIR, "slurm", spec.settings.launch, "panbench-panda-table2")
    script = executor._executor._make_submission_file_text("python -m submitit.core._submit x", "uid")
    lines = set(script.splitlines())
    for expected in ("#SBATCH --partition=gpu", "#SBATCH --account=proj42", "#SBATCH --time=90",
                     "#SBATCH --mem=64GB", "#SBATCH --nodes=1", "#SBATCH --gpus-per-node=8",
                     "#SBATCH --ntasks-per-node=8", "#SBATCH --cpus-per-task=8", "#SBATCH --job-name=panbench-panda-table2",
                     "#SBATCH --signal=USR2@90", "module load cuda/12.4"):
        assert expected in lines, script
    assert "--kill-on-bad-exit=1" in script.split("# command", 1)[1]  # srun ends the job when one task fails
    assert executor._executor.max_num_timeout == spec.settings.launch.max_requeues


def test_cluster_slurm_without_slurm_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun here
    assert main(["sweep", "panda-table2-mini", "data.n=10", "data.panda=none", "--executor", "slurm",
                 "--runs-root", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--cluster slurm: " in err[0] and "srun" in err[0] and "--cluster local" in err[0]


@pytest.mark.slow
def test_a_job_array_of_two_rank_ddp_jobs_on_submitits_local_cluster(tmp_path):
    recipe = tiny_recipe(tmp_path)
    cmd = [sys.executable, "-m", "harness.cli", "sweep", str(recipe), "--executor", "slurm", "--cluster", "local",
           "data.n=4", "train.max_iters=2", "launch.tasks_per_node=2", "launch.cpus_per_task=1",
           "--runs-root", str(tmp_path / "runs")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary_counts(done.stdout) == {"finished": 2, "skipped": 0, "failed": 0, "running elsewhere": 0}
    assert "submitted 2 job(s) to local" in done.stdout and "1 node(s) x 2 task(s)" in done.stdout
    store = RunStore(tmp_path / "runs")
    records = list(store.runs())
    assert len(records) == 2 and {r["status"] for r in records} == {"finished"}
    for record in records:  # each job's two tasks trained one run as DDP ranks; rank 0 alone wrote
        assert record["world_size"] == 2 and record["attempts"] == 1
        assert [h["step"] for h in store.read_history(record["run_id"])] == [1, 2]
        assert len(list((store.run_dir(record["run_id"]) / "wandb").glob("offline-run-*"))) == 1
    task_logs = sorted(p.name.split("_", 1)[1] for p in (tmp_path / "runs" / SUBMITIT_DIR).glob("*/*_log.out"))
    assert task_logs == ["0_log.out", "0_log.out", "1_log.out", "1_log.out"]  # 2 jobs x 2 tasks
    # a second sweep finds both finished and submits nothing
    again = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)
    assert summary_counts(again.stdout)["skipped"] == 2 and "submitted" not in again.stdout


@pytest.mark.slow
def test_a_preempted_job_checkpoints_is_requeued_and_resumes(tmp_path):
    recipe = tiny_recipe(tmp_path)
    iters = 10  # the mini recipe's whole schedule here: 10 epochs of 2 images, 2 per step
    cmd = [sys.executable, "-m", "harness.cli", "sweep", str(recipe), "--executor", "slurm", "--cluster", "local",
           "data.n=2", "data.panda=none", f"train.max_iters={iters}", "launch.cpus_per_task=1",
           "--runs-root", str(tmp_path / "runs")]
    sweep = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT)
    store = RunStore(tmp_path / "runs")
    spec = RunSpec.from_recipe(str(recipe), ["data.n=2", "data.panda=none", f"train.max_iters={iters}"])
    deadline = time.monotonic() + 300
    while len([r for r in store.read_history(spec.run_id) if "eval" not in r]) < 3:  # past the checkpoint at 2
        assert sweep.poll() is None and time.monotonic() < deadline, sweep.communicate()[0]
        time.sleep(0.1)
    job_process = RunLock(store.run_dir(spec.run_id)).holder().pid
    os.kill(job_process, signal.SIGUSR2)  # SLURM's warning before a preemption or the time limit
    out = sweep.communicate(timeout=600)[0]
    assert sweep.returncode == 0, out
    record = store.read_run(spec.run_id)
    assert record["status"] == "finished" and record["attempts"] == 2  # interrupted, requeued, resumed
    train = [r["step"] for r in store.read_history(spec.run_id) if "eval" not in r]
    assert train == list(range(1, iters + 1))
    assert len(list((store.run_dir(spec.run_id) / "wandb").glob("offline-run-*"))) == 1
    (job_log,) = (tmp_path / "runs" / SUBMITIT_DIR).glob("*/*_0_log.out")
    log = job_log.read_text()
    assert "requeued; it resumes from its last checkpoint" in log and "resuming at iteration" in log


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")  # restores this process's threads: the job sets launch.cpus_per_task
def test_the_debug_cluster_runs_the_job_here(tmp_path, capsys):
    recipe = tiny_recipe(tmp_path)
    code = main(["sweep", str(recipe), "--executor", "slurm", "--cluster", "debug", "data.n=2", "data.panda=none",
                 "launch.cpus_per_task=1", "--runs-root", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert summary_counts(out)["finished"] == 1 and "DEBUG_" in out
    (record,) = RunStore(tmp_path / "runs").runs()
    assert record["status"] == "finished" and json.loads(json.dumps(record["cost"]))["cpu_hours"] > 0
