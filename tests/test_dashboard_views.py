"""The dashboard's views in headless Chromium (Debian's, driven by Playwright): Δ colours follow each
metric's direction (a worse FID is red), synthesis per-class rows show class names, the run-id column
stays in view after a horizontal scroll, seeds of one cell group into mean ± std (checked against
Python's statistics module), the column picker hides a column and the URL keeps the choice, and
damaged / interrupted runs are listed as such beside the others."""

import re
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from run_records import crafted_record, start_run  # noqa: E402
from test_dashboard_browser import PAYLOADS, _column_texts, browser_page, hostile_store  # noqa: E402,F401
from test_dashboard_payload import EVAL_STEPS, build_store, law  # noqa: E402

from analysis.dashboard import write_dashboard  # noqa: E402
from harness.tracking.run_store import RunStore  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]
GOOD, BAD = "rgb(26, 127, 55)", "rgb(180, 35, 24)"  # the page's --good and --bad


@pytest.fixture
def sweep(tmp_path):
    ids = build_store(tmp_path / "runs")
    return write_dashboard(tmp_path / "dashboard.html", tmp_path / "runs"), ids


def synthesis_store(root: Path) -> tuple[str, str]:
    """Two synthesis runs: the second has a 29-point worse FID, a better KID and detAP, an equal mIoU."""
    store = RunStore(root)
    for rid, fid, kid, det_ap in (("spade-a", 50.0, 0.05, 10.0), ("spade-b", 79.0, 0.04, 12.0)):
        crafted_record(store, rid, recipe="synth-table1-mini", model="spade-mini", dataset="synth", seed=0,
                       config={"name": "synth-table1-mini", "seed": 0, "model": {"name": "spade-mini"},
                               "data": {"dataset": "synth"}, "eval": {"segmenter": rid}})
        store.finish(rid, {"det_ap": det_ap, "miou": 40.0, "fid": fid, "kid": kid,
                           "per_class": {"7": {"iou": 80.0}, "26": {"iou": 30.0 + det_ap}}}, 1.0)
    return "spade-a", "spade-b"


def test_delta_colours_follow_the_metric_direction_and_classes_have_names(tmp_path, browser_page):
    first, second = synthesis_store(tmp_path / "runs")
    path = write_dashboard(tmp_path / "dashboard.html", tmp_path / "runs")
    page, events = browser_page
    page.goto(path.as_uri())
    for rid in (first, second):
        page.locator(f"tr[data-run-id='{rid}'] input.select-run").check()

    def delta(metric: str):
        cell = page.locator(f"#compare tr[data-metric='{metric}'] td.delta")
        return cell.inner_text(), cell.get_attribute("class").split(), cell.evaluate("c => getComputedStyle(c).color")

    assert delta("fid") == ("+29.00", ["delta", "worse"], BAD)  # up is worse for a distance
    assert delta("kid") == ("-0.01", ["delta", "better"], GOOD)  # down is better
    assert delta("det_ap") == ("+2.00", ["delta", "better"], GOOD)
    assert delta("miou")[:2] == ("0.00", ["delta"])
    assert page.locator("#compare tr[data-metric='fid'] td").first.get_attribute("title") == "lower is better"

    # the synthesis per-class table names its classes (the dataset's categories), not "7" and "26"
    rows = page.locator("#per-class-body table.per-class")
    assert rows.locator("tr[data-category='7']").inner_text().split("\t")[:4] == ["7", "road", "80.00", "80.00"]
    assert rows.locator("tr[data-category='26']").inner_text().split("\t")[:2] == ["26", "car"]
    assert events["errors"] == []


def test_run_id_column_stays_in_view_after_a_horizontal_scroll(sweep, browser_page):
    path, ids = sweep
    page, events = browser_page
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(path.as_uri())
    rid = ids["none-20-0"]
    scrolled = page.evaluate("""() => { const s = document.querySelector('#runs .scroll');
        s.scrollLeft = s.scrollWidth; return s.scrollLeft; }""")
    assert scrolled > 200
    view = page.evaluate(f"""() => {{
        const s = document.querySelector('#runs .scroll').getBoundingClientRect();
        const row = document.querySelector("tr[data-run-id='{rid}']");
        const id = row.querySelector('td.runid').getBoundingClientRect();
        const recipe = row.children[1].getBoundingClientRect();
        const hit = document.elementFromPoint(id.x + id.width / 2, id.y + id.height / 2);
        return {{left: id.left - s.left, recipeRight: recipe.right - s.left, hit: hit.closest('td') === row.children[0],
                 text: row.children[0].innerText, header: document.elementFromPoint(id.x + 4, s.top + 4).innerText}};
    }}""")
    assert abs(view["left"]) <= 1 and view["hit"] and view["text"].strip() == rid
    assert view["recipeRight"] < 0  # the column beside it did scroll away
    assert view["header"] == "run_id"
    box = page.locator(f"tr[data-run-id='{rid}'] input.select-run")
    box.check()  # still usable while scrolled
    assert page.locator("#compare-hint").is_visible()
    assert events["errors"] == []


