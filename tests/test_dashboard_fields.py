"""The dashboard payload's run fields beyond metrics: duration, cost, code state, the seed cell a run
belongs to, the metric directions, validation series, class names from the dataset's categories,
interrupted and damaged records (listed as such, one warning naming the file, every other run rendered).

Records are written through RunStore as training writes them (`start_run`), or as raw JSON where the
record did not come from panbench's training (`crafted_record`)."""

import json

import pytest

from analysis.dashboard import VALIDATION_PREFIXES, dashboard_payload, write_dashboard
from analysis.runs import load_runs
from harness.cli import main as panbench
from harness.data.categories import CITYSCAPES_CATEGORIES
from harness.tracking.run_store import RunStore
from run_records import crafted_record, start_run

SHA = "0123456789abcdef0123456789abcdef01234567"


def _runs(root) -> dict:
    return {r["run_id"]: r for r in dashboard_payload(root)["runs"]}


def test_duration_cost_and_code_state(tmp_path):
    store = RunStore(tmp_path / "runs")
    new = crafted_record(store, "new", seed=0, code={"commit": SHA, "dirty": True, "diff_sha256": "f" * 64},
                         cost={"gpu_hours": 0.25, "cpu_hours": 4.0}).name
    old = crafted_record(store, "old", seed=0, git_commit=SHA[::-1], cost={"gpu_hours": 0.0, "cpu_hours": 0.5}).name
    store.finish(new, {"pq": 1.0}, 3725.5)
    store.finish(old, {"pq": 2.0}, 12.0)
    runs = _runs(tmp_path / "runs")
    assert (runs[new]["duration_s"], runs[new]["cost"], runs[new]["cost_unit"]) == (3725.5, 0.25, "GPU-hours")
    assert runs[new]["code_state"] == f"{SHA[:12]}+dirty(diff ffffffff)"  # analysis.provenance's words
    assert (runs[old]["duration_s"], runs[old]["cost"], runs[old]["cost_unit"]) == (12, 0.5, "CPU-hours")
    assert runs[old]["code_state"] == f"{SHA[::-1][:12]} (no dirty flag)"  # before `code` existed


def test_a_code_state_of_the_wrong_types_is_unknown(tmp_path):
    store = RunStore(tmp_path / "runs")
    crafted_record(store, "odd", seed=0, code={"commit": ["x"], "dirty": "yes", "diff_sha256": 5}, git_commit=SHA)
    crafted_record(store, "odder", seed=0, code="abc", git_commit=7)
    runs = _runs(tmp_path / "runs")
    assert runs["odd"]["code_state"] == "unknown"  # `code` is there: the older field is not consulted
    assert runs["odder"]["code_state"] == "unknown"


def test_seeds_of_one_cell_share_a_cell_key(tmp_path):
    store = RunStore(tmp_path / "runs")
    a0, a1 = (start_run(store, n=8, panda="none", seed=s) for s in (0, 1))
    b0 = start_run(store, n=8, panda="1x", seed=0)
    c0 = start_run(store, n=16, panda="none", seed=0)
    # a setting that changes no result (W&B) keeps the cell; the learning rate does not
    a2 = start_run(store, n=8, panda="none", seed=2, extra=("wandb.entity=someone", "data.workers=3"))
    d0 = start_run(store, n=8, panda="none", seed=0, extra=("train.base_lr=0.5",))
    cells = {rid: run["cell"] for rid, run in _runs(tmp_path / "runs").items()}
    assert cells[a0] == cells[a1] == cells[a2]
    assert len({cells[a0], cells[b0], cells[c0], cells[d0]}) == 4


def test_metric_directions_travel_in_the_payload(tmp_path):
    store = RunStore(tmp_path / "runs")
    rid = crafted_record(store, "synthesis", model="spade-mini", dataset="synth", seed=0).name
    store.finish(rid, {"det_ap": 10.0, "fid": 50.0, "kid": 0.05, "miou": 40.0,
                       "per_class": {"7": {"iou": 80.0}}}, 1.0)
    directions = dashboard_payload(tmp_path / "runs")["higher_is_better"]
    assert directions == {"det_ap": True, "fid": False, "kid": False, "miou": True, "iou": True}


def test_synthesis_per_class_rows_take_names_from_the_dataset_categories(tmp_path):
    store = RunStore(tmp_path / "runs")
    names = {str(c.id): c.name for c in CITYSCAPES_CATEGORIES}
    for rid, dataset in (("on-synth", "synth"), ("on-cityscapes", "cityscapes"), ("elsewhere", "coco_panoptic")):
        crafted_record(store, rid, model="spade-mini", dataset=dataset, seed=0)
        store.finish(rid, {"miou": 40.0, "per_class": {"7": {"iou": 80.0}, "26": {"iou": 40.0},
                                                       "99": {"iou": 1.0}}}, 1.0)
    runs = _runs(tmp_path / "runs")
    for rid in ("on-synth", "on-cityscapes"):
        assert {cid: row["name"] for cid, row in runs[rid]["per_class"].items()} == {
            "7": names["7"], "26": names["26"], "99": "99"}  # road, car; an id no category has stays an id
        assert runs[rid]["per_class"]["7"] == {"name": "road", "iou": 80.0}
    assert runs["elsewhere"]["per_class"]["7"]["name"] == "7"  # a user's dataset: no names known here


