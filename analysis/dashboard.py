"""One self-contained HTML page over the run store: a filterable, sortable runs table (run id pinned
left, W&B link right; status, duration, cost and commit columns; a column picker; seeds of one cell
folded into mean ± std); for the runs ticked, a side-by-side comparison (metrics, differences
coloured by the metric's direction from harness.metrics.vocabulary, config differences), their loss
and validation curves from `history.jsonl`, a per-class table with class names and their images
(`analysis.run_media`); the learning curves (Fig. 3) and the data-efficiency table (Table 3).

Everything is inline (data, JS, CSS, images as data: URIs), so the file works offline and can be
mailed or attached to a paper review. Size budget: at most 4 images per run, 256 px wide, 4 MiB of
images per page (`analysis.run_media`), and `HISTORY_POINTS` steps per loss curve.

Safety: the page is the template with ONE substitution, the payload as JSON in which `<`, `>`, `&`
(and, as every non-ASCII character, U+2028/U+2029) are \\u-escaped, inside a
`<script type="application/json">` that nothing in the data can close or comment out. The page's
JS renders every value with textContent / setAttribute, never as HTML; links keep only http(s)
URLs (checked here and again in the page); images only data:image URIs made here."""

from __future__ import annotations

import base64
import io
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from analysis.curves import runs_points
from analysis.labels import category_names, column_label
from analysis.render import display_rows
from analysis.run_media import IMAGES_PER_RUN, PAGE_IMAGE_BYTES, THUMB_WIDTH, ImageBudget, run_thumbnails
from analysis.runs import METRICS, load_runs
from analysis.tables import mark_extra_iterations, runs_table3
from harness.atomic import write_text
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.config.recipe_schema import reporting_keys
from harness.errors import PanbenchError
from harness.metrics.vocabulary import higher_is_better
from harness.seeding import stable_digest
from harness.tracking.run_store import DAMAGED, RUN_JSON, RunStore

TEMPLATE = Path(__file__).with_name("dashboard_template.html")
DATA_MARKER = "/*__PANBENCH_DASHBOARD_DATA__*/"
HISTORY_POINTS = 400  # per series and run: long runs are thinned to this many steps (the last one kept)
TEXT_FIELDS = ("run_id", "recipe", "model", "dataset", "variant", "status", "error")
# history series of validation metrics (`eval.every` > 0): the loop's `{"step", "eval": {...}}` rows
# become `eval/<metric>`; `val_<metric>` / `val/<metric>` keys of a training row count too
VALIDATION_PREFIXES = ("eval/", "val_", "val/")
REPORTING_KEYS = tuple(reporting_keys())  # config keys that change no result (the run id leaves them out)


