"""One tiny end-to-end run (mini UPSNet-style model, 2 synthetic scenes + their PanDA 1x copies,
2 iterations, evaluation on 2 scenes) and its record: run.json / metrics.json / history.jsonl as in
ARCHITECTURE.md, the W&B offline run read back with `wandb leet inspect`, and a finished run skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.tracking.run_store import METRIC_KEYS, RunStore
from harness.train.run_spec import RunSpec

pytestmark = pytest.mark.slow

RUN_KEYS = {"run_id", "recipe", "config", "git_commit", "seed", "model", "dataset", "n", "variant", "status",
            "error", "started_at", "finished_at", "duration_s", "wandb_dir", "cell", "n_requested", "panda"}


def tiny_overrides(cache: Path) -> list[str]:
    return ["data.n=2", "data.panda=1x", "data.synth.count=3", "data.synth.val_count=2", "train.max_iters=2",
            "train.log_every=1", "eval.images_logged=1", f"data.cache={cache}"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from harness.train.run import run_training

    tmp = tmp_path_factory.mktemp("record")
    overrides = tiny_overrides(tmp / "cache")
    cfg = RunSpec.from_recipe("panda-table2-mini", overrides)
    run_dir = run_training(cfg, tmp / "runs", progress=False).run_dir
    return cfg, run_dir


def test_run_json_follows_the_contract(finished_run):
    _, run_dir = finished_run
    record = json.loads((run_dir / "run.json").read_text())
    assert RUN_KEYS <= set(record)
    assert record["status"] == "finished" and record["error"] is None
    assert record["run_id"] == run_dir.name and record["recipe"] == "panda-table2-mini"
    assert (record["model"], record["dataset"], record["n"], record["variant"]) == ("upsnet-mini", "synth", 2,
                                                                                    "panda-1x")
    assert record["n_requested"] == 2 and record["cell"] == {"data.n": 2, "data.panda": "1x"}
    assert record["panda"] == {"name": "panda-1x", "copies": 1, "ops": ["dropout", "resize", "shift"], "params": {}}
    assert record["n_train"] == 4 and record["iterations"] == 2 and record["duration_s"] > 0
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_metrics_json_has_flat_percentages_and_per_class(finished_run):
    cfg, run_dir = finished_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    flat = {k: v for k, v in metrics.items() if k != "per_class"}
    assert set(flat) <= set(METRIC_KEYS)
    assert {"pq", "sq", "rq", "pq_th", "pq_st", "miou", "accuracy"} <= set(flat)
    assert all(0.0 <= v <= 100.0 for v in flat.values())
    assert set(metrics["per_class"]) == {"7", "8", "11", "12", "13", "17", "19", "20", "21", "22", "23", "24",
                                         "25", "26", "27", "28", "31", "32", "33"}
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2] and all("loss" in h and "lr" in h for h in history)
    # the predictions the metrics came from are under the run dir, in COCO-panoptic form
    predictions = json.loads((run_dir / "predictions" / "panoptic.json").read_text())
    assert len(predictions["annotations"]) == 2


def test_metrics_json_equals_cityscapesscripts_on_the_run_predictions(finished_run):
    """The recorded PQ counts (and averages) are cityscapesscripts' own on the files the run wrote."""
    from references.reference_pq import reference_pq

    _, run_dir = finished_run
    val_root = Path(json.loads((run_dir / "run.json").read_text())["data"]["val_root"])
    gt_json = run_dir / "predictions" / "gt_subset.json"
    gt_json = gt_json if gt_json.is_file() else val_root / "panoptic.json"
    ref = reference_pq(gt_json, val_root / "panoptic", run_dir / "predictions" / "panoptic.json",
                       run_dir / "predictions" / "panoptic")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    recorded = {int(c): (row["tp"], row["fp"], row["fn"]) for c, row in metrics["per_class"].items()}
    assert {c: n for c, n in recorded.items() if sum(n)} == {c: n for c, n in ref["counts"].items() if sum(n)}
    for key in ("pq", "sq", "rq", "pq_th", "pq_st"):
        if key in ref:
            assert metrics[key] == pytest.approx(ref[key], abs=1e-9)


def test_the_evaluations_ground_truth_cache_lies_under_data_cache(finished_run):
    """Training's PQ / AP engines keep their ground-truth records beside the run's generated data."""
    cfg, _ = finished_run
    cached = sorted(p.name.split("-")[0] for p in (Path(cfg.settings.data.cache) / "ground_truth").glob("*.json"))
    assert cached == ["coco", "png"]  # coco-instances-*, png-segment-ids-*


def test_wandb_offline_run_holds_the_final_metrics(finished_run):
    _, run_dir = finished_run
    record = json.loads((run_dir / "run.json").read_text())
    offline = Path(record["wandb_dir"])
    assert offline.parent == run_dir / "wandb" and offline.name.startswith("offline-run-")
    wandb_cli = str(Path(sys.executable).with_name("wandb"))
    out = subprocess.run([wandb_cli, "leet", "inspect", "--summary", "--json", str(offline)], capture_output=True,
                         text=True, timeout=120, check=True)
    run = json.loads(out.stdout)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run["run_id"] == record["run_id"] and run["state"] == "finished"
    assert set(run["tags"]) == {"synth", "n=2", "panda=panda-1x"}
    assert run["summary"]["pq"] == pytest.approx(metrics["pq"])
    assert run["summary"]["miou"] == pytest.approx(metrics["miou"])
    assert "per_class" in run["summary"] and "train/loss" in run["summary"]


def test_finished_run_is_skipped(finished_run, monkeypatch):
    import harness.train.run as run_module

    cfg, run_dir = finished_run
    monkeypatch.setattr(run_module, "Trainer", None)  # training again would fail
    before = (run_dir / "run.json").read_bytes()
    result = run_module.run_training(cfg, run_dir.parent, progress=False)
    assert result.run_dir == run_dir and result.skipped
    assert (run_dir / "run.json").read_bytes() == before
    assert RunStore(run_dir.parent).is_finished(run_dir.name)


def test_sync_lists_the_offline_runs(finished_run, capsys):
    from harness.cli import main

    _, run_dir = finished_run
    assert main(["sync", "--dry-run", "--runs-root", str(run_dir.parent)]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == [json.loads((run_dir / "run.json").read_text())["wandb_dir"]]
    assert main(["sync", "--dry-run", "--runs-root", str(run_dir.parent), "ffffffffffff"]) == 2