def test_validation_series_from_eval_rows_and_val_keys(tmp_path):
    store = RunStore(tmp_path / "runs")
    rid = start_run(store, n=8, panda="none", seed=0)
    for step in (1, 2, 3, 4):
        store.append_history(rid, {"step": step, "loss": 1.0 / step, "val_loss": 2.0 / step})
        if step % 2 == 0:
            store.append_history(rid, {"step": step, "eval": {"pq": 10.0 * step, "miou": 5.0 * step}})
    payload = dashboard_payload(tmp_path / "runs")
    assert payload["validation_series"] == ["eval/miou", "eval/pq", "val_loss"]
    assert all(s.startswith(VALIDATION_PREFIXES) for s in payload["validation_series"])
    assert payload["runs"][0]["history"]["eval/pq"] == [[2, 20.0], [4, 40.0]]


def test_interrupted_run_says_by_which_signal(tmp_path):
    store = RunStore(tmp_path / "runs")
    rid = start_run(store, n=8, panda="none", seed=0)
    store.update(rid, status="interrupted", interrupted={"signal": "SIGTERM", "iteration": 3})
    run = dashboard_payload(tmp_path / "runs")["runs"][0]
    assert (run["status"], run["error"]) == ("interrupted", "interrupted by SIGTERM at iteration 3")


DAMAGE = {  # file, content, the problem the warning names
    "run-null": ("run.json", "null", "is null, expected a JSON object"),
    "run-list": ("run.json", "[1, 2]", "is a list, expected a JSON object"),
    "run-torn": ("run.json", '{"run_id": "run-torn", "sta', "invalid JSON"),
    "metrics-list": ("metrics.json", "[]", "is a list, expected a JSON object"),
    "config-string": ("run.json", json.dumps({"run_id": "config-string", "status": "finished", "config": "oops"}),
                      "config is str, not an object"),
}


def damaged_store(root) -> tuple[RunStore, list[str]]:
    """Two healthy finished runs and one damaged run per DAMAGE entry; returns the healthy ids."""
    store = RunStore(root)
    healthy = [start_run(store, n=8, panda=panda, seed=0) for panda in ("none", "1x")]
    for k, rid in enumerate(healthy):
        store.finish(rid, {"pq": 10.0 + k}, 1.0)
    for rid, (name, text, _) in DAMAGE.items():
        run_dir = crafted_record(store, rid, status="finished", seed=0, config={"seed": 0})
        (run_dir / "metrics.json").write_text(json.dumps({"pq": 1.0}))
        (run_dir / name).write_text(text)
    return store, healthy


def test_damaged_records_are_listed_as_damaged_and_every_other_run_renders(tmp_path):
    root = tmp_path / "runs"
    _, healthy = damaged_store(root)
    payload = dashboard_payload(root)
    runs = {r["key"]: r for r in payload["runs"]}
    assert set(runs) == {*healthy, *DAMAGE}
    for rid, (name, _, problem) in DAMAGE.items():
        run = runs[rid]
        assert run["status"] == "damaged" and run["metrics"] == {} and run["history"] == {}
        assert run["error"].startswith(str(root / rid / name)) and problem in run["error"]
        assert [n for n in payload["notes"] if rid in n] == [run["error"]]  # one warning naming the file
    assert [runs[rid]["metrics"]["pq"] for rid in healthy] == [10.0, 11.0]
    assert payload["damaged"] == [runs[rid]["error"] for rid in sorted(DAMAGE) if rid != "config-string"]
    frame = load_runs(root).set_index("run_id")  # analysis.runs lists an unreadable run.json as damaged
    assert set(frame.loc[["run-null", "run-list", "run-torn"], "status"]) == {"damaged"}


def test_dashboard_command_warns_once_per_damaged_run(tmp_path, capsys):
    root = tmp_path / "runs"
    _, healthy = damaged_store(root)
    out = tmp_path / "dashboard.html"
    assert panbench(["dashboard", "--out", str(out), "--runs-root", str(root)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(DAMAGE) and all(line.startswith("panbench: warning: ") for line in err)
    for rid, (name, _, _) in DAMAGE.items():
        assert sum(str(root / rid / name) in line for line in err) == 1
    assert out.is_file() and all(rid in out.read_text() for rid in healthy)


@pytest.mark.parametrize("status", ["finished", "failed", "running", "interrupted"])
def test_statuses_pass_through(tmp_path, status):
    store = RunStore(tmp_path / "runs")
    crafted_record(store, "one", status=status, seed=0)
    out = write_dashboard(tmp_path / "d.html", tmp_path / "runs")
    assert dashboard_payload(tmp_path / "runs")["runs"][0]["status"] == status and out.is_file()
