"""Tables and figures a reader sees: human headers (CSV keeps the keys), image counts as integers, fits
through fewer than three sizes n flagged in the table and the figure, error axes inside (0, 1], and the
class-share legend named by variant. Run stores are written through RunStore."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.curves import reference_points
from analysis.figures import WEAK_FIT_STYLE, learning_curves
from analysis.fits import fit_log_linear
from analysis.labels import dataset_label, dataset_labels, variant_label
from analysis.render import to_csv, to_latex, to_markdown
from analysis.specs import build_table
from analysis.tables import RunFilter
from harness.cli import main
from harness.panda.config import PandaConfig
from harness.panda.generate import generate_panda
from harness.tracking.run_store import RunStore
from run_records import crafted_record, start_run


def law(n: float) -> float:
    return 5.0 * math.log(n) + 10.0


def fill(root, sizes, seeds=(0,)) -> None:
    """Baseline and PanDA 1x runs at `sizes` (PanDA worth 1.5 n originals), plus a synthesis run of
    another recipe without any `n` (which makes pandas' n column float)."""
    store = RunStore(root)
    for n in sizes:
        for seed in seeds:
            for panda, value in (("none", law(n)), ("1x", law(1.5 * n))):
                rid = start_run(store, n=n, panda=panda, seed=seed)
                pq = value + (0.5 if seed == 0 else -0.5) * (len(seeds) > 1)
                store.finish(rid, {"pq": pq, "ap": pq / 2, "ap_box": pq / 2 + 1}, 1.0)
    rid = "synthesis-run"
    crafted_record(store, rid, recipe="synth-table1-mini", model="spade-mini", dataset="synth", seed=0)
    store.finish(rid, {"fid": 80.0, "miou": 20.0}, 1.0)


def _header(markdown: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith("| "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_human_headers_in_print_and_keys_in_csv():
    table3 = build_table("panda-table3", "reference")
    assert _header(to_markdown(table3)) == ["# orig. images", "metric", "N orig.", "N aug", "DE (%)"]
    assert to_csv(table3).splitlines()[0] == "images,metric,n_orig,n_aug,de"
    fit = build_table("panda-fit", "reference")
    assert _header(to_markdown(fit)) == ["metric", "slope a", "intercept b", "r²"]
    assert r"metric & slope a & intercept b & r$^2$ \\" in to_latex(fit)
    assert r"\# orig. images & metric & N orig. & N aug & DE (\%) \\" in to_latex(table3)
    table1 = build_table("panda-table1", "reference")
    assert _header(to_markdown(table1))[:6] == ["model", "variant", "PQ", "SQ", "RQ", "PQ Th"]
    assert "AP box" in _header(to_markdown(table1))


def test_image_counts_print_as_integers(tmp_path):
    fill(tmp_path / "runs", (10, 20, 40))
    where = RunFilter(root=tmp_path / "runs", recipe="panda-table2-mini")
    table2 = build_table("panda-table2", "runs", where)
    assert table2.frame.images.dtype.kind == "f"  # pandas made it float (the synthesis run has no n) ...
    rows = to_markdown(table2).splitlines()[4:]
    assert [row.split("|")[3].strip() for row in rows] == ["10", "10", "20", "20", "40", "40"]  # ... printed as counts
    assert to_csv(table2).splitlines()[1].split(",")[2] == "10"
    table3 = build_table("panda-table3", "runs", where)
    assert [row.split("|")[1].strip() for row in to_markdown(table3).splitlines()[4:7]] == ["10", "10", "10"]


def test_fits_through_two_sizes_are_flagged_in_the_tables(tmp_path):
    fill(tmp_path / "runs", (10, 40))
    where = RunFilter(root=tmp_path / "runs", recipe="panda-table2-mini")
    fit = build_table("panda-fit", "runs", where)
    assert fit.frame.r2.tolist() == [1.0, 1.0, 1.0]  # two points always fit ...
    assert fit.frame.note.str.contains("fit through 2 sizes n only").all()  # ... so every row says so
    assert "Caution: pq, ap, ap_box fitted through 2 sizes n only" in fit.caption
    assert _header(to_markdown(fit))[-1] == "note"
    table3 = build_table("panda-table3", "runs", where)
    assert table3.frame.de.round(6).tolist() == [50.0] * 6  # DE as computed, with the caution beside it
    assert (table3.frame.note != "").all() and "Caution" in table3.caption


def test_fits_through_three_sizes_carry_no_note(tmp_path):
    fill(tmp_path / "runs", (10, 20, 40))
    where = RunFilter(root=tmp_path / "runs", recipe="panda-table2-mini")
    for name in ("panda-fit", "panda-table3"):
        table = build_table(name, "runs", where)
        assert "note" not in table.frame and "Caution" not in table.caption
    assert "note" not in build_table("panda-fit", "reference").frame


def test_fit_counts_distinct_sizes():
    fit = fit_log_linear([10, 10, 40, 40], [1.0, 2.0, 3.0, 4.0])
    assert (fit.points, fit.sizes) == (4, 2) and fit.caution
    assert not fit_log_linear([10, 20, 40], [1.0, 2.0, 3.5]).caution


def test_two_size_fit_is_dotted_and_labelled_in_the_figure():
    points = pd.DataFrame({"n": [10, 40, 10, 40], "variant": ["none", "none", "panda-1x", "panda-1x"],
                           "metric": "pq", "value": [law(10), law(40), law(15), law(60)]})
    ax = learning_curves(points).axes[0]
    lines = [line for line in ax.get_lines() if line.get_label().startswith("PQ")]
    assert len(lines) == 2
    assert all(line.get_linestyle() == WEAK_FIT_STYLE for line in lines)
    assert all("2 sizes n: untested" in line.get_label() and "r²" not in line.get_label() for line in lines)
    assert any("fewer than 3 sizes n" in text.get_text() for text in ax.texts)


def test_error_axis_and_fits_stay_inside_zero_one():
    ax = learning_curves(reference_points()).axes[0]
    assert ax.get_ylim()[1] <= 1.0
    ap = next(line for line in ax.get_lines() if line.get_label().startswith("AP baseline"))
    x, y = ap.get_data()
    # Eq. 2 gives AP < 0, i.e. an error above 1, below n = exp(11.494 / 5.4384) = 8.3: not drawn there
    assert x.min() < math.exp(11.494 / 5.4384)
    finite = np.isfinite(y)
    assert finite.any() and np.all(y[finite] <= 1.0) and np.all(y[finite] > 0)
    assert np.all(np.isnan(y[x < math.exp(11.494 / 5.4384) * 0.999]))


def test_variant_labels():
    assert variant_label(1) == "PanDA 1x" and variant_label(2, ["dropout", "resize", "shift"]) == "PanDA 2x"
    assert variant_label(1, ["dropout", "resize"]) == "PanDA 1x (dropout+resize)"
    assert variant_label(1, None, hybrid=True) == "PanDA 1x hybrid"


def test_class_share_legend_names_variants(blocks_dataset, tmp_path, monkeypatch, capsys):
    panda = generate_panda(blocks_dataset, tmp_path / "panda-out", copies=1, seed=0, workers=1, progress=False)
    ablated = generate_panda(blocks_dataset, tmp_path / "abl", copies=2, seed=0, workers=1, progress=False,
                             config=PandaConfig(ops=("dropout",)))
    assert dataset_label(blocks_dataset) == "original"
    assert dataset_labels([blocks_dataset, panda]) == ["original", "PanDA 1x"]
    assert dataset_label(ablated) == "PanDA 2x (dropout)"
    assert dataset_labels([blocks_dataset, blocks_dataset]) == ["original (blocks)", "original (blocks)"]
    import harness.data.stats as stats

    seen = []
    original = stats.share_bars
    monkeypatch.setattr(stats, "share_bars", lambda frames: (seen.append([f[0] for f in frames]), original(frames))[1])
    assert main(["figure", "class-share", "--root", str(blocks_dataset), "--compare", str(panda),
                 "--out", str(tmp_path / "share")]) == 0
    assert seen == [["original", "PanDA 1x"]]


def test_report_rejects_an_unknown_figure(tmp_path, capsys):
    assert main(["report", "--source", "reference", "--out", str(tmp_path / "r"), "--figures", "fig9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown fig9" in err and "fig3, per-class" in err
    assert main(["report", "--source", "reference", "--out", str(tmp_path / "r"), "--figures", "none",
                 "--tables", "panda-fit"]) == 0
    assert (tmp_path / "r" / "panda-fit.md").is_file() and not (tmp_path / "r" / "panda-fig3.png").exists()


@pytest.mark.parametrize("value, text", [(10.0, "10"), (10, "10"), (2.5, "2.5"), (float("nan"), "")])
def test_count_format(value, text):
    from analysis.render import format_cell

    assert format_cell(value, "d") == text
