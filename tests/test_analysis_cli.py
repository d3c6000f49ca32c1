"""`panbench table | figure | report` end to end on the reference numbers and a hand-filled run store."""

import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from test_analysis_runs import fill_store  # noqa: E402

from analysis.curves import reference_points  # noqa: E402
from analysis.figures import learning_curves  # noqa: E402
from harness.cli import main  # noqa: E402


def test_table_command_writes_csv_and_latex(tmp_path, capsys):
    out = tmp_path / "t3.csv"
    assert main(["table", "panda-table3", "--source", "reference", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| 1000 | pq | 1076.1 | 1547.9 | 43.9 |" in printed
    assert out.read_text().splitlines()[:2] == ["images,metric,n_orig,n_aug,de", "10,pq,9.8,10.6,8.2"]
    tex = tmp_path / "fit.tex"
    assert main(["table", "panda-fit", "--source", "reference", "--format", "latex", "--out", str(tex)]) == 0
    assert r"ap\_box & 5.8271 & -8.7893 & 0.9948 \\" in tex.read_text()
    fit = tmp_path / "fit.csv"  # --format latex with a CSV: the CSV stays CSV, its LaTeX goes beside it
    assert main(["table", "panda-fit", "--source", "reference", "--format", "latex", "--out", str(fit)]) == 0
    assert fit.read_text().splitlines()[0] == "metric,slope,intercept,r2"
    assert fit.with_suffix(".tex").read_text() == tex.read_text()


def test_table_command_bad_input_is_one_line(tmp_path, capsys):
    assert main(["table", "panda-table2", "--source", "runs", "--runs-root", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("panbench: error:") and "no finished runs" in err and err.count("\n") == 1


def test_fig3_curves_are_the_fits():
    figure = learning_curves(reference_points())
    ax = figure.axes[0]
    line = next(l for l in ax.get_lines() if l.get_label().startswith("PQ baseline"))
    assert line.get_linestyle() == "--"
    x, y = line.get_data()
    k = np.argmin(abs(x - 100))
    # Eq. 1 at that n: error = 1 - (a ln n + b)/100
    assert abs(y[k] - (1 - (6.3255 * math.log(x[k]) + 8.5413) / 100)) < 1e-5
    solid = next(l for l in ax.get_lines() if l.get_label().startswith("PQ PanDA"))
    assert solid.get_linestyle() == "-"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_report_from_a_run_store(tmp_path, capsys):
    store = fill_store(tmp_path / "runs")
    out = tmp_path / "report"
    tables = "panda-table2,panda-table3,panda-fit,panda-supp-table3,panda-table4"
    assert main(["report", "--out", str(out), "--runs-root", str(store), "--tables", tables,
                 "--figures", "fig3,per-class"]) == 0
    text = capsys.readouterr().out
    for name in ("panda-table2.csv", "panda-table3.md", "panda-fit.csv", "panda-fig3.png", "panda-fig3.svg",
                 "panda-supp-table3-bars.png", "dashboard.html"):
        assert (out / name).is_file(), name
    assert Image.open(out / "panda-fig3.png").size[0] > 300
    ET.parse(out / "panda-fig3.svg")
    assert "skipped" not in text


def test_class_share_figures(blocks_dataset, tmp_path, capsys):
    out = tmp_path / "supp"
    assert main(["figure", "class-share", "--root", str(blocks_dataset), "--compare", str(blocks_dataset),
                 "--out", str(out)]) == 0
    for suffix in ("-treemap.png", "-treemap.svg", "-bars.png", "-bars.svg"):
        assert Path(f"{out}{suffix}").is_file()
