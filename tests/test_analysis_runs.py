"""Tables from a run store this test fills through the run store itself (RunSpec -> RunStore, as
a training run does, so a drift of the run record's format between producer and consumer fails
here), with numbers whose fits and DE are known exactly.

Baseline runs follow pq = 5·ln(n) + 10 (seed 0 at +0.5, seed 1 at -0.5, so the least-squares line
is exactly the law); PanDA runs sit at 5·ln(1.5·n) + 10, i.e. worth 1.5 n originals: DE = 50 %."""

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest

from analysis.render import to_csv, to_markdown
from analysis.runs import aggregate_seeds, load_runs, per_class_long
from analysis.specs import build_table
from analysis.tables import RunFilter
from harness.errors import PanbenchError
from harness.panda.config import OPS
from harness.tracking.run_store import RunStore
from run_records import start_run

SIZES = (10, 20, 40)
SEEDS = (0, 1)


def law(n: float) -> float:
    return 5.0 * math.log(n) + 10.0


def write_run(root: Path, *, n: int, panda: str, seed: int, metrics: dict | None, ops: tuple[str, ...] = OPS,
              status: str = "finished", recipe: str = "panda-table2-mini", model: str = "upsnet-mini",
              epochs: float = 10) -> str:
    """One run recorded the way harness.train.run records it; returns its run id."""
    store = RunStore(root)
    rid = start_run(store, n=n, panda=panda, seed=seed, recipe=recipe, model=model, epochs=epochs,
                    extra=(f"panda.ops=[{','.join(ops)}]",))
    if status == "failed":
        store.fail(rid, RuntimeError("boom"), 1.0)
    else:
        store.finish(rid, metrics, 12.5)
    return rid


def run_label_ids(root: Path) -> dict[str, str]:
    """`{panda}-{n}-{seed}` (e.g. `none-10-0`, `1x-20-0`) -> run id, for tests that pick runs by hand."""
    return {f"{r['config']['data']['panda']}-{r['n']}-{r['seed']}": r["run_id"] for r in RunStore(root).runs()}


def fill_store(root: Path) -> Path:
    """12 finished runs (3 sizes x 2 variants x 2 seeds) + one failed run."""
    for n in SIZES:
        for seed in SEEDS:
            noise = 0.5 if seed == 0 else -0.5
            for panda, value in (("none", law(n)), ("1x", law(1.5 * n))):
                pq = value + noise
                metrics = {"pq": pq, "sq": 70.0 + seed, "rq": 40.0, "pq_th": pq - 2, "pq_st": pq + 2, "miou": 50.0,
                           "ap": pq / 2, "ap_box": pq / 2 + 1,
                           "per_class": {"26": {"pq": pq, "ap": 30.0 + seed, "ap_box": 35.0},
                                         "24": {"pq": pq - 1, "ap": 10.0 + seed, "ap_box": 15.0}}}
                write_run(root, n=n, panda=panda, seed=seed, metrics=metrics)
    write_run(root, n=10, panda="none", seed=5, metrics=None, status="failed")
    return root


@pytest.fixture
def store(tmp_path):
    return fill_store(tmp_path / "runs")


def _rows(table):
    return list(csv.DictReader(io.StringIO(to_csv(table))))


def test_load_runs_is_tidy(store):
    runs = load_runs(store)
    assert len(runs) == 13
    assert set(runs.variant) == {"none", "panda-1x"}
    failed = runs[runs.seed == 5].iloc[0]
    assert failed.status == "failed" and failed.error == "RuntimeError: boom" and np.isnan(failed.pq)
    assert len(load_runs(store, finished_only=True)) == 12
    assert set(runs.n) == set(SIZES) and set(runs.recipe) == {"panda-table2-mini"}
    assert runs.set_index("run_id").loc[run_label_ids(store)["1x-20-1"], "variant"] == "panda-1x"


def test_fit_from_runs_recovers_the_law(store):
    rows = _rows(build_table("panda-fit", "runs", RunFilter(root=store)))
    pq = next(r for r in rows if r["metric"] == "pq")
    assert float(pq["slope"]) == pytest.approx(5.0, abs=1e-4)
    assert float(pq["intercept"]) == pytest.approx(10.0, abs=1e-3)
    # r² = 1 - SS_res / SS_tot with residuals ±0.5 at each of the 6 points
    y = np.array([law(n) + d for n in SIZES for d in (0.5, -0.5)])
    r2 = 1 - 6 * 0.25 / ((y - y.mean()) ** 2).sum()
    assert float(pq["r2"]) == pytest.approx(r2, abs=1e-4)


def test_table3_from_runs_gives_fifty_percent(store):
    table = build_table("panda-table3", "runs", RunFilter(root=store))
    frame = table.frame[table.frame.metric == "pq"].set_index("images")
    assert frame.n_orig.to_numpy() == pytest.approx(SIZES, rel=1e-9)
    assert frame.n_aug.to_numpy() == pytest.approx([1.5 * n for n in SIZES], rel=1e-9)
    assert frame.de.to_numpy() == pytest.approx([50.0] * 3, abs=1e-9)
    assert list(table.frame.columns) == ["images", "metric", "n_orig", "n_aug", "de"]
    assert "DE per seed" in table.caption


