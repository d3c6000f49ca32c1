"""Files a run store or a dataset may hold after a fault or from a hostile hand (issue 20), through the
real readers and the CLI: hostile JSON (deep nesting, huge integers, huge strings, wrong top-level
types) is one short line, exit 2; a torn history.jsonl is read without its torn line and repaired
by a restart; a symlinked run folder or entry is refused before anything is written and W&B's
clean-up never follows a link; damaged records are listed, not fatal, in tables and reports; a
sweep into a store it cannot write refuses before any run."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest

from cli_errors import one_line_error
from conftest import write_blocks_dataset
from harness.cli import main as panbench
from harness.data.schema import MAX_DEPTH, nesting_depth, read_json
from harness.errors import DatasetError, PanbenchError
from harness.tracking.run_store import RunStore, StoreError
from run_records import crafted_record, spec_for
from test_analysis_runs import fill_store
from test_hostile_data import tree

TRAIN = ["train", "panda-table2-mini", "data.n=2", "data.synth.count=2", "train.max_iters=2"]


# --- one hardened JSON reader -------------------------------------------------------------------
def depth_reference(node) -> int:
    """Nesting depth by walking what the json module parsed (the independent reference)."""
    if isinstance(node, dict):
        return 1 + max((depth_reference(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return 1 + max((depth_reference(v) for v in node), default=0)
    return 0


def random_json(rng: random.Random, depth: int = 0):
    tricky = ['a"[{', "\\", '\\"]', "x\\\\", '}}"', "]", 3, None, 2.5, "\u00e9[", ""]
    roll = rng.random()
    if depth > 7 or roll < 0.3:
        return rng.choice(tricky)
    if roll < 0.65:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["k", "[", '\\"{', "}"]): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def test_nesting_depth_equals_a_walk_of_the_parsed_json():
    rng = random.Random(0)
    for _ in range(2000):
        value = random_json(rng)
        for text in (json.dumps(value), json.dumps(value, indent=1, ensure_ascii=False)):
            assert nesting_depth(text.encode()) == depth_reference(value), text


@pytest.mark.parametrize("content, expected", [
    ("[" * 100_000 + "]" * 100_000, f"nested 100000 levels deep, more than the {MAX_DEPTH}"),
    ('{"images": [{"id": ' + "7" * 5000 + "}]}", "invalid JSON (Exceeds the limit"),
    ('{"images": [], "annotations": [}', "invalid JSON (Expecting value: line 1 column 32)"),
    ("null", "is null, expected a JSON object"),
    ('"' + "x" * 1000 + '"', "is a string, expected a JSON object"),
])
def test_hostile_json_is_one_short_line(tmp_path, content, expected):
    path = tmp_path / "hostile.json"
    path.write_text(content)
    with pytest.raises(DatasetError) as error:
        read_json(path, expect=dict)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and expected in message and len(message) < len(str(path)) + 200


def hostile_panoptic_json(root: Path, content: str) -> None:
    (root / "panoptic.json").write_text(content)


@pytest.mark.parametrize("content, expected", [
    ("[" * 100_000 + "]" * 100_000, "nested 100000 levels deep"),
    ('{"images": [{"id": ' + "7" * 5000 + ', "file_name": "a.jpg"}], "annotations": [], "categories": []}',
     "Exceeds the limit"),
    ("[]", "is list, expected a JSON object"),
])
def test_hostile_panoptic_json_through_data_check(capsys, tmp_path, content, expected):
    root = write_blocks_dataset(tmp_path / "blocks")
    hostile_panoptic_json(root, content)
    one_line_error(capsys, ["data", "check", str(root)], "panoptic.json", expected)


def test_a_huge_file_name_is_quoted_as_a_short_prefix(capsys, tmp_path):
    root = write_blocks_dataset(tmp_path / "blocks")
    data = json.loads((root / "panoptic.json").read_text())
    data["images"][0]["file_name"] = "x" * 5_000_000 + ".png"
    (root / "panoptic.json").write_text(json.dumps(data))
    line = one_line_error(capsys, ["data", "check", str(root)], "panoptic.json")
    assert len(line) < 400, len(line)


def test_a_deep_prediction_json_through_evaluate_is_one_line(capsys, tmp_path):
    root = write_blocks_dataset(tmp_path / "blocks")
    pred = tmp_path / "pred.json"
    pred.write_text('{"annotations": ' + "[" * 50_000 + "]" * 50_000 + "}")
    one_line_error(capsys, ["evaluate", "panoptic", "--gt", str(root), "--pred-json", str(pred), "--pred-dir",
                            str(root / "panoptic")], "pred.json", "nested")


# --- torn JSON lines ----------------------------------------------------------------------------
def test_a_torn_last_history_line_is_dropped_with_one_warning_and_a_restart_repairs_it(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    spec = spec_for("panda-table2-mini", ("data.n=2",))
    store.start(spec)
    for step in (1, 2, 3):
        store.append_history(spec.run_id, {"step": step, "loss": 1.0 / step})
    history = store.run_dir(spec.run_id) / "history.jsonl"
    with open(history, "a") as f:
        f.write('{"step": 4, "lo')
    assert [r["step"] for r in store.read_history(spec.run_id)] == [1, 2, 3]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"panbench: warning: {history}: dropped a torn last line; a restart of the run rewrites the file "
                   "without it"]
    store.truncate_history(spec.run_id, 2)  # what a restart does
    capsys.readouterr()
    assert history.read_text() == '{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5}\n'
    assert [r["step"] for r in store.read_history(spec.run_id)] == [1, 2] and capsys.readouterr().err == ""


def test_a_damaged_history_line_is_named_by_readers_and_repaired_by_a_restart(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    spec = spec_for("panda-table2-mini", ("data.n=2",))
    store.start(spec)
    history = store.run_dir(spec.run_id) / "history.jsonl"
    history.write_text('{"step": 1}\n[1, 2]\n{"step": 2}\n')
    with pytest.raises(PanbenchError, match=f"{history}: line 2 is not a JSON object"):
        store.read_history(spec.run_id)
    store.truncate_history(spec.run_id, 5)
    assert history.read_text() == '{"step": 1}\n{"step": 2}\n'
    assert "dropped 1 damaged line(s)" in capsys.readouterr().err


def test_nan_never_reaches_history_or_metrics(tmp_path):
    store = RunStore(tmp_path / "runs")
    spec = spec_for("panda-table2-mini", ("data.n=2",))
    store.start(spec)
    store.append_history(spec.run_id, {"step": 1, "loss": float("nan"), "eval": {"pq": float("inf")}})
    store.write_metrics(spec.run_id, {"pq": float("nan"), "sq": 50.0, "per_class": {"1": {"pq": float("-inf")}}})
    text = (store.run_dir(spec.run_id) / "history.jsonl").read_text() + \
        (store.run_dir(spec.run_id) / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert store.read_metrics(spec.run_id) == {"pq": None, "sq": 50.0, "per_class": {"1": {"pq": None}}}


def test_a_damaged_run_json_is_set_aside_and_the_run_starts_afresh(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    spec = spec_for("panda-table2-mini", ("data.n=2",))
    run_json = store.run_dir(spec.run_id) / "run.json"
    run_json.parent.mkdir(parents=True)
    run_json.write_text('{"run_id": "' + spec.run_id + '", "status": "fini')
    assert store.status(spec.run_id) == "damaged"
    record = store.start(spec)
    assert record["status"] == "running" and record["attempts"] == 1
    assert run_json.with_name("run.json.damaged").read_text().endswith('"fini')
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"panbench: warning: {run_json}: unreadable run record (invalid JSON")
    assert "run.json.damaged" in line


# --- a confined run store -----------------------------------------------------------------------
def planted(tmp_path: Path, entry: str | None) -> tuple[Path, Path, Path]:
    """(runs root, run folder, the victim folder outside) with a link planted at the run folder
    (entry None) or at one entry inside a real run folder."""
    runs, victim = tmp_path / "runs", tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    rid = spec_for("panda-table2-mini", ("data.n=2", "data.synth.count=2", "train.max_iters=2")).run_id
    run_dir = runs / rid
    if entry is None:
        runs.mkdir()
        run_dir.symlink_to(victim, target_is_directory=True)
    else:
        run_dir.mkdir(parents=True)
        (run_dir / entry).symlink_to(victim / entry if entry.endswith((".json", ".jsonl")) else victim)
    return runs, run_dir, victim


@pytest.mark.parametrize("entry", [None, "run.json", "history.jsonl", "checkpoints", "wandb"])
def test_a_planted_link_in_the_run_store_is_refused_before_anything_is_written(capsys, tmp_path, entry):
    runs, run_dir, victim = planted(tmp_path, entry)
    before = tree(tmp_path)
    one_line_error(capsys, [*TRAIN, "--runs-root", str(runs)], str(run_dir / (entry or "")).rstrip("/"),
                   "is a symbolic link", "nothing was written")
    assert tree(tmp_path) == before


def test_a_symlinked_runs_root_is_refused(capsys, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "runs").symlink_to(real, target_is_directory=True)
    one_line_error(capsys, [*TRAIN, "--runs-root", str(tmp_path / "runs")], "runs: is a symbolic link")
    assert list(real.iterdir()) == []


def test_wandb_clean_up_removes_a_link_never_what_it_points_to(tmp_path, monkeypatch):
    from harness.tracking.wandb_sink import WandbSink

    monkeypatch.setenv("WANDB_MODE", "offline")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    spec = spec_for("panda-table2-mini", ("data.n=2",))
    run_dir = tmp_path / "runs" / spec.run_id
    (run_dir / "wandb").mkdir(parents=True)
    (run_dir / "wandb" / "offline-run-planted").symlink_to(victim, target_is_directory=True)
    sink = WandbSink(spec, run_dir, spec.settings.wandb, n=2, wandb_id=f"{spec.run_id}-test")
    sink.finish(0)
    assert (victim / "precious.txt").read_text() == "keep me"
    assert not (run_dir / "wandb" / "offline-run-planted").exists()


def test_store_confine_names_the_entry(tmp_path):
    store = RunStore(tmp_path / "runs")
    (tmp_path / "runs" / "abc").mkdir(parents=True)
    (tmp_path / "runs" / "abc" / "metrics.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(StoreError, match="metrics.json: is a symbolic link"):
        store.confine("abc")


# --- damaged records are listed, not fatal ------------------------------------------------------
def damage(store_root: Path) -> dict[str, Path]:
    """Three damaged run folders beside the good ones: run.json null, metrics.json a list, config a string."""
    store = RunStore(store_root)
    null_run = store_root / "0000000000a1"
    null_run.mkdir()
    (null_run / "run.json").write_text("null")
    listed = crafted_record(store, "0000000000a2", status="finished", recipe="panda-table2-mini")
    (listed / "metrics.json").write_text("[1, 2]")
    crafted_record(store, "0000000000a3", status="finished", config="a string", recipe="panda-table2-mini")
    return {"run.json": null_run / "run.json", "metrics.json": listed / "metrics.json"}


def test_table_and_report_list_damaged_runs_and_render_every_other(tmp_path, capsys):
    from analysis.runs import load_runs

    root = fill_store(tmp_path / "runs")
    good = len(load_runs(root))
    damaged = damage(root)
    capsys.readouterr()
    assert panbench(["table", "panda-table2", "--source", "runs", "--runs-root", str(root)]) == 0
    captured = capsys.readouterr()
    warnings = captured.err.strip().splitlines()
    assert all(line.startswith("panbench: warning: ") for line in warnings) and "Traceback" not in captured.err
    for path in damaged.values():
        assert sum(str(path) in line for line in warnings) == 1, warnings
    frame = load_runs(root)
    assert len(frame) == good + 3 and frame.set_index("run_id").loc["0000000000a1", "status"] == "damaged"
    out = tmp_path / "report"
    assert panbench(["report", "--out", str(out), "--runs-root", str(root), "--tables", "panda-table2",
                     "--figures", "fig3"]) == 0
    assert (out / "dashboard.html").is_file() and (out / "panda-table2.csv").is_file()


# --- refuse early -------------------------------------------------------------------------------
def test_a_sweep_into_a_store_it_cannot_write_refuses_before_any_run(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    one_line_error(capsys, ["sweep", "panda-table2-mini", "--runs-root", str(blocker / "runs")],
                   "runs root is not writable")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_sweep_into_a_read_only_store_refuses_before_any_run(capsys, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o555)
    try:
        one_line_error(capsys, ["sweep", "panda-table2-mini", "--runs-root", str(runs)], "runs root is not writable")
    finally:
        runs.chmod(0o755)
