"""The dashboard's data, in Python: what each run carries (metrics as columns, history series, per-class
rows, images), how it is embedded (one substitution of escaped JSON, http(s) links only) and what it
refuses (paths leaving the run folder, images over the size limits or the page budget).

The run store is written through harness.tracking.run_store.RunStore, as training writes it, so a
format drift of the store shows here. Baseline runs follow pq = 5·ln(n) + 10 (+0.5 for seed 0, -0.5 for
seed 1); PanDA 1x runs sit at 5·ln(1.5·n) + 10 with the same offsets."""

import base64
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analysis import run_media
from analysis.dashboard import (DATA_MARKER, HISTORY_POINTS, TEMPLATE, dashboard_payload, history_series, page_html,
                                render_dashboard, safe_link, script_json)
from analysis.runs import load_runs
from harness.atomic import write_json, write_png
from harness.data.categories import categories_json
from harness.data.panoptic_format import id2rgb
from harness.tracking.run_store import RunStore
from run_records import crafted_record, start_run

SIZES = (5, 20, 100)  # text order ("100" < "20" < "5") differs from numeric order
SEEDS = (0, 1)
STEPS = 20
EVAL_STEPS = (10, 20)
PREDICTED = ("none-20-0", "1x-20-0")  # runs with prediction images
CATEGORY = {c["id"]: c for c in categories_json()}


def law(n: float) -> float:
    return 5.0 * math.log(n) + 10.0


def write_predictions(run_dir: Path, count: int = 6, wide: int = 600) -> None:
    """`count` predicted id maps (sky over road, one car) in the layout harness.train.tasks.panoptic.evaluate writes;
    the first is `wide` pixels wide (the thumbnail must shrink it), the others 48."""
    annotations, images = [], []
    for k in range(count):
        width = wide if k == 0 else 48
        ids = np.full((32, width), 2000, np.uint32)
        ids[:12] = 1000
        ids[14:22, 4:16] = 26001
        name = f"img_{k:03d}.png"
        write_png(run_dir / "predictions" / "panoptic" / name, id2rgb(ids))
        images.append({"id": k, "file_name": name, "height": 32, "width": width})
        annotations.append({"image_id": k, "file_name": name, "segments_info": [
            {"id": 1000, "category_id": 23}, {"id": 2000, "category_id": 7}, {"id": 26001, "category_id": 26}]})
    write_json(run_dir / "predictions" / "panoptic.json",
               {"images": images, "annotations": annotations, "categories": categories_json()})


def build_store(root: Path) -> dict[str, str]:
    """12 finished runs (3 sizes x 2 variants x 2 seeds), each with a loss history, evaluations at steps
    10 and 20 and per-class rows; predictions for two runs; one failed run; W&B: one run with the URL
    its sync recorded, one synced with an entity (link derived), one synced without (no link).
    Returns {label: run_id}, labels `{variant}-{n}-{seed}` and `failed`."""
    store = RunStore(root)
    ids = {}
    for n in SIZES:
        for seed in SEEDS:
            noise = 0.5 if seed == 0 else -0.5
            for panda, value in (("none", law(n)), ("1x", law(1.5 * n))):
                label = f"{panda}-{n}-{seed}"
                entity = ("wandb.entity=me",) if label == "1x-100-1" else ()
                rid = ids[label] = start_run(store, n=n, panda=panda, seed=seed, extra=entity)
                for step in range(1, STEPS + 1):
                    store.append_history(rid, {"step": step, "epoch": step / 10, "lr": 0.01,
                                               "loss": 2.0 / step + seed, "loss_semantic": 1.0 / step})
                    if step in EVAL_STEPS:
                        store.append_history(rid, {"step": step, "eval": {"pq": value * step / STEPS}})
                if label in PREDICTED:
                    write_predictions(store.run_dir(rid))
                pq = value + noise
                store.finish(rid, {"pq": pq, "sq": 70.0 + seed, "rq": 40.0, "pq_th": pq - 2, "sq_th": 71.0,
                                   "rq_th": 41.0, "pq_st": pq + 2, "sq_st": 72.0, "rq_st": 42.0, "miou": 50.0,
                                   "accuracy": 90.0, "ap": pq / 2, "ap_box": pq / 2 + 1,
                                   "per_class": {"26": {"name": "car", "pq": pq, "ap": 30.0 + seed, "ap_box": 35.0},
                                                 "24": {"name": "person", "pq": pq - 1, "ap": 10.0 + seed,
                                                        "ap_box": 15.0}}}, 12.5)
    store.update(ids["none-20-0"], wandb_url=f"https://wandb.ai/me/panbench/runs/{ids['none-20-0']}")
    for label in ("1x-100-1", "none-100-1"):  # synced (the marker `wandb sync` leaves), with / without entity
        wandb_dir = store.run_dir(ids[label]) / "wandb" / "offline-run-1"
        wandb_dir.mkdir(parents=True)
        (wandb_dir / "run-1.wandb.synced").write_text("")
        store.update(ids[label], wandb_dir=str(wandb_dir))
    ids["failed"] = start_run(store, n=5, panda="none", seed=5)
    store.fail(ids["failed"], RuntimeError("boom"), 1.0)
    return ids


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "runs"
    return root, build_store(root)