def test_seeds_of_one_cell_group_into_mean_and_std(sweep, browser_page):
    path, ids = sweep
    page, events = browser_page
    page.goto(path.as_uri())
    page.check("#group-seeds")
    groups = page.locator("#runs-table tbody tr.group")
    assert groups.count() == 6  # 3 sizes x 2 variants; the failed seed joins its cell
    assert "13 of 13 runs shown, in 6 cells" in page.locator("#run-count").inner_text()
    row = groups.filter(has=page.locator("td[data-column='n']", has_text="20")).filter(
        has=page.locator("td[data-column='variant']", has_text="none")).first
    pq = [law(20) + 0.5, law(20) - 0.5]  # seeds 0 and 1
    expected = f"{statistics.mean(pq):.2f} ± {statistics.stdev(pq):.2f}"
    assert row.locator("td[data-column='metric:pq']").inner_text() == expected == "24.98 ± 0.71"
    assert row.locator("td[data-column='metric:sq']").inner_text() == f"70.50 ± {statistics.stdev([70, 71]):.2f}"
    assert row.locator("td[data-column='seed']").inner_text() == "0, 1" and row.get_attribute("data-seeds") == "0,1"
    assert row.locator("td[data-column='run_id']").inner_text().endswith("2 runs")
    # the failed seed 5 is listed with its cell, and left out of the mean
    small = groups.filter(has=page.locator("td[data-column='n']", has_text="5")).filter(
        has=page.locator("td[data-column='variant']", has_text="none")).first
    assert small.locator("td[data-column='seed']").inner_text() == "0, 1, 5"
    assert small.locator("td[data-column='status']").inner_text() == "2 finished, 1 failed"
    assert small.locator("td[data-column='metric:pq']").inner_text() == f"{law(5):.2f} ± {statistics.stdev(pq):.2f}"
    # expand: the single runs under their cell, selectable
    small.locator("button.expand").click()
    members = page.locator("#runs-table tbody tr.member")
    assert members.count() == 3 and set(_member_ids(members)) == {ids["none-5-0"], ids["none-5-1"], ids["failed"]}
    page.locator(f"tr.member[data-run-id='{ids['none-5-0']}'] input.select-run").check()
    page.locator(f"tr.member[data-run-id='{ids['none-5-1']}'] input.select-run").check()
    assert page.locator("#compare table.metrics").count() == 1
    # the choice is in the URL: a reload keeps the grouping
    assert "group=1" in page.url
    page.reload()
    assert page.locator("#runs-table tbody tr.group").count() == 6 and page.is_checked("#group-seeds")
    page.uncheck("#group-seeds")
    assert page.locator("#runs-table tbody tr").count() == 13
    assert events["errors"] == []


def _member_ids(rows) -> list[str]:
    return [rows.nth(k).get_attribute("data-run-id") for k in range(rows.count())]


def test_column_picker_hides_a_column_and_the_url_keeps_it(sweep, browser_page):
    path, ids = sweep
    page, events = browser_page
    page.goto(path.as_uri())
    for column in ("duration", "cost", "commit"):
        assert page.locator(f"#runs-table th[data-column='{column}']").count() == 1
    assert set(_column_texts(page, "duration")) == {"12.5 s", "1.0 s"}
    commits = set(_column_texts(page, "commit"))
    assert len(commits) == 1 and re.match(r"([0-9a-f]{12}|unknown)", commits.pop())  # "unknown" outside git
    page.click("#column-picker summary")
    page.uncheck("input.column-toggle[data-column='metric:sq']")
    page.uncheck("input.column-toggle[data-column='cost']")
    assert page.locator("#runs-table th[data-column='metric:sq']").count() == 0
    assert page.locator("#runs-table th[data-column='cost']").count() == 0
    assert page.locator("#runs-table tbody tr").first.locator("td").count() == page.locator("#runs-table th").count()
    assert page.locator("input.column-toggle[data-column='run_id']").count() == 0  # the run id always shows
    page.reload()  # a reload (or a shared link) keeps the choice
    assert page.locator("#runs-table th[data-column='metric:sq']").count() == 0
    assert not page.is_checked("input.column-toggle[data-column='metric:sq']")
    page.click("#column-picker summary")
    page.check("input.column-toggle[data-column='metric:sq']")
    assert page.locator("#runs-table th[data-column='metric:sq']").count() == 1
    assert page.locator("#runs-table th[data-column='cost']").count() == 0
    assert events["errors"] == []


