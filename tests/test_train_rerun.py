"""`--rerun`: a finished run is trained again only when asked, and its record is kept beside the new
one (`earlier/<k>/`), never deleted: the store's set-aside, a sweep planning finished cells again
(stand-in trainer), and one tiny real run trained, rerun, and compared with its kept record."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.launch.plan import plan_sweep
from harness.launch.sweep import run_sweep
from harness.tracking.run_store import RunStore
from harness.config.run_spec import RunSpec
from run_records import spec_for

RECIPE = "base: base\nmodel: {name: upsnet-mini}\ngrid:\n  data.n: [10, 20]\n"


def finished(store: RunStore, spec: RunSpec, pq: float = 1.0) -> None:
    store.start(spec)
    store.finish(spec.run_id, {"pq": pq}, 1.0)


def test_set_aside_moves_the_record_and_keeps_the_lock_and_log(tmp_path):
    store = RunStore(tmp_path / "runs")
    spec = spec_for("panda-table2-mini", ("data.n=10",))
    finished(store, spec)
    run_dir = store.run_dir(spec.run_id)
    for name in ("checkpoints/last.pt", "history.jsonl", "predictions/panoptic.json", "wandb/offline-run-x/a",
                 "train.log", "run.lock"):
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_text(name)
    first = json.loads((run_dir / "run.json").read_text())
    assert store.set_aside(spec.run_id) == run_dir / "earlier" / "1"
    assert sorted(p.name for p in run_dir.iterdir()) == ["earlier", "run.lock", "train.log"]
    kept = run_dir / "earlier" / "1"
    assert json.loads((kept / "run.json").read_text()) == first and (kept / "metrics.json").is_file()
    assert (kept / "checkpoints" / "last.pt").read_text() == "checkpoints/last.pt"
    assert (kept / "wandb" / "offline-run-x" / "a").is_file()
    record = store.start(spec)  # the rerun's own record: a fresh attempt, its own W&B run
    assert record["earlier"] == ["earlier/1"] and record["attempts"] == 1
    assert record["wandb_id"] == f"{first['wandb_id']}-r1" and record["started_at"] >= first["started_at"]
    store.finish(spec.run_id, {"pq": 2.0}, 1.0)
    assert store.set_aside(spec.run_id).name == "2" and store.earlier(spec.run_id)[-1].name == "2"
    assert json.loads((run_dir / "earlier" / "2" / "metrics.json").read_text()) == {"pq": 2.0}


def test_a_sweep_reruns_finished_cells_only_when_asked(tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    runs = tmp_path / "runs"
    store = RunStore(runs)
    for planned in plan_sweep(str(recipe), runs_root=runs):
        finished(store, planned.spec)
    calls = []

    def train(spec, runs_root, rerun=False):
        calls.append((spec.run_id, rerun))
        if rerun:
            store.set_aside(spec.run_id)
        finished(store, spec, pq=2.0)

    summary = run_sweep(plan_sweep(str(recipe), runs_root=runs), runs, train=train, echo=lambda s: None)
    assert calls == [] and len(summary.skipped) == 2  # never without being asked
    plan = plan_sweep(str(recipe), runs_root=runs, rerun=True)
    assert [p.state for p in plan] == ["to do", "to do"]
    summary = run_sweep(plan, runs, train=train, echo=lambda s: None)
    assert sorted(calls) == sorted((p.run_id, True) for p in plan) and len(summary.finished) == 2
    for p in plan:
        assert store.read_metrics(p.run_id) == {"pq": 2.0}
        assert json.loads((store.run_dir(p.run_id) / "earlier" / "1" / "metrics.json").read_text()) == {"pq": 1.0}
    assert main(["sweep", str(recipe), "--rerun", "--dry-run", "--runs-root", str(runs)]) == 0
    out = capsys.readouterr().out
    assert out.count("to do (rerun)") == 2 and "for the 2 run(s) left to run" in out


@pytest.mark.slow
def test_train_rerun_trains_a_finished_run_again_and_keeps_the_earlier_record(tmp_path, capsys):
    command = ["train", "panda-table2-mini", "data.n=2", "data.synth.count=3", "data.synth.val_count=2",
               "train.max_iters=2", "train.log_every=1", "eval.images_logged=0", f"data.cache={tmp_path / 'cache'}",
               "--runs-root", str(tmp_path / "runs"), "--no-progress"]
    assert main(command) == 0
    store = RunStore(tmp_path / "runs")
    (record,) = store.runs()
    rid, run_dir = record["run_id"], store.run_dir(record["run_id"])
    metrics, history = store.read_metrics(rid), store.read_history(rid)
    assert main(command) == 0 and "was finished before" in capsys.readouterr().out
    assert not (run_dir / "earlier").exists()
    assert main([*command, "--rerun"]) == 0
    assert "finished record is kept in" in capsys.readouterr().out
    kept = run_dir / "earlier" / "1"
    assert json.loads((kept / "run.json").read_text()) == record
    assert json.loads((kept / "metrics.json").read_text()) == metrics
    assert [json.loads(line) for line in (kept / "history.jsonl").read_text().splitlines()] == history
    assert list((kept / "wandb").glob("offline-run-*")) and (kept / "checkpoints" / "last.pt").is_file()
    again = store.read_run(rid)
    assert again["status"] == "finished" and again["earlier"] == ["earlier/1"]
    assert again["started_at"] >= record["finished_at"] and again["wandb_id"] == record["wandb_id"] + "-r1"
    assert [r["step"] for r in store.read_history(rid)] == [1, 2]  # trained from the start, not resumed
    flat = {k: v for k, v in metrics.items() if k != "per_class"}
    again_flat = {k: v for k, v in store.read_metrics(rid).items() if k != "per_class"}
    assert again_flat == pytest.approx(flat)  # same seed, same code: the same numbers
    log = (run_dir / "train.log").read_text()
    assert log.count(f"run {rid} attempt 1: ") == 2 and log.count("iter: 2/2  loss: ") == 2


def test_rerun_marks_the_grids_runs_never_their_upstream_runs(tmp_path):
    plan = plan_sweep("synth-table1-mini", runs_root=tmp_path / "runs", rerun=True)
    upstream = [p for p in plan if p.upstream is not None]
    assert upstream and not any(p.rerun for p in upstream)  # the evaluators the GANs are scored by stay
    assert all(p.rerun for p in plan if p.upstream is None)