def test_table2_from_runs_mean_and_std_over_seeds(store):
    table = build_table("panda-table2", "runs", RunFilter(root=store))
    row = table.frame[(table.frame.images == 20) & (table.frame.variant == "none")].iloc[0]
    assert row.seeds == 2
    assert row.pq == pytest.approx(law(20))
    assert row.pq_std == pytest.approx(math.sqrt(0.5))  # sample std of law ± 0.5
    assert row.sq == pytest.approx(70.5)
    assert table.frame.variant.tolist()[:2] == ["none", "panda-1x"]
    assert "±" in to_markdown(table)


def test_aggregate_seeds_hand_computed():
    import pandas as pd

    runs = pd.DataFrame({"k": ["a", "a", "a", "b"], "m": [1.0, 2.0, 6.0, 4.0]})
    out = aggregate_seeds(runs, ["k"], ["m"]).set_index("k")
    assert out.loc["a", "m"] == pytest.approx(3.0)
    assert out.loc["a", "m_std"] == pytest.approx(math.sqrt(7.0))  # deviations -2, -1, 3 -> 14 / 2
    assert out.loc["a", "seeds"] == 3 and np.isnan(out.loc["b", "m_std"])


def test_per_class_table_from_runs(store):
    classes = per_class_long(store)
    assert set(classes.metric) == {"pq", "ap", "ap_box"}
    table = build_table("panda-supp-table2", "runs", RunFilter(root=store))
    row = table.frame[table.frame.variant == "none"].iloc[0]
    assert row.car == pytest.approx(30.5) and row.person == pytest.approx(10.5)
    pq = build_table("per-class-pq", "runs", RunFilter(root=store)).frame
    assert list(pq.columns) == ["model", "variant", "person", "car"]  # Cityscapes category order
    assert pq[pq.variant == "none"].car.item() == pytest.approx(np.mean([law(n) for n in SIZES]))
    with pytest.raises(PanbenchError, match="use --source runs"):
        build_table("per-class-pq", "reference")


def test_ablation_rows_from_runs(tmp_path):
    root = tmp_path / "runs"
    rows = [("none", OPS, 10, 20.0), ("none", OPS, 20, 19.0), ("1x", ("dropout",), 10, 21.0), ("1x", OPS, 10, 23.0)]
    for panda, ops, epochs, pq in rows:
        write_run(root, n=20, panda=panda, ops=ops, seed=0, metrics={"pq": pq}, epochs=epochs,
                  recipe="panda-table4-mini")
    table = build_table("panda-table4", "runs", RunFilter(root=root))
    assert table.frame.variant.tolist() == ["none", "extra-iterations", "dropout", "dropout+resize+shift"]
    assert table.frame.pq.tolist() == [20.0, 19.0, 21.0, 23.0]


def test_longer_baseline_is_a_control_not_a_seed_nor_a_fit_point(store):
    """A run without PanDA at twice the epochs (a compute-matched control) must not be pooled with the
    baseline's seeds in Table 2, nor move the fit: the fit stays exactly pq = 5·ln(n) + 10."""
    write_run(store, n=20, panda="none", seed=0, metrics={"pq": 99.0, "ap": 9.0, "ap_box": 9.0}, epochs=20)
    table = build_table("panda-table2", "runs", RunFilter(root=store))
    rows = table.frame[table.frame.images == 20].set_index("variant")
    assert rows.loc["none", "seeds"] == 2 and rows.loc["none", "pq"] == pytest.approx(law(20))
    assert rows.loc["extra-iterations", "seeds"] == 1 and rows.loc["extra-iterations", "pq"] == 99.0
    fit = build_table("panda-fit", "runs", RunFilter(root=store)).frame.set_index("metric")
    assert fit.loc["pq", "slope"] == pytest.approx(5.0) and fit.loc["pq", "intercept"] == pytest.approx(10.0)


def test_filters_and_clear_errors(store, tmp_path):
    with pytest.raises(PanbenchError, match="no finished runs with recipe=nope"):
        build_table("panda-table2", "runs", RunFilter(root=store, recipe="nope"))
    with pytest.raises(PanbenchError, match="no finished synthesis runs among the selected runs"):
        build_table("synth-table1", "runs", RunFilter(root=store))
    bad = tmp_path / "bad" / "x"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text("{not json")
    with pytest.raises(PanbenchError, match="run.json: unreadable run record"):
        load_runs(tmp_path / "bad")


def test_wandb_link_only_once_synced(tmp_path):
    from analysis.runs import wandb_url

    offline = tmp_path / "wandb" / "offline-run-20260101_000000-abc"
    offline.mkdir(parents=True)
    (offline / "run-abc.wandb").write_bytes(b"")
    record = {"run_id": "abc", "wandb_dir": str(offline), "config": {"wandb": {"entity": "me", "project": "panbench"}}}
    assert wandb_url(record) is None
    (offline / "run-abc.wandb.synced").write_bytes(b"")
    assert wandb_url(record) == "https://wandb.ai/me/panbench/runs/abc"
