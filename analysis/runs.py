"""The run store (`<runs root>/<run_id>/run.json` + `metrics.json`) as tidy pandas frames.

One row per run: identity (recipe, model, dataset, n, variant, seed), status, timings, the device
time it cost (`cost`, in `cost_unit`: GPU-hours for GPU runs, CPU-hours otherwise), the W&B link
when the run was synced, and every flat metric. `variant` is run.json's canonical name
(harness.config.run_spec: `none`, `panda-1x`, `panda-2x`, `dropout+resize` ..., the reference tables'
own names), read as written, so runs and paper compare directly; `augment` is its structured form
(harness.data.augment_mode.AugmentMode, from run.json's `panda`).

A damaged record (run.json torn, not an object, hostile; metrics.json not an object) is listed, not
fatal: one warning line names its file, the run's row says `damaged` (run.json) or has no metrics
(metrics.json), and every other run is rendered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.provenance import code_state
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.data.augment_mode import AugmentMode
from harness.errors import PanbenchError, warn
from harness.metrics.kid import kid_std_is_estimate
from harness.metrics.vocabulary import METRIC_KEYS
from harness.tracking.run_store import DAMAGED, METRICS_JSON, read_record

METRICS = METRIC_KEYS  # the flat keys of metrics.json
IDENTITY = ("run_id", "recipe", "model", "dataset", "n", "variant", "seed", "epochs", "status")


def wandb_url(record: dict) -> str | None:
    """The W&B page of a run, once `wandb sync` has uploaded it (offline runs have none)."""
    if record.get("wandb_url"):
        return str(record["wandb_url"])
    wandb_dir = record.get("wandb_dir")
    cfg = _dict(_dict(record.get("config")).get("wandb"))
    if not wandb_dir or not cfg.get("entity") or not cfg.get("project"):
        return None
    if not any(Path(wandb_dir).glob("*.wandb.synced")):  # the marker `wandb sync` leaves
        return None
    return f"https://wandb.ai/{cfg['entity']}/{cfg['project']}/runs/{record['run_id']}"


def run_cost(record: dict) -> dict:
    """run.json's `cost` as one number and its unit (GPU-hours when the run used GPUs)."""
    cost = record.get("cost") if isinstance(record.get("cost"), dict) else {}
    gpu, cpu = _number(cost.get("gpu_hours")), _number(cost.get("cpu_hours"))
    if gpu > 0:
        return {"cost": gpu, "cost_unit": "GPU-hours"}
    return {"cost": cpu, "cost_unit": "CPU-hours" if not np.isnan(cpu) else None}


def load_runs(root: str | Path = DEFAULT_RUNS_ROOT, *, finished_only: bool = False) -> pd.DataFrame:
    """Every run under `root`, one row each, with its metrics as columns (NaN where not measured)."""
    root = Path(root)
    rows, damaged, damaged_metrics = [], [], []
    run_jsons = sorted(root.glob("*/run.json"))
    for run_json in run_jsons:
        record = _record(run_json, damaged) or {"status": DAMAGED, "error": f"{run_json.name} is damaged"}
        metrics = _record(run_json.parent / METRICS_JSON, damaged_metrics) or {}
        config = _dict(record.get("config"))
        rows.append({
            "run_id": record.get("run_id", run_json.parent.name),
            "recipe": record.get("recipe"),
            "model": record.get("model"),
            "dataset": record.get("dataset"),
            "n": record.get("n"),
            "variant": record.get("variant"),
            "augment": AugmentMode.from_record(record.get("panda")),
            "seed": record.get("seed"),
            "epochs": _dict(config.get("train")).get("epochs"),
            "status": record.get("status"),
            "error": record.get("error"),
            "log": record.get("traceback"),
            "git_commit": record.get("git_commit"),
            "code_state": code_state(record),
            "started_at": record.get("started_at"),
            "finished_at": record.get("finished_at"),
            "duration_s": record.get("duration_s"),
            **run_cost(record),
            "iterations": _number(record.get("iterations")),
            "wandb_url": wandb_url(record),
            "config": config,
            "run_dir": str(run_json.parent),
            **{m: _number(metrics.get(m)) for m in METRICS},
            "kid_std": _number(metrics.get("kid_std")) if kid_std_shown(record) else np.nan,
        })
    frame = pd.DataFrame(rows, columns=[*IDENTITY, "augment", "error", "log", "git_commit", "code_state",
                                        "started_at", "finished_at", "duration_s", "iterations", "cost", "cost_unit",
                                        "wandb_url", "config", "run_dir", *METRICS])
    if damaged and len(damaged) == len(run_jsons):  # nothing readable to render: the first damage is the error
        raise PanbenchError(damaged[0])
    _warn_damaged(damaged + damaged_metrics)
    frame["n"] = pd.to_numeric(frame["n"], errors="coerce")
    if finished_only:
        frame = frame[frame.status == "finished"].reset_index(drop=True)
    return frame