def script_json(payload: object) -> str:
    """JSON safe inside an HTML <script> element: `<`, `>`, `&` escaped (no `</script>`, no `<!--`),
    every non-ASCII character (U+2028/U+2029 included) as a \\u escape; NaN is not JSON."""
    text = json.dumps(payload, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def safe_link(url: object) -> str | None:
    """`url` when it is an absolute http(s) URL without spaces or control characters, else None."""
    if not isinstance(url, str) or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def flatten(config: dict, prefix: str = "") -> dict:
    """Nested config -> dotted keys, so two runs' configs compare key by key."""
    out = {}
    for key, value in (config or {}).items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _clean(value: object) -> object:
    """A value as JSON can carry it: numpy scalars unwrapped, NaN / inf as null, integral floats as int."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _scalar(value: object) -> object:
    """A metric or per-class value for the page: a number, a string as written, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return _clean(float(value))
    return str(value) if isinstance(value, str) else None


def flat_metrics(metrics: dict | None) -> dict:
    """Every top-level metric of metrics.json (not only the known keys: columns follow the data)."""
    return {str(k): _scalar(v) for k, v in (metrics or {}).items() if k != "per_class" and _scalar(v) is not None}


def per_class_rows(metrics: dict | None, names: dict[str, str] | None = None) -> dict:
    """`per_class: {category_id: {name, pq, sq, ...}}` as {category_id: {"name": str, metric: value}}; a
    row without a name (synthesis runs write `{category_id: {iou}}`) takes it from `names` (the run's
    dataset categories), else keeps its id."""
    per_class = (metrics or {}).get("per_class")
    rows = {}
    for cid, row in (per_class.items() if isinstance(per_class, dict) else ()):
        if not isinstance(row, dict):
            continue
        values = {str(k): _scalar(v) for k, v in row.items() if k != "name" and _scalar(v) is not None}
        rows[str(cid)] = {"name": str(row.get("name", (names or {}).get(str(cid), cid))), **values}
    return rows


def interruption(record: dict) -> str | None:
    """`interrupted by SIGTERM at iteration 3` for a run stopped by a signal (run.json `interrupted`)."""
    stop = record.get("interrupted")
    if record.get("status") != "interrupted" or not isinstance(stop, dict):
        return None
    return f"interrupted by {stop.get('signal', 'a signal')} at iteration {stop.get('iteration', '?')}"


def cell_key(config: object, fallback: str) -> str:
    """What the seeds of one recipe cell share: a digest of the config without `seed` and without the
    keys that change no result (W&B, launch, workers ...); `fallback` for a damaged config."""
    if not isinstance(config, dict) or not config:
        return fallback
    flat = {k: v for k, v in flatten(config).items()
            if k != "seed" and not any(k == r or k.startswith(r + ".") for r in REPORTING_KEYS)}
    return stable_digest(_clean(flat), 12)


def history_series(rows: list[dict]) -> dict[str, list[list[float]]]:
    """history.jsonl -> {series: [[step, value], ...]}: training rows give one series per numeric key
    (`loss`, its terms, `lr`, ...), evaluation rows (`{"step": k, "eval": {...}}`) `eval/<metric>`;
    each thinned to `HISTORY_POINTS` steps."""
    series: dict[str, list[list[float]]] = {}
    for row in rows:
        step = row.get("step") if isinstance(row, dict) else None
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            continue
        values = {k: v for k, v in row.items() if k not in ("step", "eval")}
        if isinstance(row.get("eval"), dict):
            values.update({f"eval/{k}": v for k, v in row["eval"].items()})
        for key, value in values.items():
            value = _scalar(value)
            if isinstance(value, (int, float)):
                series.setdefault(str(key), []).append([_clean(float(step)), value])
    return {key: _thin(points) for key, points in series.items()}


def _thin(points: list[list[float]]) -> list[list[float]]:
    if len(points) <= HISTORY_POINTS:
        return points
    keep = sorted({round(i * (len(points) - 1) / (HISTORY_POINTS - 1)) for i in range(HISTORY_POINTS)})
    return [points[i] for i in keep]


def _read(reader, path: Path, notes: list[str], default):
    try:
        return reader()
    except (PanbenchError, ValueError, OSError) as exc:
        notes.append(str(exc) if str(exc).startswith(str(path)) else f"{path}: unreadable ({exc})")
        return default


def _damage(read) -> tuple[object, str | None]:
    try:
        return read(), None
    except (PanbenchError, ValueError, OSError) as exc:
        return None, str(exc)


def run_entry(row: pd.Series, store: RunStore, budget: ImageBudget, notes: list[str], damaged: list[str]) -> dict:
    """One run for the page: identity, status, the W&B link, metrics, flat config, history, per-class rows
    and images, all read from its own folder. A damaged record (run.json or metrics.json unreadable or
    not an object, a config that is not an object) is listed as `damaged` with its identity only and
    its problem naming the file: in `damaged` when `load_runs` has warned about it, else in `notes`."""
    run_dir = Path(row.run_dir)
    key = run_dir.name
    entry = {"key": key, **{f: None if _missing(row[f]) else str(row[f]) for f in TEXT_FIELDS}}
    entry.update({"n": _clean(row.n), "seed": _scalar(row.seed), "wandb_url": safe_link(row.wandb_url),
                  "duration_s": _scalar(row.duration_s), "cost": _scalar(row.cost),
                  "cost_unit": None if _missing(row.cost_unit) else str(row.cost_unit),
                  "metrics": {}, "config": {}, "history": {}, "per_class": {}, "images": [], "cell": key,
                  "code_state": None if _missing(row.code_state) else str(row.code_state)})
    record, problem = _damage(lambda: store.read_run(key))
    record = record if isinstance(record, dict) else {}
    metrics, metrics_problem = _damage(lambda: store.read_metrics(key)) if not problem else (None, None)
    config = record.get("config")
    if problem or metrics_problem:
        damaged.append(problem or metrics_problem)
    elif config is not None and not isinstance(config, dict):
        problem = f"{run_dir / RUN_JSON}: config is {type(config).__name__}, not an object"
        notes.append(problem)
    if problem or metrics_problem or row.status == DAMAGED:
        entry.update(status=DAMAGED, error=problem or metrics_problem or entry["error"])
        return entry
    history = _read(lambda: store.read_history(key), run_dir / "history.jsonl", notes, [])
    images, image_notes = run_thumbnails(run_dir, record, budget)
    notes += image_notes
    config = config or {}
    entry["error"] = entry["error"] or interruption(record)
    entry.update({"metrics": flat_metrics(metrics), "config": _clean(flatten(config)),
                  "history": history_series(history), "per_class": per_class_rows(metrics, category_names(row.dataset)),
                  "images": [vars(image) for image in images], "cell": cell_key(config, key)})
    return entry


def metric_columns(entries: list[dict]) -> list[str]:
    """The metrics measured in any run: the run store's keys in their order, then any other key."""
    present = {k for entry in entries for k in entry["metrics"]}
    return [m for m in METRICS if m in present] + sorted(present - set(METRICS))


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    """The finished runs that can sit on a learning curve (a record without model or dataset cannot)."""
    finished = runs[(runs.status == "finished") & runs.model.notna() & runs.dataset.notna()].reset_index(drop=True)
    return finished.assign(variant=mark_extra_iterations(finished)) if not finished.empty else finished


def curves_figure(runs: pd.DataFrame) -> dict:
    """Fig. 3 of the finished runs as an SVG data: URI (shown through <img>, where no script runs),
    or a note saying what is missing."""
    from analysis.figures import learning_curves

    finished = _finished(runs)
    try:
        points = runs_points(finished) if not finished.empty else pd.DataFrame()
    except PanbenchError as exc:
        return {"src": None, "note": str(exc)}
    if points.empty or points.n.nunique() < 2:
        return {"src": None, "note": "No learning curve yet: it needs finished runs at two or more sizes n."}
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    figure = learning_curves(points)
    figure.savefig(buf, format="svg")
    plt.close(figure)
    return {"src": "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), "note": None}


def efficiency(runs: pd.DataFrame) -> dict:
    """Table 3 of the finished runs (header, rows, caption as printed by `panbench table`), or a note."""
    finished = _finished(runs)
    if finished.empty:
        return {"header": [], "rows": [], "caption": None, "note": "No finished runs yet."}
    try:
        table = runs_table3(finished)
    except PanbenchError as exc:
        return {"header": [], "rows": [], "caption": None, "note": str(exc)}
    header, rows = display_rows(table)
    return {"header": header, "rows": rows, "caption": table.caption, "note": None}


def dashboard_payload(runs_root: str | Path = DEFAULT_RUNS_ROOT) -> dict:
    """Everything the page shows, as plain JSON-able data."""
    runs = load_runs(runs_root)  # warns once about each damaged record
    runs = runs.sort_values(["recipe", "model", "dataset", "n", "variant", "seed", "run_id"], kind="stable",
                            na_position="last")
    store, budget, notes, damaged = RunStore(runs_root), ImageBudget(), [], []
    entries = [run_entry(row, store, budget, notes, damaged) for _, row in runs.iterrows()]
    notes += [budget.note()] if budget.note() else []
    metrics = metric_columns(entries)
    per_class_keys = {k for entry in entries for row in entry["per_class"].values() for k in row} - {"name"}
    series = sorted({k for entry in entries for k in entry["history"]})
    labels = {m: column_label(m) for m in sorted(set(metrics) | per_class_keys)}
    return {"generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "runs_root": str(runs_root),
            "runs": entries, "metrics": metrics, "metric_labels": labels,
            "higher_is_better": {m: higher_is_better(m) for m in sorted(set(metrics) | per_class_keys)},
            "validation_series": [k for k in series if k.startswith(VALIDATION_PREFIXES)],
            "figure": curves_figure(runs), "efficiency": efficiency(runs), "notes": damaged + notes,
            "damaged": damaged,
            "image_budget": {"per_run": IMAGES_PER_RUN, "width": THUMB_WIDTH, "page_bytes": PAGE_IMAGE_BYTES}}


def page_html(payload: dict) -> str:
    """The template with its one data marker replaced by `script_json(payload)`."""
    template = TEMPLATE.read_text(encoding="utf-8")
    if template.count(DATA_MARKER) != 1:
        raise PanbenchError(f"{TEMPLATE}: expected the data marker {DATA_MARKER} exactly once")
    head, _, tail = template.partition(DATA_MARKER)
    return head + script_json(payload) + tail


def render_dashboard(runs_root: str | Path = DEFAULT_RUNS_ROOT) -> str:
    return page_html(dashboard_payload(runs_root))


def write_dashboard(out: str | Path = "results/dashboard.html", runs_root: str | Path = DEFAULT_RUNS_ROOT) -> Path:
    """Write the page; each problem met reading the store (a rejected path, an unreadable file) is
    listed in the page and printed as one warning line on stderr."""
    payload = dashboard_payload(runs_root)
    out = Path(out)
    write_text(out, page_html(payload))
    for note in payload["notes"][len(payload["damaged"]):]:  # load_runs has warned about the damaged records
        print(f"panbench: warning: {note}", file=sys.stderr)
    return out
