"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright): it loads with no
console error and nothing from the network, lists, filters (seed included) and sorts the runs, compares
two selected runs side by side with their loss curves, per-class rows and prediction images, keeps the
W&B column in view at 1400 px; and a run store with script payloads in every field runs none of them."""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from run_records import crafted_record  # noqa: E402
from test_dashboard_payload import EVAL_STEPS, STEPS, build_store, write_predictions  # noqa: E402

from analysis.dashboard import DATA_MARKER, write_dashboard  # noqa: E402
from harness.tracking.run_store import RunStore  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def dashboard(tmp_path):
    ids = build_store(tmp_path / "runs")
    return write_dashboard(tmp_path / "dashboard.html", tmp_path / "runs"), ids


def test_page_is_self_contained(dashboard):
    path, ids = dashboard
    page = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page must not load anything"
    data = json.loads(re.search(r'<script type="application/json" id="runs-data">(.*?)</script>', page, re.S).group(1))
    assert len(data["runs"]) == 13
    assert data["figure"]["src"].startswith("data:image/svg+xml;base64,") and data["efficiency"]["rows"]


@pytest.fixture
def browser_page():
    """A Chromium page that records console errors, page errors, dialogs (alert / confirm) and any
    network request (answered with an abort)."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make browser)")
    playwright = pytest.importorskip("playwright.sync_api")
    events = {"errors": [], "dialogs": []}
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda msg: events["errors"].append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: events["errors"].append(str(exc)))
        page.on("dialog", lambda dialog: (events["dialogs"].append(dialog.message), dialog.dismiss()))
        page.route(re.compile(r"^https?://"), lambda route: (events["errors"].append(f"network: {route.request.url}"),
                                                             route.abort()))
        yield page, events
        browser.close()


def _column_texts(page, column: str) -> list[str]:
    index = page.locator("#runs-table thead th").evaluate_all(
        f"(ths) => ths.findIndex(th => th.dataset.column === {json.dumps(column)})")
    return page.locator(f"#runs-table tbody tr td:nth-child({index + 1})").all_inner_texts()


