"""The copies study: its recipes' grid (1x / 2x / 4x / 8x offline and online PanDA at a fixed n, each
with a plain control of as many iterations, counted here by hand), and its table and figure from a
run store filled the way training fills it, with numbers whose means, spreads and paired
differences are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.render import to_markdown
from analysis.report import copies_figure
from analysis.specs import build_table
from analysis.tables import RunFilter
from harness.cli import main as panbench
from harness.config.recipes import load_recipe
from harness.config.run_spec import run_specs
from harness.errors import PanbenchError
from harness.tracking.run_store import RunStore
from run_records import start_run

RECIPE = "panda-copies-mini"


def hand_iterations(spec) -> int:
    """The protocol counted by hand: an epoch is n·(K + 1) samples for Kx, n / (1 - mix) online."""
    data, train = spec.settings.data, spec.settings.train
    n = data.n
    per_epoch = {"none": n, "online": n / (1 - data.panda_mix)}.get(data.panda) or n * (1 + int(data.panda[:-1]))
    return math.ceil(train.epochs * per_epoch / train.ims_per_gpu - 1e-9)


@pytest.mark.parametrize("recipe", ["panda-copies-mini", "panda-copies"])
def test_every_panda_row_has_a_plain_control_of_as_many_iterations(recipe):
    specs = run_specs(load_recipe(recipe))
    assert [s.variant.name for s in specs] == ["none", "panda-1x", "none", "panda-2x", "none", "panda-4x", "none",
                                               "panda-8x", "none", "panda-online"]
    assert len({s.settings.data.n for s in specs}) == 1 and len({s.run_id for s in specs}) == 10  # one fixed n
    plain = {hand_iterations(s): s for s in specs if s.variant.name == "none"}
    baseline = min(plain)
    for spec in specs:
        if spec.variant.name == "none":
            continue
        control = plain[hand_iterations(spec)]  # KeyError: no compute-matched control
        assert control.settings.train.epochs > spec.settings.train.epochs  # the `extra-iterations` label
        copies = 1 if spec.variant.online else spec.variant.copies
        assert hand_iterations(spec) == pytest.approx((copies + 1) * baseline, abs=1)
    online = specs[-1]
    assert online.settings.data.mode.online and online.settings.data.panda_mix == 0.5
    assert online.settings.data.workers == (1 if recipe.endswith("-mini") else 4)  # bench: data-loader wait
    assert online.settings.panda == specs[1].settings.panda  # the same PanDA parameters as offline


# (data.panda, epochs, pq by seed, ap by seed, iterations at n = 10, batch 2)
RUNS = [
    ("none", 6, (20.0, 22.0), (1.0, 3.0), 30),
    ("1x", 6, (25.0, 26.0), (4.0, 6.0), 60),
    ("none", 12, (23.0, 23.5), (2.0, 3.0), 60),
    ("2x", 6, (26.0, 28.0), (5.0, 5.0), 90),
    ("none", 18, (24.0, 25.0), (3.0, 3.0), 90),
    ("online", 6, (27.0, 27.0), (6.0, 7.0), 60),
    ("4x", 6, (27.0, 29.0), (6.0, 6.0), 150),  # no control of 150 iterations in this store
]


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "runs"
    runs = RunStore(root)
    for panda, epochs, pqs, aps, iterations in RUNS:
        for seed, pq, ap in zip((0, 1), pqs, aps):
            rid = start_run(runs, n=10, panda=panda, seed=seed, recipe=RECIPE, epochs=epochs)
            runs.update(rid, iterations=iterations)
            runs.finish(rid, {"pq": pq, "ap": ap, "sq": 70.0}, 1.0)
    return root


def test_copies_table_pairs_each_panda_row_with_its_control(store):
    table = build_table("panda-copies", "runs", RunFilter(root=store, recipe=RECIPE))
    frame = table.frame.set_index("copies")
    assert frame.index.tolist() == ["none", "1x", "2x", "4x", "online"]
    assert frame.loc["none", "pq"] == 21.0 and frame.loc["none", "pq_std"] == pytest.approx(np.sqrt(2.0))
    assert frame.loc["1x", "iterations"] == 60 and frame.loc["1x", "control_pq"] == 23.25
    assert frame.loc["online", "variant"] == "panda-online" and frame.loc["online", "control_pq"] == 23.25  # 1x's
    assert frame.loc["2x", "control_pq"] == 24.5 and frame.loc["2x", "control_seeds"] == 2
    # PanDA minus control, paired by seed: 2x pq (26 - 24, 28 - 25), ap (5 - 3, 5 - 3)
    assert frame.loc["2x", "delta_pq"] == 2.5 and frame.loc["2x", "delta_pq_std"] == pytest.approx(np.sqrt(0.5))
    assert frame.loc["2x", "delta_ap"] == 2.0 and frame.loc["2x", "delta_ap_std"] == 0.0
    assert frame.loc["online", "delta_ap"] == pytest.approx(((6 - 2) + (7 - 3)) / 2)
    assert np.isnan(frame.loc["4x", "control_pq"]) and "No control" in table.caption and "panda-4x" in table.caption
    assert "publish no numbers" in table.caption and "seeds [0, 1]" in table.caption
    text = to_markdown(table)
    assert "PQ control" in text and "Δ PQ" in text and "25.50 ± 0.71" in text  # 1x PQ, mean ± std
    with pytest.raises(PanbenchError, match="use --source runs"):
        build_table("panda-copies", "reference")


def test_copies_figure_and_cli(store, tmp_path, capsys):
    paths = copies_figure(tmp_path / "fig" / "copies", RunFilter(root=store, recipe=RECIPE))
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size > 1000 for p in paths)
    assert "online" in paths[1].read_text() and "plain control, same iterations" in paths[1].read_text()
    assert panbench(["table", "panda-copies", "--runs-root", str(store), "--recipe", RECIPE]) == 0
    assert "panda-online" in capsys.readouterr().out
    assert panbench(["figure", "panda-copies", "--runs-root", str(store), "--source", "reference",
                     "--out", str(tmp_path / "x")]) == 2
    assert "use --source runs" in capsys.readouterr().err
