"""A run restarted in this process: history.jsonl is cut back to the checkpoint on every restart,
even one before the first checkpoint; the run keeps ONE offline W&B folder, rebuilt from the cut
history (read back with `wandb leet inspect`), so W&B holds each step once; `RunStore.start` carries
the W&B link, listed samples and spent cost across attempts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.run_spec import RunSpec
from harness.tracking.run_store import RunStore
from harness.train.loop import Trainer
from test_tracking_run_record import wandb_history, wandb_summary

TINY = ["data.n=2", "data.synth.count=2", "data.synth.val_count=1", "data.synth.width=64", "data.synth.height=32",
        "train.max_iters=4", "train.log_every=1", "train.checkpoint_every=2", "eval.every=3", "eval.images_logged=0"]


def steps(run_dir: Path) -> list[tuple[int, bool]]:
    return [(r["step"], "eval" in r) for r in RunStore(run_dir.parent).read_history(run_dir.name)]


def interrupt_at(monkeypatch, iteration: int) -> None:
    real_step = Trainer.step

    def step(self, batch):
        if self.iteration == iteration:
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "step", step)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_restart_before_the_first_checkpoint_and_after_it_logs_each_step_once(tmp_path, monkeypatch):
    import harness.train.run as run_module

    spec = RunSpec.from_recipe("panda-table2-mini", [*TINY, f"data.cache={tmp_path / 'cache'}"])
    runs = tmp_path / "runs"
    run_dir = runs / spec.run_id
    interrupt_at(monkeypatch, 1)  # killed in its 2nd iteration: no checkpoint yet
    with pytest.raises(KeyboardInterrupt):
        run_module.run_training(spec, runs, progress=False)
    assert steps(run_dir) == [(1, False)] and not (run_dir / "checkpoints" / "last.pt").exists()
    monkeypatch.undo()
    interrupt_at(monkeypatch, 3)  # then in its 4th: checkpoint at 2, an evaluation at 3
    with pytest.raises(KeyboardInterrupt):
        run_module.run_training(spec, runs, progress=False)
    assert steps(run_dir) == [(1, False), (2, False), (3, False), (3, True)]
    monkeypatch.undo()
    run_module.run_training(spec, runs, progress=False)

    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["attempts"] == 3
    assert steps(run_dir) == [(1, False), (2, False), (3, False), (3, True), (4, False)]  # 3 again: after the cut
    assert not (run_dir / "run.lock").exists()
    folders = list((run_dir / "wandb").glob("offline-run-*"))
    assert [str(f) for f in folders] == [record["wandb_dir"]]  # one offline run per run id
    rows = wandb_history(folders[0])
    assert [row["_step"] for row in rows] == [1, 2, 3, 4]  # replayed then continued, no step twice
    history = RunStore(runs).read_history(spec.run_id)
    train_rows = [h for h in history if "eval" not in h]
    assert [row["train/loss"] for row in rows] == pytest.approx([h["loss"] for h in train_rows])
    assert rows[2]["val/pq"] == pytest.approx(history[3]["eval"]["pq"])  # eval.every=3: val/* history
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert rows[3]["val/pq"] == pytest.approx(metrics["pq"])
    summary = wandb_summary(folders[0])
    assert summary["run_id"] == record["wandb_id"] and summary["summary"]["val/pq"] == pytest.approx(metrics["pq"])
    # every attempt that ended added its CPU time: three attempts of a few seconds each
    assert record["cost"]["gpu_hours"] == 0.0 and 0 < record["cost"]["cpu_hours"] < 0.1


def test_start_carries_the_wandb_link_samples_and_cost_forward(tmp_path):
    store = RunStore(tmp_path)
    spec = RunSpec.from_recipe("panda-table2-mini")
    first = store.start(spec)
    store.update(spec.run_id, wandb_url="https://wandb.ai/me/panbench/runs/x", samples=["samples/grid.png"])
    store.add_cost(spec.run_id, gpu_hours=0.5, cpu_hours=0.25)
    store.fail(spec.run_id, RuntimeError("preempted"))
    again = store.start(spec)
    assert again["wandb_url"] == "https://wandb.ai/me/panbench/runs/x" and again["samples"] == ["samples/grid.png"]
    assert again["wandb_id"] == first["wandb_id"] and again["attempts"] == 2
    store.add_cost(spec.run_id, gpu_hours=0.25, cpu_hours=0.25)
    assert store.read_run(spec.run_id)["cost"] == {"gpu_hours": 0.75, "cpu_hours": 0.5}


def test_one_salt_per_store_and_a_different_one_per_store(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:  # stores opened at the same moment agree on one salt
        salts = set(pool.map(lambda _: RunStore(tmp_path / "a").salt(), range(16)))
    assert len(salts) == 1
    salt = salts.pop()
    assert RunStore(tmp_path / "a").wandb_id("0123456789ab") == f"0123456789ab-{salt}"
    assert RunStore(tmp_path / "b").salt() != salt  # another person's store: another W&B run for the same cell
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [".store.json"]  # no draft left behind