@pytest.mark.browser
@pytest.mark.slow
def test_dashboard_in_chromium(dashboard, browser_page, tmp_path):
    path, ids = dashboard
    page, events = browser_page
    page.goto(path.as_uri())
    assert page.locator("body").get_attribute("data-ready") == "1"
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 13
    assert "13 of 13 runs" in page.locator("#run-count").inner_text()
    links = page.locator("#runs-table a[href^='https://wandb.ai/']")
    assert links.count() == 2  # the URL the sync recorded, and one derived from a known entity

    # the W&B column is in view at 1400 px and narrower, its link clickable (not under another element)
    for width in (1400, 1000):
        page.set_viewport_size({"width": width, "height": 1000})
        box = page.locator(f"tr[data-run-id='{ids['none-20-0']}'] td.wandb a").bounding_box()
        assert box and box["x"] + box["width"] <= width
        assert page.evaluate(f"""() => {{ const a = document.querySelector("tr[data-run-id='{ids['none-20-0']}'] td.wandb a");
            const r = a.getBoundingClientRect(); return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === a; }}""")
    assert page.evaluate("() => { const s = document.querySelector('#runs .scroll'); return s.scrollWidth > s.clientWidth; }")
    page.set_viewport_size({"width": 1400, "height": 1000})

    # filters: variant + n, then seed
    page.select_option("#filter-variant", "panda-1x")
    page.select_option("#filter-n", "20")
    assert rows.count() == 2
    page.select_option("#filter-n", "")
    page.select_option("#filter-variant", "")
    page.select_option("#filter-seed", "1")
    assert rows.count() == 6 and set(_column_texts(page, "seed")) == {"1"}
    page.select_option("#filter-seed", "")

    # sorting: numbers numerically (5 < 20 < 100, not as text), missing values last in both directions
    page.click("#runs-table th[data-column='n']")
    n = [int(t) for t in _column_texts(page, "n")]
    assert n == sorted(n) and n[0] == 5 and n[-1] == 100
    page.click("#runs-table th[data-column='metric:pq']")
    pq = _column_texts(page, "metric:pq")
    assert pq[-1] == "–" and [float(v) for v in pq[:-1]] == sorted(float(v) for v in pq[:-1])
    assert page.locator("th[data-column='metric:pq']").get_attribute("aria-sort") == "ascending"
    page.click("#runs-table th[data-column='metric:pq']")
    pq = _column_texts(page, "metric:pq")
    assert pq[-1] == "–" and [float(v) for v in pq[:-1]] == sorted((float(v) for v in pq[:-1]), reverse=True)
    page.click("#runs-table th[data-column='status']")
    assert _column_texts(page, "status")[0] == "failed"
    assert page.locator("#runs-table th[data-column='metric:ap_box']").inner_text().startswith("AP box")

    # compare two runs: metrics with differences, config differences
    page.locator(f"tr[data-run-id='{ids['none-20-0']}'] input.select-run").check()
    page.locator(f"tr[data-run-id='{ids['1x-20-0']}'] input.select-run").check()
    compare = page.locator("#compare table.metrics")
    assert compare.count() == 1
    pq_row = compare.locator("tr", has_text="PQ").first.inner_text()
    # hand-computed: baseline pq = 5 ln 20 + 10.5, PanDA = 5 ln 30 + 10.5, difference 5 ln 1.5
    assert "25.48" in pq_row and "27.51" in pq_row and "+2.03" in pq_row
    config_rows = page.locator("#compare table.config-diff").inner_text()
    assert "data.panda" in config_rows and "data.n" not in config_rows

    # loss curves of both, overlaid: one polyline per run with one vertex per logged step
    chart = page.locator("#loss-chart")
    assert chart.locator("g.series").count() == 2
    for key in (ids["none-20-0"], ids["1x-20-0"]):
        points = chart.locator(f"g.series[data-key='{key}'] polyline").get_attribute("points").split()
        assert len(points) == STEPS
    assert page.locator("#loss-body .legend li").count() == 2
    page.select_option("#loss-series", "eval/pq")
    assert len(chart.locator("g.series polyline").first.get_attribute("points").split()) == len(EVAL_STEPS)
    page.check("#loss-log")
    assert page.locator("#loss-chart g.series").count() == 2

    # per-class rows: class names, one column per selected run
    per_class = page.locator("#per-class-body table.per-class")
    assert per_class.locator("tr[data-category='26']").inner_text().split("\t")[:2] == ["26", "car"]
    assert "25.48" in per_class.locator("tr[data-category='26']").inner_text()
    page.select_option("#per-class-metric", "ap")
    assert "30.00" in per_class.locator("tr[data-category='26']").inner_text()

    # prediction images: 4 per run, side by side by file name, decoded, at most 256 px wide
    images = page.locator("#images-body img")
    assert images.count() == 8
    widths = images.evaluate_all("(imgs) => imgs.map(i => [i.complete, i.naturalWidth])")
    assert all(done and 0 < w <= 256 for done, w in widths)
    assert page.locator("#images-body figcaption").first.inner_text() == "prediction: img_000.png"

    # the learning curves and the data-efficiency table
    assert page.evaluate("() => document.getElementById('curves-figure').naturalWidth") > 0
    assert page.locator(".de-table tr").first.inner_text().split("\t")[0] == "# orig. images"

    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    shutil.copy(tmp_path / "dashboard.png", Path("/tmp/panbench-dashboard.png"))
    assert events["errors"] == [] and events["dialogs"] == []


# Each would run if any value reached the page as HTML (or closed / commented out the data script).
PAYLOADS = ['<img src=x onerror="window.__pwned=1;alert(1)">', "<!--<script>",
            "</script><script>window.__pwned=2;alert(2)</script>", "<svg onload=alert(3)>", "__DATA__", "__FIGURE__",
            DATA_MARKER, "\u2028\u2029", "${window.__pwned=4}",
            "'\"><iframe srcdoc='<script>parent.__pwned=5</script>'>", "javascript:alert(6)"]