def test_damaged_and_interrupted_runs_are_listed_beside_the_others(tmp_path, browser_page):
    root = tmp_path / "runs"
    store = RunStore(root)
    healthy = [start_run(store, n=8, panda=panda, seed=0) for panda in ("none", "1x")]
    for k, rid in enumerate(healthy):
        for step in EVAL_STEPS:
            store.append_history(rid, {"step": step, "loss": 1.0 / step})
            store.append_history(rid, {"step": step, "eval": {"pq": 10.0 * step + k}})
        store.finish(rid, {"pq": 10.0 + k}, 1.0)
    stopped = start_run(store, n=16, panda="none", seed=0)
    store.update(stopped, status="interrupted", interrupted={"signal": "SIGTERM", "iteration": 3})
    crafted_record(store, "damaged-run", seed=0)
    (root / "damaged-run" / "run.json").write_text("null")
    path = write_dashboard(tmp_path / "dashboard.html", root)
    page, events = browser_page
    page.goto(path.as_uri())
    assert page.locator("#runs-table tbody tr").count() == 4
    damaged = page.locator("tr[data-run-id='damaged-run'] td.status-damaged")
    assert damaged.inner_text() == "damaged"
    assert damaged.get_attribute("title").startswith(str(root / "damaged-run" / "run.json"))
    assert damaged.evaluate("c => getComputedStyle(c).color") == BAD
    notes = page.locator("#notes-list li").all_text_contents()
    assert len(notes) == 1 and notes[0].startswith(str(root / "damaged-run" / "run.json"))
    interrupted = page.locator(f"tr[data-run-id='{stopped}'] td.status-interrupted")
    assert interrupted.inner_text() == "interrupted"
    assert interrupted.get_attribute("title") == "interrupted by SIGTERM at iteration 3"
    page.select_option("#filter-status", "damaged")
    assert page.locator("#runs-table tbody tr").count() == 1
    page.select_option("#filter-status", "")

    # validation curves beside the loss curves: one line per selected run, one vertex per evaluation
    for rid in healthy:
        page.locator(f"tr[data-run-id='{rid}'] input.select-run").check()
    chart = page.locator("#val-chart")
    assert chart.locator("g.series").count() == 2
    assert len(chart.locator("g.series polyline").first.get_attribute("points").split()) == len(EVAL_STEPS)
    assert page.locator("#val-series option").all_inner_texts() == ["eval/pq"]
    assert page.locator("#loss-chart g.series").count() == 2
    loss_box, val_box = page.locator("#loss-chart").bounding_box(), chart.bounding_box()
    assert abs(loss_box["y"] - val_box["y"]) < 40 and val_box["x"] > loss_box["x"] + loss_box["width"] / 2  # beside
    assert events["errors"] == []


def test_no_payload_runs_through_the_new_columns_groups_or_picker(tmp_path, browser_page):
    root = tmp_path / "runs"
    count = hostile_store(root)
    store = RunStore(root)
    for k, run_dir in enumerate(sorted(p for p in root.iterdir() if p.is_dir())):
        payload = PAYLOADS[k % len(PAYLOADS)]
        store.update(run_dir.name, code={"commit": payload, "dirty": True, "diff_sha256": payload},
                     cost={"gpu_hours": payload}, duration_s=payload,
                     **({"status": "interrupted", "interrupted": {"signal": payload, "iteration": payload}}
                        if k % 3 == 0 else {}))
    path = write_dashboard(tmp_path / "dashboard.html", root)
    page, events = browser_page
    page.goto(path.as_uri() + "#hide=" + PAYLOADS[0])
    assert page.locator("body").get_attribute("data-ready") == "1"
    assert page.locator("#runs-table tbody tr").count() == count
    assert "<img src=x" in page.locator("#code-states").inner_text()  # the hostile commits, as text
    page.check("#group-seeds")
    for k in range(page.locator("button.expand").count()):
        page.locator("button.expand").nth(k).click()
    for box in page.locator("input.select-run").all():
        box.check()
    page.click("#column-picker summary")
    for toggle in page.locator("input.column-toggle").all():
        toggle.uncheck()
        toggle.check()
    for th in page.locator("#runs-table th.sortable").all():
        th.click()
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.querySelectorAll('iframe, svg [onload], img[onerror]').length") == 0
    assert events["dialogs"] == [] and events["errors"] == []


def test_runs_of_more_than_one_code_state_get_one_line_naming_each(tmp_path, browser_page):
    store = RunStore(tmp_path / "runs")
    clean, dirty = "a" * 40, "b" * 40
    states = {"r1": {"commit": clean, "dirty": False}, "r2": {"commit": clean, "dirty": False},
              "r3": {"commit": dirty, "dirty": True, "diff_sha256": "c" * 64}}
    for rid, code in states.items():
        crafted_record(store, rid, recipe="fixed" if rid == "r3" else "base", seed=0, code=code)
        store.finish(rid, {"pq": 1.0}, 1.0)
    path = write_dashboard(tmp_path / "dashboard.html", tmp_path / "runs")
    page, events = browser_page
    page.goto(path.as_uri())
    line = page.locator("#code-states")
    assert line.inner_text() == "Mixed code states: aaaaaaaaaaaa: r1, r2; bbbbbbbbbbbb+dirty(diff cccccccc): r3."
    assert _column_texts(page, "commit") == ["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb+dirty(diff cccccccc)"]
    page.select_option("#filter-recipe", "base")  # the runs shown: one code state, no line
    assert not line.is_visible()
    assert events["errors"] == []
