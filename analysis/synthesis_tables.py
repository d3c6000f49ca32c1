"""The synthesis paper's tables from the run store (Tables 1-4; the published numbers are
results/reference/synth_table*.csv): one row per generator with its scores on the images it
generated from the validation label maps (mean ± std over N >= 2 seeds), and the real-images ceiling rows:
what the evaluators the synthesis runs named (`eval.segmenter`, `eval.detector`) score on the real
validation images, read from those evaluator runs' metrics.json (harness/train/tasks/evaluator/task.py).
The paper prints no ceiling; it is what makes a synthesis number readable.

Generators are named as the reference tables name them (their `method` column), from the model's
resolved arguments: `spade` and `panoptic-spade` (Tables 1-3); Table 4's cumulative ablation
`spade`, `+panoptic-conv`, `+panoptic-upsampling` (both panoptic layers). Only frames, captions and
formats are built here; analysis/tables.py wraps them into its `Table`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.runs import aggregate_seeds, per_class_long, spread_phrase
from harness.data.categories import CITYSCAPES_CATEGORIES
from harness.errors import PanbenchError
from harness.metrics.protocol import DEFAULT_PROTOCOL
from harness.tracking.run_store import RunStore

SYNTH_METRICS = ["det_ap", "miou", "accuracy", "fid", "kid"]  # KID: an extra column for runs (mini sets are small)
TABLE4_ORDER = ["spade", "+panoptic-conv", "+panoptic-upsampling"]
REAL_IMAGES = "real images"
FORMATS = {"seeds": "d", "det_ap": ".2f", "miou": ".2f", "accuracy": ".2f", "fid": ".1f", "kid": ".4f"}
EVALUATOR_KEYS = {"segmenter": ("miou", "accuracy"), "detector": ("det_ap",)}
CITYSCAPES_NAMES = {str(c.id): c.name for c in CITYSCAPES_CATEGORIES}


def generator_method(model: str, options: dict | None, ablation: bool = False) -> str:
    """The reference tables' name of a generator (see the module docstring)."""
    from harness.models.registry import model_arguments  # torch: only when synthesis runs are shown

    try:
        arguments = model_arguments(model, **(options or {}))
    except PanbenchError:
        return model
    conv, upsample = bool(arguments.get("panoptic_conv")), bool(arguments.get("panoptic_upsample"))
    if not conv and not upsample:
        return "spade"
    if ablation:
        return {(True, False): "+panoptic-conv", (True, True): "+panoptic-upsampling"}.get(
            (conv, upsample), "panoptic-upsampling-only")
    return "panoptic-spade" if conv and upsample else "spade+panoptic-conv" if conv else "spade+panoptic-upsampling"


def synthesis_runs(runs: pd.DataFrame, ablation: bool = False) -> pd.DataFrame:
    """The selected runs that trained a generator, with their `method`."""
    from harness.models.registry import model_family

    def family(model: object) -> str | None:
        try:
            return model_family(str(model))
        except PanbenchError:
            return None

    chosen = runs[runs.model.map(family) == "synthesis"]
    if chosen.empty:
        raise PanbenchError("no finished synthesis runs among the selected runs (run `panbench sweep "
                            "synth-table1-mini`, or pass --recipe)")
    methods = [generator_method(row.model, (row.config.get("model") or {}).get("options"), ablation)
               for row in chosen.itertuples()]
    return chosen.assign(method=methods)


def one_protocol(chosen: pd.DataFrame, root: Path) -> str:
    """The evaluation protocol every chosen run was scored under (metrics.json `protocol`; a run from
    before the key: its config's `eval.protocol`, else the default it was scored with); runs scored
    under different protocols are one error line, since their numbers do not share a column."""
    store = RunStore(root)
    by_protocol: dict[str, list[str]] = {}
    for row in chosen.itertuples():
        name = (store.read_metrics(row.run_id) or {}).get("protocol") \
            or (row.config.get("eval") or {}).get("protocol") or DEFAULT_PROTOCOL
        by_protocol.setdefault(str(name), []).append(str(row.run_id))
    if len(by_protocol) > 1:
        listed = "; ".join(f"{name}: {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}"
                           for name, ids in sorted(by_protocol.items()))
        raise PanbenchError(f"{root}: the selected synthesis runs were scored under different evaluation protocols "
                            f"({listed}); one table column holds one protocol: select the runs of one (--recipe, "
                            f"--model) or score them again with `panbench evaluate synthesis --protocol NAME`")
    return next(iter(by_protocol))


