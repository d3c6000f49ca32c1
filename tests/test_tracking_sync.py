"""`panbench sync`: each run id uploaded once (its one offline folder; a synced one is not sent
again; a run still executing is left alone), the URL W&B prints for the synced run kept in run.json
(`wandb_url`) and shown by the analysis. `wandb sync` is a stand-in script here (no network): it
prints what wandb 0.31's sync prints and leaves the `.wandb.synced` marker as wandb does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.runs import load_runs
from harness.cli import main
from harness.config.run_spec import RunSpec
from harness.tracking.run_store import RunStore
from harness.tracking.wandb_sink import WandbSink

ROOT = Path(__file__).parents[1]
FAKE_WANDB = """#!{python}
import sys, pathlib
calls = pathlib.Path({calls!r})
calls.write_text(calls.read_text() + " ".join(sys.argv[1:]) + "\\n" if calls.exists() else " ".join(sys.argv[1:]) + "\\n")
folder = pathlib.Path(sys.argv[2])
wandb_id = folder.name.split("-", 3)[-1]
(folder / f"run-{{wandb_id}}.wandb.synced").touch()
print("wandb: Syncing 1 run(s):")
print(f"wandb: View run upsnet at: https://wandb.ai/me/panbench/runs/{{wandb_id}}")
"""


@pytest.fixture
def offline_run(tmp_path):
    """A finished run with its offline W&B run, recorded as training records it."""
    store = RunStore(tmp_path / "runs")
    spec = RunSpec.from_recipe("panda-table2-mini", ["data.n=10"])
    record = store.start(spec)
    sink = WandbSink(spec, store.run_dir(spec.run_id), spec.settings.wandb, n=10, wandb_id=record["wandb_id"])
    sink.log_step({"step": 1, "loss": 1.0})
    store.update(spec.run_id, wandb_dir=sink.directory)
    sink.finish(0)
    store.finish(spec.run_id, {"pq": 1.0}, 1.0)
    return store, spec.run_id


@pytest.fixture
def fake_wandb(tmp_path, monkeypatch):
    calls = tmp_path / "calls.txt"
    script = tmp_path / "wandb"
    script.write_text(FAKE_WANDB.format(python=sys.executable, calls=str(calls)))
    script.chmod(0o755)
    monkeypatch.setattr("harness.commands.tracking.wandb_cli", lambda: str(script))
    return calls


def test_sync_uploads_once_and_records_the_run_url(offline_run, fake_wandb, capsys):
    store, rid = offline_run
    record = store.read_run(rid)
    url = f"https://wandb.ai/me/panbench/runs/{record['wandb_id']}"
    assert main(["sync", "--runs-root", str(store.root)]) == 0
    assert store.read_run(rid)["wandb_url"] == url
    assert load_runs(store.root).loc[0, "wandb_url"] == url  # the dashboard's link
    assert fake_wandb.read_text().splitlines() == [f"sync {record['wandb_dir']}"]
    capsys.readouterr()
    assert main(["sync", "--runs-root", str(store.root)]) == 0  # already synced: not sent again
    assert f"{rid}: already synced: {url}" in capsys.readouterr().out
    assert len(fake_wandb.read_text().splitlines()) == 1
    again = store.start(RunSpec.from_recipe("panda-table2-mini", ["data.n=10"]))
    assert again["wandb_url"] == url  # a restart keeps the link


def test_sync_leaves_a_running_run_alone(offline_run, fake_wandb, capsys):
    store, rid = offline_run
    code = ("import time; from harness.tracking.run_lock import RunLock; "
            f"l = RunLock({str(store.run_dir(rid))!r}); assert l.acquire(); print('held', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["sync", "--runs-root", str(store.root), rid]) == 0
    finally:
        holder.kill()
        holder.wait()
    assert f"{rid}: still running (host" in capsys.readouterr().out and not fake_wandb.exists()


def test_an_old_store_with_several_offline_folders_sends_only_the_newest(offline_run, capsys):
    store, rid = offline_run
    current = Path(store.read_run(rid)["wandb_dir"])
    older = current.with_name("offline-run-20200101_000000-" + current.name.split("-", 3)[-1])
    older.mkdir()
    assert main(["sync", "--dry-run", "--runs-root", str(store.root)]) == 0
    out, err = capsys.readouterr()
    assert out.split() == [str(current)]
    assert f"{rid}: 1 older offline folder(s) superseded by {current}" in err
    assert json.loads((store.run_dir(rid) / "run.json").read_text())["wandb_dir"] == str(current)
