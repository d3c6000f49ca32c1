"""`panbench sweep`: plan from the recipe's grid, skip finished runs, survive failures (the trainer is
replaced by a stand-in that records runs the way harness.train.run does)."""

import json

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.launch.plan import plan_sweep
from harness.launch.sweep import run_sweep
from harness.tracking.run_store import RunStore

RECIPE = """
base: base
model: {name: upsnet-mini}
grid:
  data.n: [10, 20]
  data.panda: [none, 1x]
"""


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny-sweep.yaml"
    path.write_text(RECIPE)
    return str(path)


class FakeTrainer:
    """Records each run in the store like run_training; fails for the configs in `fail_n`."""

    def __init__(self, fail_n=()):
        self.calls = []
        self.fail_n = set(fail_n)

    def __call__(self, spec, runs_root="results/runs"):
        store = RunStore(runs_root)
        rid = spec.run_id
        self.calls.append(rid)
        store.start(spec)
        if spec.n_requested in self.fail_n:
            exc = RuntimeError(f"out of memory at n={spec.n_requested}")
            store.fail(rid, exc, 0.1)
            raise exc
        store.finish(rid, {"pq": 1.0}, 0.1)
        return store.run_dir(rid)


def test_plan_lists_every_cell_with_stable_ids(recipe, tmp_path):
    plan = plan_sweep(recipe, runs_root=tmp_path / "runs")
    assert [p.cell for p in plan] == [{"data.n": 10, "data.panda": "none"}, {"data.n": 10, "data.panda": "1x"},
                                      {"data.n": 20, "data.panda": "none"}, {"data.n": 20, "data.panda": "1x"}]
    assert len({p.run_id for p in plan}) == 4
    assert [p.run_id for p in plan] == [p.run_id for p in plan_sweep(recipe, runs_root=tmp_path / "runs")]
    assert not any(p.done for p in plan)


def test_seeds_repeat_every_cell(recipe, tmp_path):
    plan = plan_sweep(recipe, ["data.n=10"], runs_root=tmp_path / "runs", seeds=[0, 1, 2])
    assert [(p.cell["data.panda"], p.cell["seed"]) for p in plan] == [
        ("none", 0), ("none", 1), ("none", 2), ("1x", 0), ("1x", 1), ("1x", 2)]
    assert len({p.run_id for p in plan}) == 6
    assert plan[0].run_id == plan_sweep(recipe, ["data.n=10"], runs_root=tmp_path / "runs")[0].run_id  # seed 0


def test_override_of_a_grid_key_narrows_the_grid(recipe, tmp_path):
    plan = plan_sweep(recipe, ["data.n=20"], runs_root=tmp_path / "runs")
    assert [p.cell["data.n"] for p in plan] == [20, 20]
    full = {p.run_id for p in plan_sweep(recipe, runs_root=tmp_path / "runs")}
    assert {p.run_id for p in plan} <= full  # the same runs as in the full grid
    with pytest.raises(ConfigError, match="unknown key 'data.nn'"):
        plan_sweep(recipe, ["data.nn=30"], runs_root=tmp_path / "runs")


def test_finished_runs_never_run_twice_and_failures_do_not_stop(recipe, tmp_path):
    runs = tmp_path / "runs"
    trainer = FakeTrainer(fail_n={10})
    summary = run_sweep(plan_sweep(recipe, runs_root=runs), runs, train=trainer, echo=lambda s: None)
    assert len(trainer.calls) == 4
    assert len(summary.finished) == 2 and len(summary.failed) == 2 and not summary.skipped
    rid, error, log = summary.failed[0]
    assert "out of memory at n=10" in error and log.endswith("error.log")
    assert "RuntimeError" in (runs / rid / "error.log").read_text()
    failed = sorted(r for r, _, _ in summary.failed)

    retry = FakeTrainer()
    plan = plan_sweep(recipe, runs_root=runs)
    assert sum(p.done for p in plan) == 2
    summary = run_sweep(plan, runs, train=retry, echo=lambda s: None)
    assert sorted(retry.calls) == failed  # only the failed runs run again
    assert len(summary.skipped) == 2 and len(summary.finished) == 2 and summary.ok
    statuses = {json.loads(p.read_text())["status"] for p in runs.glob("*/run.json")}
    assert statuses == {"finished"}


def test_cli_dry_run_and_executor_options(recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("harness.train.run.run_training", FakeTrainer())
    assert main(["sweep", recipe, "--dry-run", "data.n=10", "--runs-root", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert out.count("to do") == 2 and "data.n=10" in out
    assert "panda-1x" in out  # the run spec's canonical variant, as run.json will write it
    assert main(["sweep", recipe, "--executor", "slurm", "--parallel", "2", "--runs-root", str(tmp_path / "runs")]) == 2
    assert "--parallel applies to --executor local|torchrun" in capsys.readouterr().err
    assert main(["sweep", recipe, "--parallel", "0", "--runs-root", str(tmp_path / "runs")]) == 2
    assert "--parallel 0: must be >= 1" in capsys.readouterr().err


def test_cli_runs_the_sweep_and_reports_failures(recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("harness.train.run.run_training", FakeTrainer(fail_n={20}))
    assert main(["sweep", recipe, "--runs-root", str(tmp_path / "runs")]) == 1
    out = capsys.readouterr().out
    assert "2 finished, 0 skipped (already finished), 2 failed" in out
    assert "out of memory at n=20" in out and "error.log" in out