def evaluator_pairs(runs: pd.DataFrame, root: Path) -> tuple[list[dict[str, str | None]], list[str]]:
    """The distinct (segmenter run, detector run) pairs the synthesis runs named, and a note per
    evaluator that has no run in the store (a weights file from elsewhere, an unknown reference)."""
    from harness.train.tasks.evaluator.runs import evaluator_run_id

    named = list(dict.fromkeys(tuple((config.get("eval") or {}).get(kind) for kind in EVALUATOR_KEYS)
                               for config in runs.config))
    ids: dict[tuple[str, str], str | None] = {}
    notes: list[str] = []
    for kind, value in {(kind, value) for values in named for kind, value in zip(EVALUATOR_KEYS, values) if value}:
        try:
            ids[kind, value] = evaluator_run_id(value, kind, root)
        except PanbenchError as exc:
            notes.append(f"{kind} {value!r}: {exc}")
            continue
        if ids[kind, value] is None:
            notes.append(f"{kind} {value!r}: a weights file from outside the run store (no ceiling)")
    pairs = []
    for values in named:
        pair = {kind: ids.get((kind, value)) for kind, value in zip(EVALUATOR_KEYS, values)}
        if pair not in pairs:
            pairs.append(pair)
    return pairs, sorted(notes)


def val_root_of(store: RunStore, rid: str) -> str | None:
    """The validation set a run was evaluated on (run.json `data.val_root`)."""
    return ((store.read_run(rid) or {}).get("data") or {}).get("val_root")


def ceiling_rows(pairs: list[dict[str, str | None]], root: Path,
                 generated_on: set[str | None] = frozenset()) -> tuple[pd.DataFrame, list[str]]:
    """One `real images` row per evaluator pair, with the evaluator runs' own scores of the real
    validation images; notes for evaluators whose run is missing or unfinished, or was scored on
    other validation images than the generators' (`generated_on`)."""
    store = RunStore(root)
    notes: list[str] = []
    rows = []
    for pair in pairs:
        row: dict[str, object] = {"method": REAL_IMAGES}
        for kind, rid in pair.items():
            metrics = store.read_metrics(rid) if rid and store.is_finished(rid) else None
            if rid and metrics is None:
                notes.append(f"{kind} run {rid} is {store.status(rid) or 'not in the store'}: no ceiling yet")
            elif rid and generated_on and {val_root_of(store, rid)} != set(generated_on):
                notes.append(f"{kind} run {rid} was scored on {val_root_of(store, rid)}, the generators on "
                             f"{', '.join(sorted(map(str, generated_on)))}: not the same images")
            for key in EVALUATOR_KEYS[kind]:
                row[key] = (metrics or {}).get(key, np.nan)
        if len(pairs) > 1:
            row["method"] = f"{REAL_IMAGES} ({pair['segmenter'] or '-'} / {pair['detector'] or '-'})"
        if any(pd.notna(row.get(k)) for keys in EVALUATOR_KEYS.values() for k in keys):
            rows.append(row)
    return pd.DataFrame(rows), notes


def _describe_evaluators(pairs: list[dict[str, str | None]]) -> str:
    return "; ".join(f"segmenter run {p['segmenter'] or '-'}, detector run {p['detector'] or '-'}" for p in pairs)


def _order(frame: pd.DataFrame, ablation: bool) -> pd.DataFrame:
    order = TABLE4_ORDER if ablation else ["spade", "panoptic-spade"]
    rank = frame.method.map(lambda m: order.index(m) if m in order else len(order) + str(m).startswith(REAL_IMAGES))
    return frame.assign(_rank=rank).sort_values(["_rank", "method"], kind="stable").drop(columns="_rank") \
        .reset_index(drop=True)


def gap_caption(frame: pd.DataFrame, better: str, base: str, metrics: list[str]) -> str:
    """`better` minus `base` per metric beside the larger seed std: is the gain bigger than the spread?"""
    rows = frame.set_index("method")
    if better not in rows.index or base not in rows.index:
        return ""
    parts = []
    for m in metrics:
        if m not in rows or pd.isna(rows.at[better, m]) or pd.isna(rows.at[base, m]):
            continue
        spread = max(rows.at[better, f"{m}_std"], rows.at[base, f"{m}_std"])
        gap = rows.at[better, m] - rows.at[base, m]
        verdict = "" if pd.isna(spread) else (" (more than the seed std)" if abs(gap) > spread
                                               else " (within the seed std)")
        parts.append(f"{m} {gap:+.2f}" + ("" if pd.isna(spread) else f", seed std {spread:.2f}") + verdict)
    return f" {better} - {base}: {'; '.join(parts)}." if parts else ""


