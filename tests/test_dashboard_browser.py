"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright): it loads with
no console error, shows every run, filters, and compares two selected runs side by side."""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_analysis_runs import fill_store, run_label_ids  # noqa: E402

from analysis.dashboard import render_dashboard, write_dashboard  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def dashboard(tmp_path):
    root = fill_store(tmp_path / "runs")
    ids = run_label_ids(root)
    # one run synced to W&B: its page is linked
    record = json.loads((root / ids["none-10-0"] / "run.json").read_text())
    record["wandb_url"] = "https://wandb.ai/me/panbench/runs/none-10-0"
    (root / ids["none-10-0"] / "run.json").write_text(json.dumps(record))
    return write_dashboard(tmp_path / "dashboard.html", root)


def test_page_is_self_contained(dashboard):
    page = dashboard.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.replace(
        "https://wandb.ai/me/panbench/runs/none-10-0", "")), "the page must not load anything from the network"
    assert "<svg" in page and 'class="de-table"' in page
    data = json.loads(re.search(r'<script type="application/json" id="runs-data">(.*?)</script>', page, re.S)
                      .group(1).replace("<\\/", "</"))
    assert len(data["runs"]) == 13


def test_empty_store_still_renders(tmp_path):
    page = render_dashboard(tmp_path / "nothing")
    assert "No learning curve yet" in page and '"runs": []' in page


@pytest.mark.browser
@pytest.mark.slow
def test_dashboard_in_chromium(dashboard, tmp_path):
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make browser)")
    playwright = pytest.importorskip("playwright.sync_api")
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route(re.compile(r"^https?://"), lambda route: (errors.append(f"network: {route.request.url}"),
                                                             route.abort()))
        page.goto(dashboard.as_uri())
        rows = page.locator("#runs-table tbody tr")
        assert rows.count() == 13
        assert "13 of 13 runs" in page.locator("#run-count").inner_text()
        assert page.locator("#runs-table a[href^='https://wandb.ai/']").count() == 1

        page.select_option("#filter-variant", "panda-1x")
        page.select_option("#filter-n", "20")
        assert rows.count() == 2
        page.select_option("#filter-n", "")
        page.select_option("#filter-variant", "")

        ids = run_label_ids(tmp_path / "runs")
        page.locator(f"tr[data-run-id='{ids['none-20-0']}'] input.select-run").check()
        page.locator(f"tr[data-run-id='{ids['1x-20-0']}'] input.select-run").check()
        compare = page.locator("#compare table.metrics")
        assert compare.count() == 1
        pq_row = compare.locator("tr", has_text="pq").first.inner_text()
        # hand-computed: baseline pq = 5 ln 20 + 10.5, PanDA = 5 ln 30 + 10.5, difference 5 ln 1.5
        assert "25.48" in pq_row and "27.51" in pq_row and "+2.03" in pq_row
        config_rows = page.locator("#compare table.config-diff").inner_text()
        assert "data.panda" in config_rows and "data.n" not in config_rows
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        shutil.copy(tmp_path / "dashboard.png", Path("/tmp/panbench-dashboard.png"))
        browser.close()
    assert errors == []
