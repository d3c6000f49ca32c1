"""The logs people read: train.log lines (iteration, every loss term, lr, s/it averaged since the last
line, ETA, peak memory; evaluations), read back by the sweep's progress watch; a sweep's launched
runs (`--parallel 2`, `--no-progress` children) each leave a train.log with loss lines, and the sweep
prints a line per run start / finish (with its duration and metrics) and progress lines between."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from harness.launch.processes import ProgressWatch
from harness.tracking.run_store import RunStore
from harness.train import train_log
from harness.train.train_log import TrainLog, latest_step

ROOT = Path(__file__).parents[1]
STAMP = r"^\[\d\d/\d\d \d\d:\d\d:\d\d\] "


def test_step_lines_carry_losses_lr_pace_eta_and_memory(tmp_path, monkeypatch):
    clock = iter([0.0, 100.0, 110.0, 130.0])  # made, begin, step 10, step 20
    monkeypatch.setattr(train_log, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    log = TrainLog(tmp_path / "train.log", torch.device("cpu"))
    log.begin(total=100, start=0)
    log.step({"step": 10, "epoch": 0.5, "lr": 0.02, "s_per_it": 0.9, "data_s": 0.1, "loss": 2.5, "loss_mask": 0.75})
    log.step({"step": 20, "epoch": 1.0, "lr_generator": 2e-4, "lr_discriminator": 4e-4, "s_per_it": 1.0,
              "data_s": 0.0, "loss_g": 1.0})
    log.evaluation({"pq": 12.3456, "miou": 40.0, "per_class": {}}, 20)
    lines = (tmp_path / "train.log").read_text().splitlines()
    assert all(re.match(STAMP, line) for line in lines) and "training 100 iterations" in lines[0]
    first, second = (line.split("] ", 1)[1] for line in lines[1:3])
    assert first.startswith("iter: 10/100  loss: 2.5  loss_mask: 0.75  lr: 0.02  s/it: 1.000  eta: 0:01:30  max_mem: ")
    assert "epoch" not in first and "data_s" not in first and first.endswith("M (rss)")
    # pace since the previous line: 20 s for 10 iterations; 80 left
    assert "loss_g: 1  lr_generator: 0.0002  lr_discriminator: 0.0004  s/it: 2.000  eta: 0:02:40" in second
    assert lines[3].endswith("evaluation at iter 20: pq: 12.3456  miou: 40")
    assert latest_step(tmp_path / "train.log") == (second, 0.2)


def test_latest_step_is_none_before_the_first_step(tmp_path):
    assert latest_step(tmp_path / "missing.log") is None
    TrainLog(tmp_path / "train.log", torch.device("cpu")).line("run abc attempt 1")
    assert latest_step(tmp_path / "train.log") is None


def test_the_progress_watch_echoes_every_five_percent(tmp_path):
    log, echoed = tmp_path / "train.log", []
    watch = ProgressWatch("abc", log, echoed.append)
    writer = TrainLog(log, torch.device("cpu"))
    writer.begin(total=100, start=0)
    for step in (1, 3, 6, 7, 12, 100):
        writer.step({"step": step, "lr": 0.1, "loss": 1.0})
        watch()
        watch()  # nothing new: nothing echoed
    assert [re.search(r"iter: (\d+)/", line).group(1) for line in echoed] == ["6", "12", "100"]
    assert all(line.startswith("      run abc: iter: ") for line in echoed)


@pytest.mark.slow
def test_a_parallel_sweeps_runs_write_train_logs_with_loss_lines(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(f"base: mini\ndata: {{synth: {{width: 64, height: 32, count: 4, val_count: 2}}, "
                      f"cache: {tmp_path / 'cache'}}}\ntrain: {{max_iters: 4, log_every: 2}}\n"
                      "eval: {images_logged: 0, every: 2}\ngrid:\n  data.n: [2, 4]\n")
    runs = tmp_path / "runs"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", str(recipe), "--parallel", "2",
                           "--runs-root", str(runs)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    store = RunStore(runs)
    records = list(store.runs())
    assert len(records) == 2
    for record in records:
        text = (store.run_dir(record["run_id"]) / "train.log").read_text()
        steps = re.findall(r"iter: (\d+)/4  loss: [\d.]+  loss_\w+: ", text)
        assert steps == ["2", "4"], text
        assert "evaluation at iter 2: pq: " in text and "final evaluation at iter 4: pq: " in text
        assert f"run {record['run_id']} attempt 1: " in text and "max_mem: " in text
        assert re.search(rf"run {record['run_id']} finished in [\d.]+ s: PQ [\d.]+, mIoU [\d.]+", done.stdout)
        assert re.search(rf"\[\d/2\] run {record['run_id']}: data.n=\d", done.stdout)