def kid_std_shown(record: dict) -> bool:
    """False for a KID std that is no estimate (one subset: every image; harness.metrics.kid), as older
    runs recorded it (0.0) before the rule; True when the protocol does not say."""
    about = ((record.get("protocol") or {}).get("fid") or {}) if isinstance(record.get("protocol"), dict) else {}
    kid = about.get("kid") if isinstance(about, dict) else None
    sizes = [about.get("real_images"), about.get("generated_images"), (kid or {}).get("subset_size")]
    if not isinstance(kid, dict) or not all(isinstance(v, int) for v in sizes):
        return True
    return kid_std_is_estimate(sizes[0], sizes[1], sizes[2], int(kid.get("subsets", 0)))


_warned: set[str] = set()  # files already named in a warning by this process


def _record(path: Path, problems: list[str]) -> dict | None:
    """A run-store JSON object; None when absent or damaged (a damaged one is added to `problems`)."""
    try:
        return read_record(path)
    except PanbenchError as exc:
        problems.append(str(exc))
        return None


def _warn_damaged(problems: list[str]) -> None:
    """One warning per damaged file, once per process (tables and figures read the store again)."""
    for problem in problems:
        if problem not in _warned:
            _warned.add(problem)
            warn(f"{problem} (listed as damaged; the other runs are rendered)")


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float:
    """A metric as a float; NaN when absent or not a number (a damaged metrics.json stays listed)."""
    try:
        return float(value) if value is not None and not isinstance(value, bool) else np.nan
    except (TypeError, ValueError):
        return np.nan


def _leaves(node: object, path: tuple[str, ...] = ()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, path + (str(key),))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, float(node)


def per_class_long(root: str | Path = DEFAULT_RUNS_ROOT) -> pd.DataFrame:
    """Per-class metrics of every finished run: run_id, category (id as string), metric, value.

    `per_class` may be `{category: {metric: v}}` or grouped by evaluator (`{"ap": {category: v}}`,
    `{"instances": {category: {"ap": v}}}`); the category is the numeric key, the metric the leaf
    name (or the key above the category when the category is the leaf)."""
    rows, damaged = [], []
    for run_json in sorted(Path(root).glob("*/run.json")):
        metrics, record = _record(run_json.parent / METRICS_JSON, damaged), _record(run_json, damaged)
        if metrics is None or record is None:
            continue
        per_class = _dict(metrics.get("per_class"))
        rid = record.get("run_id", run_json.parent.name)
        for path, value in _leaves(per_class):
            category = next((p for p in path if p.lstrip("-").isdigit()), None)
            if category is None:
                continue
            at = path.index(category)
            metric = path[at - 1] if at == len(path) - 1 and at > 0 else path[-1]
            if metric == category:
                continue
            rows.append({"run_id": rid, "category": category, "metric": metric, "value": value})
    _warn_damaged(damaged)
    return pd.DataFrame(rows, columns=["run_id", "category", "metric", "value"])


def aggregate_seeds(runs: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds: columns keys, seeds, m, m_std for each metric."""
    grouped = runs.groupby(keys, dropna=False, sort=False)
    out = grouped.size().rename("seeds").to_frame()
    for metric in metrics:
        out[metric] = grouped[metric].mean()
        out[f"{metric}_std"] = grouped[metric].std(ddof=1)
    return out.reset_index()


def spread_phrase(n_seeds: int) -> str:
    """What a `m ± s` cell means: the spread over N >= 2 seeds; with one seed there is none to show."""
    return f"mean ± std over {n_seeds} seeds" if n_seeds >= 2 else "one seed, so no std"
