"""cityscapesscripts' PQ evaluation (the panopticapi algorithm, line for line) as a library call,
the independent reference for panbench's `pq_compute` in tests and in the benchmark.

cityscapesscripts prints progress and, on bad input, calls `sys.exit`; this wrapper silences the
one and turns the other into an exception. Its per-image function is called directly so the
reference runs single-process (its own `evaluatePanoptic` always uses a pool of `cpu_count()`)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from cityscapesscripts.evaluation import evalPanopticSemanticLabeling as cs


def _matched(gt_json: Path, pred_json: Path) -> tuple[list, dict]:
    gt = json.loads(Path(gt_json).read_text())
    pred = {a["image_id"]: a for a in json.loads(Path(pred_json).read_text())["annotations"]}
    return [(a, pred[a["image_id"]]) for a in gt["annotations"]], {c["id"]: c for c in gt["categories"]}


def reference_pq(gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path, pred_dir: str | Path,
                 multi_core: bool = False) -> dict[str, Any]:
    """cityscapesscripts' numbers in panbench's layout (percent; `per_class` pq/sq/rq) and its raw
    `counts` {category: (tp, fp, fn)}; only `counts` when it cannot average (it divides by zero)."""
    matched, categories = _matched(Path(gt_json), Path(pred_json))
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            if multi_core:
                stat = cs.pq_compute_multi_core(matched, str(gt_dir), str(pred_dir), categories)
            else:
                stat = cs.pq_compute_single_core(0, matched, str(gt_dir), str(pred_dir), categories)
        except SystemExit as exc:  # printError exits the interpreter
            raise RuntimeError(f"cityscapesscripts refused the input (exit {exc.code})") from None
    out: dict[str, Any] = {"counts": {int(k): (s.tp, s.fp, s.fn) for k, s in stat.pq_per_cat.items()}}
    try:
        results = cs.average_pq(stat, categories)
    except ZeroDivisionError:  # a group (things or stuff) with no counted category: only counts exist
        return out
    for group, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
        for key in ("pq", "sq", "rq"):
            out[key + suffix] = 100.0 * results[group][key]
        out["n" + suffix] = results[group]["n"]
    out["per_class"] = {int(k): {m: 100.0 * float(v[m]) for m in ("pq", "sq", "rq")}
                        for k, v in results["per_class"].items()}
    return out
