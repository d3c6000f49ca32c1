"""The spec registry (analysis/specs.py): every registered table renders from each source it has,
ours | paper | Δ puts the published row beside ours with the arm Δ and its interval, captions say
"± std over N seeds" only when N >= 2, a mixed code state is named, Table 3 names its compute confound,
KID's std is shown only when it is an estimate, and the make targets ask the specs for their recipe."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.intervals import paired_bootstrap
from analysis.render import to_csv, to_latex, to_markdown
from analysis.runs import load_runs
from analysis.specs import FIGURES, TABLES, build_table, make_targets
from analysis.tables import RunFilter
from harness.cli import main
from harness.metrics.kid import kid_std_is_estimate
from harness.metrics.per_image import PER_IMAGE_FILE, write_per_image
from harness.tracking.run_store import RunStore
from run_records import crafted_record, start_run
from test_analysis_intervals import hand_made

SIZES, SEEDS = (10, 20, 40), (0, 1, 2)
THING, STUFF = "24", "7"  # person, road


def _panda_metrics(n: int, panda: str, seed: int) -> dict:
    pq = 5.0 * np.log(n) + (2.0 + 0.4 * seed**2 if panda == "1x" else 0.0) + 0.3 * seed
    return {"pq": pq, "sq": 70.0, "rq": 40.0, "pq_th": pq - 5, "pq_st": pq + 5, "miou": pq + 10, "ap": pq / 2,
            "ap_box": pq / 2 + 1, "per_class": {THING: {"pq": pq, "ap": pq / 3, "ap_box": pq / 3 + 1, "iou": 50.0},
                                                STUFF: {"pq": pq + 1, "iou": 80.0}}}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("specs-store")
    runs = RunStore(root)
    for n in SIZES:
        for panda in ("none", "1x"):
            for seed in SEEDS:
                rid = start_run(runs, n=n, panda=panda, seed=seed)
                runs.update(rid, iterations=100 * n * (2 if panda == "1x" else 1))
                runs.finish(rid, _panda_metrics(n, panda, seed), 1.0)
    for model, fid in (("spade-mini", 90.0), ("panoptic-spade-mini", 80.0)):
        for seed in SEEDS:
            rid = f"{model}-{seed}"
            crafted_record(runs, rid, recipe="synth-table1-mini", model=model, dataset="synth", seed=seed,
                           config={"model": {"name": model}})
            runs.finish(rid, {"det_ap": 5.0 + seed + (fid < 90), "miou": 20.0 + seed + 2 * (fid < 90),
                              "accuracy": 60.0, "fid": fid + seed, "kid": 0.05,
                              "per_class": {STUFF: {"iou": 70.0 + seed}}}, 1.0)
    return root


def _recipe(name: str) -> str:
    """The store holds Table 2's and synthesis Table 1's mini runs; every table is drawn from one of them."""
    return "synth-table1-mini" if name.startswith("synth") else "panda-table2-mini"


@pytest.mark.parametrize("name", list(TABLES))
def test_every_registered_table_renders_from_each_source_it_has(name, store):
    spec = TABLES[name]
    sources = ["runs"] + (["reference"] if spec.reference else []) + (["both"] if spec.compare and spec.reference
                                                                       else [])
    for source in sources:
        table = build_table(name, source, RunFilter(root=store, recipe=_recipe(name)))
        markdown = to_markdown(table)
        assert markdown.count("\n|") == len(table.frame) + 2 and len(table.frame) > 0, source
        assert r"\begin{tabular}" in to_latex(table) and to_csv(table)
    if "both" not in sources:
        with pytest.raises(Exception, match="use --source runs"):
            build_table(name, "both", RunFilter(root=store, recipe=_recipe(name)))


def test_both_puts_the_published_row_beside_ours_with_the_arm_delta_and_its_t_interval(store):
    table = build_table("panda-table2", "both", RunFilter(root=store, recipe="panda-table2-mini"))
    frame = table.frame.set_index(["images", "variant"])
    row = frame.loc[(10, "none")]
    assert row.paper_pq == 23.0 and row.vs_paper_pq == pytest.approx(row.pq - 23.0)  # Table 2, 10 images
    assert np.isnan(frame.loc[(20, "none")].paper_pq)  # the paper has no 20-image row
    panda = frame.loc[(10, "panda-1x")]
    treated = [_panda_metrics(10, "1x", s)["ap"] for s in SEEDS]
    control = [_panda_metrics(10, "none", s)["ap"] for s in SEEDS]
    ci = stats.ttest_rel(treated, control).confidence_interval(0.95)
    assert (panda.arm_ap, panda.arm_ap_low, panda.arm_ap_high) == pytest.approx(
        (np.mean(np.subtract(treated, control)), ci.low, ci.high))
    assert panda.interval == "t, 3 seeds" and row.interval == ""
    markdown = to_markdown(table)
    assert "| PQ paper | Δ PQ vs paper | Δ PQ (arm) |" in markdown
    assert f"{panda.arm_pq:.2f} [{panda.arm_pq_low:.2f}, {panda.arm_pq_high:.2f}]" in markdown
    assert "ours on synth beside the paper's cityscapes" in table.caption and "95 %" in table.caption


def test_both_bootstraps_over_images_with_fewer_than_three_seeds(tmp_path):
    runs, rng = RunStore(tmp_path), np.random.default_rng(5)
    counts = {}
    for panda, shift in (("none", 0), ("1x", 1)):
        rid = start_run(runs, n=10, panda=panda, seed=0)
        runs.finish(rid, {"pq": 30.0 + shift, "fid": 1.0}, 1.0)
        counts[panda] = write_per_image(runs.run_dir(rid) / "predictions" / PER_IMAGE_FILE,
                                        hand_made(rng, shift=shift))
    from harness.metrics.per_image import read_per_image

    table = build_table("panda-table2", "both", RunFilter(root=tmp_path))
    row = table.frame.set_index("variant").loc["panda-1x"]
    delta, low, high, _ = paired_bootstrap([(read_per_image(counts["1x"]), read_per_image(counts["none"]))], "pq")
    assert (row.arm_pq, row.arm_pq_low, row.arm_pq_high) == (delta, low, high)
    assert row.interval == "bootstrap, 25 images"
    assert "one seed, so no std" in table.caption and "± std over" not in table.caption


def test_captions_count_the_seeds_behind_a_std(store):
    table = build_table("panda-table2", "runs", RunFilter(root=store, recipe="panda-table2-mini"))
    assert "mean ± std over 3 seeds" in table.caption
    synth = build_table("synth-table1", "runs", RunFilter(root=store, recipe="synth-table1-mini"))
    assert "mean ± std over 3 seeds" in synth.caption


def test_synthesis_arm_is_panoptic_spade_vs_spade_and_fid_lower_is_better(store):
    table = build_table("synth-table1", "both", RunFilter(root=store, recipe="synth-table1-mini"))
    row = table.frame.set_index("method").loc["panoptic-spade"]
    assert row.arm_fid == pytest.approx(-10.0) and row.interval == "t, 3 seeds"
    assert row.paper_fid == 96.4 and row.vs_paper_fid == pytest.approx(row.fid - 96.4)  # the paper's "Ours"
    assert "Lower is better for FID" in table.caption
    assert TABLES["synth-table1"].directions["fid"] == "lower" and TABLES["panda-table2"].directions["pq"] == "higher"


def test_a_table_over_two_code_states_names_them_and_their_runs(tmp_path):
    runs = RunStore(tmp_path)
    ids = []
    for seed, code in ((0, {"commit": "a" * 40, "dirty": False, "diff_sha256": None}),
                       (1, {"commit": "b" * 40, "dirty": True, "diff_sha256": "c" * 64})):
        for panda in ("none", "1x"):
            rid = start_run(runs, n=10, panda=panda, seed=seed)
            runs.update(rid, code=code)
            runs.finish(rid, {"pq": 30.0 + seed}, 1.0)
            ids.append(rid)
    caption = build_table("panda-table2", "runs", RunFilter(root=tmp_path)).caption
    line = caption[caption.index("Mixed code states: "):]
    assert line == (f"Mixed code states: {'a' * 12}: {', '.join(sorted(ids[:2]))}; "
                    f"{'b' * 12}+dirty(diff cccccccc): {', '.join(sorted(ids[2:]))}.")
    for rid in ids[2:]:
        runs.update(rid, code={"commit": "a" * 40, "dirty": False, "diff_sha256": None})
    assert "Mixed code states" not in build_table("panda-table2", "runs", RunFilter(root=tmp_path)).caption


def test_table3_names_the_compute_confound_and_the_copies_study(store):
    caption = build_table("panda-table3", "runs", RunFilter(root=store, recipe="panda-table2-mini")).caption
    assert "Compute confound: the PanDA 1x runs also trained 2.0x the baseline's iterations" in caption
    assert "`make panda-copies`" in caption


def test_kid_std_only_when_the_subsets_differ(tmp_path):
    assert not kid_std_is_estimate(16, 16, subset_size=1000)  # one subset: every image, every draw
    assert kid_std_is_estimate(20, 16, subset_size=1000) and kid_std_is_estimate(2000, 2000)
    assert not kid_std_is_estimate(2000, 2000, subsets=1)
    runs = RunStore(tmp_path)
    for rid, n in (("one-subset", 16), ("many", 2000)):
        crafted_record(runs, rid, model="spade-mini", protocol={"fid": {
            "real_images": n, "generated_images": n, "kid": {"subsets": 100, "subset_size": min(n, 1000)}}})
        runs.finish(rid, {"kid": 0.1, "kid_std": 0.0 if n == 16 else 0.01}, 1.0)
    kid_std = load_runs(tmp_path).set_index("run_id").kid_std
    assert np.isnan(kid_std["one-subset"]) and kid_std["many"] == 0.01


def test_make_targets_ask_the_specs_for_their_recipe(capsys):
    assert make_targets()["panda-table3"] == ("panda-table2", ["panda-table3", "panda-fit"])
    assert main(["specs", "recipe", "panda-table3", "--scale", "mini"]) == 0
    assert capsys.readouterr().out.strip() == "panda-table2-mini"
    assert main(["specs"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in (*TABLES, *FIGURES))
    assert main(["specs", "recipe", "nope"]) == 2
    assert "unknown make target 'nope'" in capsys.readouterr().err


def test_each_figure_has_its_own_flags(capsys):
    with pytest.raises(SystemExit):
        main(["figure", "synth-fig4", "--help"])
    help_text = capsys.readouterr().out
    assert "--smallest" in help_text and "--table" not in help_text and "--images" not in help_text


def test_copies_delta_carries_a_t_interval_with_three_seeds(tmp_path):
    runs, recipe = RunStore(tmp_path), "panda-copies-mini"
    pq = {("none", 6): [20.0, 21.0, 19.0], ("none", 12): [22.0, 22.5, 21.0], ("1x", 6): [24.0, 23.0, 25.5]}
    for (panda, epochs), values in pq.items():
        for seed, value in enumerate(values):
            rid = start_run(runs, n=10, panda=panda, seed=seed, recipe=recipe, epochs=epochs)
            runs.update(rid, iterations=30 if (panda, epochs) == ("none", 6) else 60)
            runs.finish(rid, {"pq": value, "ap": value / 2}, 1.0)
    table = build_table("panda-copies", "runs", RunFilter(root=tmp_path, recipe=recipe))
    row = table.frame.set_index("copies").loc["1x"]
    ci = stats.ttest_rel(pq[("1x", 6)], pq[("none", 12)]).confidence_interval(0.95)
    assert (row.delta_pq_low, row.delta_pq_high) == pytest.approx((ci.low, ci.high)) and row.interval == "t, 3 seeds"
    assert f"[{ci.low:.2f}, {ci.high:.2f}]" in to_markdown(table)
