"""The run store: stable run ids, atomic records (a crash mid-write leaves the old file whole and
no partial file), failed runs record their error and traceback."""

from __future__ import annotations

import json
import os

import pytest

from harness.config.run_spec import RunSpec, run_id
from harness.tracking.run_store import RunStore


def _spec(*overrides):
    return RunSpec.from_recipe("panda-table2-mini", list(overrides))


def test_run_id_is_stable_and_ignores_reporting_keys():
    base = _spec().config
    assert run_id(base) == run_id(json.loads(json.dumps(base, sort_keys=True)))  # key order
    assert run_id(base) == run_id(_spec("wandb.mode=disabled", "train.checkpoint_every=7", "data.cache=/x").config)
    assert run_id(base) != run_id(_spec("seed=1").config)
    assert run_id(base) != run_id(_spec("data.panda=1x").config)
    assert len(run_id(base)) == 12 and int(run_id(base), 16) >= 0
    assert _spec().run_id == run_id(base)


def test_variant_names_ablations():
    assert _spec().variant.name == "none"
    assert _spec("data.panda=2x").variant.name == "panda-2x"
    assert _spec("data.panda=1x", "panda.ops=[dropout,shift]").variant.name == "dropout+shift"


def test_crash_mid_write_leaves_the_previous_record(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    record = store.start(_spec())
    rid = record["run_id"]
    before = (store.run_dir(rid) / "run.json").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)  # the crash hits after the temp file got its bytes
    with pytest.raises(OSError):
        store.update(rid, status="finished")
    monkeypatch.undo()
    assert (store.run_dir(rid) / "run.json").read_bytes() == before
    assert sorted(p.name for p in store.run_dir(rid).iterdir()) == ["run.json"]  # no partial temp file
    assert store.status(rid) == "running"


def test_failed_record_holds_error_and_traceback(tmp_path):
    store = RunStore(tmp_path)
    rid = store.start(_spec())["run_id"]
    try:
        raise ValueError("loss is nan at iteration 3")
    except ValueError as exc:
        store.fail(rid, exc, duration_s=1.5)
    record = store.read_run(rid)
    assert record["status"] == "failed" and record["error"] == "ValueError: loss is nan at iteration 3"
    assert "raise ValueError" in open(record["traceback"]).read()
    with pytest.raises(ValueError, match="per_class"):
        store.write_metrics(rid, {"pq": 1.0, "PQ_typo": 2.0})


def test_run_training_records_a_failure_and_retries_it(tmp_path, blocks_dataset):
    """A failure inside the run (here: a dataset smaller than data.n, found only once it is read)
    is recorded; a bad recipe value never gets that far (tests/test_hostile_config.py)."""
    from harness.errors import ConfigError
    from harness.train.run import run_training

    overrides = ["data.dataset=coco_panoptic", f"data.root={blocks_dataset}", f"data.val_root={blocks_dataset}",
                 "data.n=5", f"data.cache={tmp_path / 'cache'}"]
    spec = RunSpec.from_recipe("mini", overrides)
    with pytest.raises(ConfigError):
        run_training(spec, tmp_path / "runs", progress=False)
    store = RunStore(tmp_path / "runs")
    record = store.read_run(spec.run_id)
    assert record["status"] == "failed" and "data.n=5 is larger than the training pool" in record["error"]
    assert os.path.isfile(record["traceback"])
    with pytest.raises(ConfigError):  # not finished: the next call tries again
        run_training(spec, tmp_path / "runs", progress=False)
    assert store.read_run(record["run_id"])["attempts"] == 2