def synthesis_table(name: str, runs: pd.DataFrame, root: str | Path) -> tuple[pd.DataFrame, str, dict[str, str]]:
    """(frame, caption, formats) of synth-table1 / 2 / 4 from the selected runs."""
    root = Path(root)
    if name == "synth-table3":
        return synthesis_per_class(runs, root)
    ablation = name == "synth-table4"
    chosen = synthesis_runs(runs, ablation)
    protocol = one_protocol(chosen, root)
    metrics = [m for m in SYNTH_METRICS if chosen[m].notna().any()]
    frame = aggregate_seeds(chosen, ["method"], metrics)
    pairs, notes = evaluator_pairs(chosen, root)
    ceiling, missing = ceiling_rows(pairs, root, {val_root_of(RunStore(root), rid) for rid in chosen.run_id})
    notes += missing
    frame = _order(pd.concat([frame, ceiling], ignore_index=True), ablation)
    seeds = sorted(set(chosen.seed.dropna().astype(int)))
    what = {"synth-table1": "Table 1 (the paper's: Cityscapes)", "synth-table2": "Table 2 (the paper's: COCO-Stuff)",
            "synth-table4": "Table 4 (ablation of the panoptic layers)"}[name]
    caption = (f"Panoptic-based image synthesis {what} from the run store, dataset "
               f"{', '.join(sorted(map(str, set(chosen.dataset))))}: scores of the images generated from the "
               f"validation label maps under evaluation protocol '{protocol}'; runs: {len(chosen)}, seeds {seeds}, "
               f"{spread_phrase(len(seeds))}. "
               f"'{REAL_IMAGES}': the evaluators on the real validation images (the ceiling; "
               f"{_describe_evaluators(pairs)}). KID: unbiased MMD² (raw, not x1000).")
    best = "+panoptic-upsampling" if ablation else "panoptic-spade"
    caption += gap_caption(frame, best, "spade", ["miou", "det_ap"] if ablation else metrics)
    if notes:
        caption += " Note: " + "; ".join(notes) + "."
    return frame, caption, {k: v for k, v in FORMATS.items() if k in frame}


def synthesis_per_class(runs: pd.DataFrame, root: Path) -> tuple[pd.DataFrame, str, dict[str, str]]:
    """Table 3: per-class IoU of each generator (mean over its runs) and of the real images."""
    chosen = synthesis_runs(runs)
    protocol = one_protocol(chosen, root)
    classes = per_class_long(root)
    classes = classes[classes.metric == "iou"]
    generated = classes.merge(chosen[["run_id", "method"]], on="run_id")
    segmenters = {p["segmenter"] for p in evaluator_pairs(chosen, root)[0] if p["segmenter"]}
    real = classes[classes.run_id.isin(segmenters)].assign(
        method=lambda f: REAL_IMAGES if len(segmenters) == 1 else f.run_id.map(lambda r: f"{REAL_IMAGES} ({r})"))
    long = pd.concat([generated, real], ignore_index=True)
    if generated.empty:
        raise PanbenchError(f"{root}: no per-class IoU in the metrics.json of the selected synthesis runs")
    long["category"] = long.category.map(lambda c: CITYSCAPES_NAMES.get(c, c))
    frame = long.pivot_table(index="method", columns="category", values="value", aggfunc="mean")
    known = [c.name for c in CITYSCAPES_CATEGORIES]
    frame = frame.reindex(columns=[c for c in known if c in frame.columns]
                          + sorted(c for c in frame.columns if c not in known)).reset_index()
    frame.columns.name = None
    frame = _order(frame, ablation=False)
    caption = (f"Panoptic-based image synthesis per-class IoU (Table 3) from the run store: mean over the runs of "
               f"each generator ({len(chosen)} runs, evaluation protocol '{protocol}'); '{REAL_IMAGES}': the "
               f"segmenter on the real validation images.")
    return frame, caption, {c: ".1f" for c in frame.columns if c != "method"}