def _decode(src: str) -> np.ndarray:
    header, data = src.split(",", 1)
    assert header in ("data:image/png;base64", "data:image/jpeg;base64")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def _by_id(payload: dict) -> dict:
    return {r["run_id"]: r for r in payload["runs"]}


# --- embedding ---------------------------------------------------------------------------------------------

def test_script_json_escapes_everything_that_could_leave_the_script():
    payload = {"a": "</script><!--<script>&amp;\u2028\u2029", "<key>": ["é", ">"]}
    text = script_json(payload)
    for raw in ("<", ">", "&", "\u2028", "\u2029", "é"):
        assert raw not in text
    assert json.loads(text) == payload
    assert text.isascii()


def test_one_substitution_even_when_data_looks_like_the_marker():
    payload = {"runs": [{"model": DATA_MARKER, "recipe": "__DATA__", "dataset": "__FIGURE__"}], "notes": []}
    template = TEMPLATE.read_text()
    assert template.count(DATA_MARKER) == 1
    page = page_html(payload)
    head, _, tail = template.partition(DATA_MARKER)
    assert page.startswith(head) and page.endswith(tail)
    embedded = page[len(head):len(page) - len(tail)]
    assert json.loads(embedded) == payload
    assert page.count('<script type="application/json"') == 1 and page.count("</script>") == 2
    assert "<!--" not in page


@pytest.mark.parametrize("url, ok", [
    ("https://wandb.ai/me/p/runs/abc", True), ("http://localhost:8080/me/p/runs/abc", True),
    ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False), (" javascript:alert(1)", False),
    ("java\tscript:alert(1)", False), ("data:text/html,<script>alert(1)</script>", False),
    ("vbscript:msgbox(1)", False), ("//evil.example/x", False), ("https:///nohost", False),
    ("https://wandb.ai/a b", False), ("", False), (None, False), (["https://wandb.ai"], False)])
def test_links_only_with_http_schemes(url, ok):
    assert safe_link(url) == (url if ok else None)


# --- what a run carries ------------------------------------------------------------------------------------

def test_payload_lists_every_run_with_its_metrics_as_columns(store):
    root, ids = store
    payload = dashboard_payload(root)
    assert len(payload["runs"]) == 13
    assert payload["metrics"] == ["pq", "sq", "rq", "pq_th", "sq_th", "rq_th", "pq_st", "sq_st", "rq_st", "miou",
                                  "accuracy", "ap", "ap_box"]
    assert payload["metric_labels"]["ap_box"] == "AP box" and payload["metric_labels"]["pq_th"] == "PQ Th"
    run = _by_id(payload)[ids["none-20-0"]]
    assert run["metrics"]["pq"] == pytest.approx(law(20) + 0.5)
    assert (run["n"], run["seed"], run["variant"], run["status"]) == (20, 0, "none", "finished")
    assert run["config"]["data.panda"] == "none" and run["config"]["model.name"] == "upsnet-mini"
    failed = _by_id(payload)[ids["failed"]]
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: boom" and failed["metrics"] == {}
    assert payload["notes"] == []


def test_metric_columns_follow_the_data(tmp_path):
    # a synthesis-like run: none of the PanDA metrics, the synthesis ones appear without code changes
    store = RunStore(tmp_path / "runs")
    rid = "synthesis-run"  # a synthesis recipe's record (model and metrics only: no PanDA fields)
    crafted_record(store, rid, recipe="synth-table1-mini", model="spade-mini", dataset="synth", seed=0)
    store.finish(rid, {"det_ap": 12.5, "miou": 40.0, "accuracy": 80.0, "fid": 55.0}, 1.0)
    payload = dashboard_payload(tmp_path / "runs")
    assert payload["metrics"] == ["miou", "accuracy", "det_ap", "fid"]
    assert payload["metric_labels"]["det_ap"] == "detAP" and payload["metric_labels"]["fid"] == "FID"