SAFE_NAME = [p for p in PAYLOADS if "/" not in p]  # a run id is a folder name
BAD_LINKS = ["javascript:alert(7)", " javascript:alert(8)", "data:text/html,<script>alert(9)</script>"]


def hostile_store(root: Path) -> int:
    """One run per payload, the payload in every field a run record, its metrics, history and
    predictions can hold; returns the number of runs."""
    store = RunStore(root)
    for k, payload in enumerate(PAYLOADS):
        config = {"name": payload, "seed": k, "model": {"name": payload, "options": {}},
                  "data": {"dataset": payload, "n": 10 + k, "panda": payload}, "train": {"epochs": 10},
                  "wandb": {"project": "panbench", "entity": None, "mode": "offline"},
                  payload: {payload: payload}, "notes": [payload]}
        rid = SAFE_NAME[k % len(SAFE_NAME)] + f"-{k}"
        run_dir = crafted_record(store, rid, recipe=payload, model=payload, dataset=payload, n=10 + k,
                                 variant=payload, seed=k, config=config)
        store.append_history(rid, {"step": 1, "loss": 1.0, payload: payload})
        store.append_history(rid, {"step": 2, "loss": 0.5, "eval": {payload: 0.5, "pq": payload}})
        write_predictions(run_dir, count=2, wide=48)
        pred_json = run_dir / "predictions" / "panoptic.json"
        data = json.loads(pred_json.read_text())
        if "/" not in payload:  # a prediction file named like the payload: its caption
            labels = run_dir / "predictions" / "panoptic"
            (labels / "img_000.png").rename(labels / f"{payload}.png")
            data["annotations"][0]["file_name"] = f"{payload}.png"
        data["categories"][0]["name"] = payload
        pred_json.write_text(json.dumps(data))
        store.update(rid, samples=[f"../{payload}", payload], wandb_url=[*BAD_LINKS, payload][k % 4])
        if k % 2:
            store.fail(rid, RuntimeError(payload), 1.0)
        else:
            store.finish(rid, {"pq": payload, "sq": 50.0 + k,
                               "per_class": {"26": {"name": payload, "pq": payload, "sq": 1.0},
                                             payload: {"name": payload, "pq": 2.0}}}, 1.0)
    return len(PAYLOADS)


@pytest.mark.browser
@pytest.mark.slow
def test_no_payload_runs_and_every_run_is_listed(tmp_path, browser_page):
    root = tmp_path / 'runs-<img src=x onerror="window.__pwned=9">'
    count = hostile_store(root)
    path = write_dashboard(tmp_path / "dashboard.html", root)
    page_text = path.read_text()
    assert "<!--" not in page_text and page_text.count("</script>") == 2 and "\u2028" not in page_text
    page, events = browser_page
    page.goto(path.as_uri())
    assert page.locator("body").get_attribute("data-ready") == "1"  # nothing blanked or stopped the page
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == count
    assert sorted(_column_texts(page, "model")) == sorted(PAYLOADS)  # shown as text, exactly as written
    assert page.locator("#runs-root").inner_text() == str(root)
    for box in page.locator("input.select-run").all():  # every view of every run
        box.check()
    for th in page.locator("#runs-table th.sortable").all():
        th.click()
    for option in page.locator("#loss-series option").all_inner_texts():
        page.select_option("#loss-series", label=option)
    for option in page.locator("#per-class-metric option").all():
        page.select_option("#per-class-metric", option.get_attribute("value"))
    assert page.locator("#images-body img").count() >= count
    assert "<img src=x" in page.locator("#images-body").inner_text()  # a caption, as text
    assert page.locator("#notes-list li").count() >= count  # the samples leaving their folder
    hrefs = page.locator("a").evaluate_all("(links) => links.map(a => a.getAttribute('href'))")
    assert all(h.startswith(("http://", "https://")) for h in hrefs)
    page.wait_for_timeout(200)  # let any image error handler fire
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.querySelectorAll('iframe, svg [onload], img[onerror]').length") == 0
    assert events["dialogs"] == [] and events["errors"] == []
