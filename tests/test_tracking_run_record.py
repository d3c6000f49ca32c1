"""One tiny end-to-end run (mini UPSNet-style model, 2 synthetic scenes + their PanDA 1x copies,
2 iterations, evaluation on 2 scenes) and its record: run.json / metrics.json / history.jsonl as in
ARCHITECTURE.md, the W&B offline run read back with wandb's own reader (`wandb leet inspect`: its
summary, and its history records), and a finished run skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config.run_spec import RunSpec
from harness.tracking.run_store import METRIC_KEYS, RunStore

pytestmark = pytest.mark.slow

RUN_KEYS = {"run_id", "recipe", "config", "git_commit", "seed", "model", "dataset", "n", "variant", "status",
            "error", "started_at", "finished_at", "duration_s", "wandb_dir", "cell", "n_requested", "panda",
            "wandb_id", "cost"}


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


def wandb_summary(offline: Path) -> dict:
    """The offline run as wandb's own reader sees it (state, summary, config, tags)."""
    out = subprocess.run([WANDB_CLI, "leet", "inspect", "--summary", "--json", str(offline)], capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def wandb_history(offline: Path) -> list[dict]:
    """The history rows of the offline run's transaction log, read by `wandb leet inspect --json`."""
    out = subprocess.run([WANDB_CLI, "leet", "inspect", "--json", str(offline)], capture_output=True, text=True,
                         timeout=120, check=True)
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [r["history"]["item"] for r in records if r.get("type") == "history"]


WANDB_CLI = str(Path(sys.executable).with_name("wandb"))


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
    run = wandb_summary(offline)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run["run_id"] == record["wandb_id"] and run["state"] == "finished"
    salt = json.loads((run_dir.parent / ".store.json").read_text())["salt"]
    assert record["wandb_id"] == f"{record['run_id']}-{salt}"  # the store's salt: one W&B run per store
    assert set(run["tags"]) == {"synth", "n=2", "seed=0", "panda=panda-1x"}  # the seed too (issue 21)
    assert run["summary"]["val/pq"] == pytest.approx(metrics["pq"])
    assert run["summary"]["val/miou"] == pytest.approx(metrics["miou"])
    assert not {"pq", "miou"} & set(run["summary"])  # final metrics are val/*, like the losses are train/*
    assert "per_class" in run["summary"] and "train/loss" in run["summary"]


def test_wandb_history_has_val_at_the_last_step_a_single_name_column_and_file_name_captions(finished_run):
    _, run_dir = finished_run
    offline = Path(json.loads((run_dir / "run.json").read_text())["wandb_dir"])
    rows = wandb_history(offline)
    assert [row["_step"] for row in rows] == [1, 2]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert rows[-1]["val/pq"] == pytest.approx(metrics["pq"]) and "val/pq" not in rows[0]
    # the per-class table W&B stored (its file, named by the history row): one `name` column
    table = json.loads((offline / "files" / rows[-1]["per_class.path"]).read_text())
    assert table["columns"][:3] == ["category_id", "name", "isthing"] and table["columns"].count("name") == 1
    names = {str(row[0]): row[1] for row in table["data"]}
    assert names == {cid: row["name"] for cid, row in metrics["per_class"].items()}
    # prediction images captioned with the validation image's file name
    val_root = Path(json.loads((run_dir / "run.json").read_text())["data"]["val_root"])
    first = json.loads((val_root / "panoptic.json").read_text())["images"][0]["file_name"]
    assert rows[-1]["predictions.captions"] == [first]


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


def test_wandb_config_holds_only_the_sections_of_the_run_and_its_name_the_seed(finished_run):
    cfg, run_dir = finished_run
    record = json.loads((run_dir / "run.json").read_text())
    run = wandb_summary(Path(record["wandb_dir"]))
    config = {k.split(".")[0] for k in run["config"]} if isinstance(run["config"], dict) else set()
    assert {"model", "data", "train", "panda"} <= config and not {"launch", "gan"} & config
    assert run["config"]["seed"] in (0, {"value": 0}) and record["run_id"] == cfg.run_id
    assert run["name"] == "panda-table2-mini/upsnet-mini/n=2/panda-1x/seed=0"