def test_wandb_links_from_the_synced_url_or_derived_only_with_an_entity(store):
    root, ids = store
    runs = _by_id(dashboard_payload(root))
    assert runs[ids["none-20-0"]]["wandb_url"] == f"https://wandb.ai/me/panbench/runs/{ids['none-20-0']}"
    assert runs[ids["1x-100-1"]]["wandb_url"] == f"https://wandb.ai/me/panbench/runs/{ids['1x-100-1']}"
    assert runs[ids["none-100-1"]]["wandb_url"] is None  # synced, but no entity known: no guessed link
    assert sum(r["wandb_url"] is not None for r in runs.values()) == 2


def test_history_series_from_training_and_eval_rows(store):
    root, ids = store
    run = _by_id(dashboard_payload(root))[ids["1x-5-1"]]
    assert run["history"]["loss"] == [[s, pytest.approx(2.0 / s + 1)] for s in range(1, STEPS + 1)]
    assert set(run["history"]) == {"loss", "loss_semantic", "lr", "epoch", "eval/pq"}
    assert [p[0] for p in run["history"]["eval/pq"]] == list(EVAL_STEPS)
    assert run["history"]["eval/pq"][-1][1] == pytest.approx(law(7.5))


def test_long_histories_are_thinned_keeping_both_ends():
    rows = [{"step": s, "loss": 1.0 / s} for s in range(1, 5001)] + [{"step": 5000, "eval": {"pq": 1.0}}]
    series = history_series(rows)
    assert len(series["loss"]) == HISTORY_POINTS
    assert series["loss"][0] == [1, 1.0] and series["loss"][-1] == [5000, 1.0 / 5000]
    steps = [p[0] for p in series["loss"]]
    assert steps == sorted(set(steps))
    assert series["eval/pq"] == [[5000, 1.0]]


def test_per_class_rows_keep_names_and_metrics(store):
    root, ids = store
    run = _by_id(dashboard_payload(root))[ids["none-5-0"]]
    assert set(run["per_class"]) == {"24", "26"}
    assert run["per_class"]["26"] == {"name": "car", "pq": pytest.approx(law(5) + 0.5), "ap": 30.0, "ap_box": 35.0}


def test_prediction_thumbnails_are_coloured_small_and_capped(store):
    root, ids = store
    runs = _by_id(dashboard_payload(root))
    images = runs[ids["none-20-0"]]["images"]
    assert [im["caption"] for im in images] == [f"img_{k:03d}.png" for k in range(run_media.IMAGES_PER_RUN)]
    assert {im["kind"] for im in images} == {"prediction"}
    first, second = _decode(images[0]["src"]), _decode(images[1]["src"])
    assert first.shape[1] == run_media.THUMB_WIDTH and first.shape[0] == round(32 * 256 / 600)
    assert second.shape[:2] == (32, 48)
    # stuff pixels take their category's colour exactly: sky on top, road at the bottom
    assert tuple(second[0, 0]) == tuple(CATEGORY[23]["color"])
    assert tuple(second[-1, -1]) == tuple(CATEGORY[7]["color"])
    assert runs[ids["none-5-0"]]["images"] == []


def test_listed_samples_are_confined_to_the_run_folder(tmp_path):
    root = tmp_path / "runs"
    store = RunStore(root)
    rid = start_run(store, n=8, panda="none", seed=0)
    run_dir = store.run_dir(rid)
    outside = tmp_path / "secret.png"
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(outside)
    (run_dir / "samples").mkdir()
    Image.fromarray(np.full((40, 600, 3), 10, np.uint8)).save(run_dir / "samples" / "grid.png")
    (run_dir / "samples" / "escape.png").symlink_to(outside)
    (run_dir / "samples" / "alias.png").symlink_to(run_dir / "samples" / "grid.png")
    store.update(rid, samples=["../../secret.png", str(outside), "samples/escape.png", "samples/grid.png",
                               "samples/alias.png"])
    store.finish(rid, {"pq": 1.0}, 1.0)
    payload = dashboard_payload(root)
    images = payload["runs"][0]["images"]
    assert [im["caption"] for im in images] == ["samples/grid.png"]
    assert _decode(images[0]["src"]).shape[:2] == (round(40 * 256 / 600), 256)
    notes = payload["notes"]
    assert len(notes) == 3  # the fifth entry is past the per-run cap of 4
    run_json = str(run_dir / "run.json")
    assert all(note.startswith(run_json) for note in notes)
    assert "samples[0]: file_name '../../secret.png'" in notes[0] and "climbs out of its folder with '..'" in notes[0]
    assert "samples[1]" in notes[1] and "absolute" in notes[1]
    assert "samples[2]: file_name 'samples/escape.png'" in notes[2] and "through a symlink" in notes[2]


