"""`panbench search` on tiny runs, checked from Optuna's own storage (optuna.load_study) and the run
store: a 4-trial search SIGKILLed during its third trial and restarted ends with 4 finished trials and
4 runs, none trained twice; two search processes on one storage finish N trials between them, the
shared compute-matched control trained once; a repeated configuration reuses its run; a failing
trial is recorded failed and the study goes on; the median pruner stops a trial on its validation
curve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from harness.config.run_spec import RunSpec
from harness.launch.search import Search, default_storage, search_config, study_name
from harness.tracking.run_store import RunStore

ROOT = Path(__file__).parents[1]
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1",
       "PYTHONUNBUFFERED": "1"}
RECIPE = """
base: mini
data: {n: 2, panda: 1x, synth: {width: 64, height: 32, count: 4, val_count: 2}, cache: CACHE}
train: {max_iters: 4, log_every: 1, checkpoint_every: 2}
eval: {every: 2, images_logged: 0}
search:
  params:
    panda.scale_max: {low: 1.0, high: 2.0}
  metric: pq
  control: CONTROL
  pruner: none
  trials: 4
"""


def tiny_recipe(tmp: Path, control: bool = False, params: str | None = None) -> Path:
    text = RECIPE.replace("CACHE", str(tmp / "cache")).replace("CONTROL", str(control).lower())
    if params is not None:
        text = text.replace("    panda.scale_max: {low: 1.0, high: 2.0}", params)
    path = tmp / "tiny-search.yaml"
    path.write_text(text)
    return path


def search(recipe: Path, runs: Path, *args: str, **popen) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "harness.cli", "search", str(recipe), "--runs-root", str(runs), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT,
                            **popen)


def stored(runs: Path, name: str = "tiny-search") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=default_storage(runs))


def run_ids(runs: Path) -> set[str]:
    return {p.parent.name for p in runs.glob("*/run.json")}


def trained_once(store: RunStore, rid: str) -> bool:
    """Every training step logged once (a resumed run drops what its killed attempt logged after its
    checkpoint), and the run finished."""
    steps = [r["step"] for r in store.read_history(rid) if "eval" not in r]
    return store.is_finished(rid) and steps == sorted(set(steps)) and len(steps) == 4


@pytest.mark.slow
def test_killed_search_restarts_to_exactly_n_trials(tmp_path):
    recipe, runs = tiny_recipe(tmp_path), tmp_path / "runs"
    first = search(recipe, runs, "--trials", "4", start_new_session=True)
    seen = []
    for line in first.stdout:  # until the third trial's run is training
        seen.append(line)
        if "training" in line and any(s.startswith("trial 2: panda") for s in seen):
            break
    time.sleep(1.5)
    finished_before = {t.user_attrs["run_ids"][0]: (runs / t.user_attrs["run_ids"][0] / "metrics.json").stat().st_mtime
                       for t in stored(runs).trials if t.state == TrialState.COMPLETE}
    os.killpg(first.pid, signal.SIGKILL)  # the search and the run it is training, as a crashed node
    first.wait()
    assert len(finished_before) == 2, "".join(seen)
    second = search(recipe, runs, "--trials", "4")
    out = second.communicate()[0]
    assert second.returncode == 0, out
    study = stored(runs)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4, out
    assert [t.user_attrs.get("retry_of") for t in study.trials if "retry_of" in t.user_attrs] == [2]  # the killed one
    assert len({t.user_attrs["run_ids"][0] for t in complete}) == 4
    assert run_ids(runs) == {t.user_attrs["run_ids"][0] for t in complete}
    store = RunStore(runs)
    assert all(trained_once(store, rid) for rid in run_ids(runs))
    for rid, mtime in finished_before.items():  # the finished trials' runs were not trained again
        assert (runs / rid / "metrics.json").stat().st_mtime == mtime
    assert "| trial | state |" in out


@pytest.mark.slow
def test_two_processes_share_one_study_and_its_control(tmp_path):
    recipe, runs = tiny_recipe(tmp_path, control=True), tmp_path / "runs"
    proc = search(recipe, runs, "--trials", "3", "--parallel", "2")
    out = proc.communicate()[0]
    assert proc.returncode == 0, out
    study = stored(runs)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3, out
    trial_runs = [t.user_attrs["run_ids"][0] for t in complete]
    controls = {t.user_attrs["control_run_ids"][0] for t in complete}
    assert len(set(trial_runs)) == 3 and len(controls) == 1  # no duplicate trial; one shared control
    assert run_ids(runs) == set(trial_runs) | controls
    store = RunStore(runs)
    assert all(trained_once(store, rid) for rid in run_ids(runs))
    for t in complete:  # the objective is the gain over the control, from the stored metrics
        gain = store.read_metrics(t.user_attrs["run_ids"][0])["pq"] - store.read_metrics(next(iter(controls)))["pq"]
        assert t.value == pytest.approx(gain)


@pytest.mark.slow
def test_failing_trial_and_repeated_configuration(tmp_path):
    """Trials enqueued in Optuna's storage: a configuration PanDA refuses (scale_min > scale_max) is a
    failed trial; the study goes on, and the same valid configuration twice is one run, trained once."""
    recipe = tiny_recipe(tmp_path, params="    panda.scale_min: {choices: [0.5, 3.0]}")
    runs = tmp_path / "runs"
    section = search_config(str(recipe))
    engine = Search(str(recipe), [], runs, 2, default_storage(runs), section, echo=lambda line: None)
    study = engine.open()
    for value in (3.0, 0.5, 0.5):
        study.enqueue_trial({"panda.scale_min": value})
    engine.run()
    states = [t.state for t in stored(runs).trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert "scale_min <= scale_max" in stored(runs).trials[0].user_attrs["error"]
    rids = [t.user_attrs["run_ids"][0] for t in stored(runs).trials[1:]]
    assert rids[0] == rids[1] and run_ids(runs) == {rids[0]}
    assert (runs / rids[0] / "train.log").read_text().count(f"run {rids[0]} finished") == 1  # trained once


def test_median_pruner_reads_the_validation_curve(tmp_path):
    recipe, runs = tiny_recipe(tmp_path), tmp_path / "runs"
    section = search_config(str(recipe))
    section.pruner = "median"
    engine = Search(str(recipe), [], runs, 4, "sqlite:///" + str(tmp_path / "s.db"), section)
    study = engine.open()
    for value in (50.0, 55.0, 60.0, 65.0, 70.0):  # MedianPruner judges from its 6th trial on
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=value,
                                                  intermediate_values={2: value, 4: value}))
    spec = RunSpec.from_recipe(str(recipe), ["panda.scale_max=1.5"])
    store = RunStore(runs)
    store.append_history(spec.run_id, {"step": 1, "loss": 1.0})
    store.append_history(spec.run_id, {"step": 2, "eval": {"pq": 10.0}})
    trial = study.ask()
    assert engine.watcher(trial, 0, spec)()  # below the median of the finished trials at step 2: pruned
    assert study.trials[-1].intermediate_values == {2: 10.0}


def test_study_name_and_control():
    assert study_name("panda-search-mini", ["data.n=8", "data.panda=2x"]) == "panda-search-mini[data.n=8,data.panda=2x]"
    assert study_name("panda-search-mini", ["launch.partition=gpu", "wandb.mode=disabled"]) == "panda-search-mini"
    spec = RunSpec.from_recipe("panda-search", [])
    from harness.launch.search import control_overrides

    epochs = spec.settings.train.epochs
    assert control_overrides(spec) == ["data.panda=none", f"train.epochs={2 * epochs}"]  # 1x: twice the epochs
    online = RunSpec.from_recipe("panda-search", ["data.panda=online", "data.panda_mix=0.75"])
    assert control_overrides(online) == ["data.panda=none", f"train.epochs={4 * epochs}"]


def test_searched_variant_fits_a_wandb_tag():
    """A trial's variant names its searched parameters; W&B refuses tags over 64 characters."""
    from harness.tracking.wandb_sink import run_tags

    spec = RunSpec.from_recipe("panda-search-mini", ["panda.dropout_min_area=0.141877662120421",
                                                     "panda.scale_max=2.0622217606529976"])
    tags = run_tags(spec, 4)
    assert len(spec.variant.name) > 64 and all(len(t) <= 64 for t in tags)
    assert tags[-1].startswith("panda=panda-1x[") and tags[-1].endswith("...")