def test_prediction_file_names_are_confined(store):
    root, ids = store
    pred_json = root / ids["none-20-0"] / "predictions" / "panoptic.json"
    data = json.loads(pred_json.read_text())
    data["annotations"][0]["file_name"] = "../../../../escape.png"
    pred_json.write_text(json.dumps(data))
    payload = dashboard_payload(root)
    assert any(n.startswith(str(pred_json)) and "annotations[0]: file_name" in n for n in payload["notes"])
    assert all(im["caption"] != "../../../../escape.png" for im in _by_id(payload)[ids["none-20-0"]]["images"])


def test_images_over_the_pixel_limit_are_refused_before_decoding(store, monkeypatch):
    root, ids = store
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 32 * 400)  # the 600 x 32 map is over it, the 48 x 32 ones not
    payload = dashboard_payload(root)
    assert any("img_000.png: label is 600x32 (WxH) = 19,200 pixels, over the limit of 12,800" in n
               for n in payload["notes"])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 32 * 100)  # over twice the limit: Pillow refuses at open
    assert any("img_000.png: label has more than 6,400 pixels, over the limit of 3,200" in n
               for n in dashboard_payload(root)["notes"])
    assert [im["caption"] for im in _by_id(payload)[ids["none-20-0"]]["images"]][0] == "img_001.png"


def test_page_image_budget(store, monkeypatch):
    root, ids = store
    monkeypatch.setattr(run_media.ImageBudget, "__init__", lambda self: setattr(self, "left", 1000))
    payload = dashboard_payload(root)
    shown = sum(len(r["images"]) for r in payload["runs"])
    assert 0 < shown < 2 * run_media.IMAGES_PER_RUN
    assert sum(len(im["src"]) for r in payload["runs"] for im in r["images"]) <= 1000
    assert any("image budget is spent" in n for n in payload["notes"])


def test_damaged_files_become_notes_and_the_run_stays_listed(store):
    root, ids = store
    history = root / ids["none-5-1"] / "history.jsonl"
    history.write_text(history.read_text() + "{not json\n")
    store = RunStore(root)
    store.update(ids["none-20-1"], samples="not-a-list")
    metrics = json.loads((root / ids["1x-5-0"] / "metrics.json").read_text())
    metrics["pq"] = "n/a"
    (root / ids["1x-5-0"] / "metrics.json").write_text(json.dumps(metrics))
    payload = dashboard_payload(root)
    assert len(payload["runs"]) == 13
    runs = _by_id(payload)
    assert runs[ids["none-5-1"]]["history"] == {}
    assert runs[ids["1x-5-0"]]["metrics"]["pq"] == "n/a"  # shown as written; the tables see NaN
    assert math.isnan(load_runs(root).set_index("run_id").loc[ids["1x-5-0"], "pq"])
    assert any(n.startswith(str(history)) for n in payload["notes"])
    assert any("samples: expected a list" in n for n in payload["notes"])


def test_figure_and_efficiency_table_are_data(store):
    root, ids = store
    payload = dashboard_payload(root)
    src = payload["figure"]["src"]
    assert src.startswith("data:image/svg+xml;base64,")
    assert b"<svg" in base64.b64decode(src.split(",", 1)[1])
    de = payload["efficiency"]
    assert de["header"] == ["# orig. images", "metric", "N orig.", "N aug", "DE (%)"]
    assert ["20", "pq", "20.0", "30.0", "50.0"] in de["rows"]


def test_empty_store_still_renders(tmp_path):
    page = render_dashboard(tmp_path / "nothing")
    data = json.loads(re.search(r'<script type="application/json" id="runs-data">(.*?)</script>', page, re.S).group(1))
    assert data["runs"] == [] and data["figure"]["note"].startswith("No learning curve yet")
    assert data["efficiency"]["note"] == "No finished runs yet."
