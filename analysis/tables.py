"""The papers' tables, built from the published numbers (`reference`) or from the run store (`runs`).

Each builder returns a `Table`: a frame (one row per printed row), a caption that says where the
numbers come from (and where the paper's own numbers disagree), and float formats per column.
`_std` columns hold the spread over seeds; the renderers print them as `mean ± std`. A fit through
fewer than three training-set sizes is flagged: a `note` column beside it and a caution in the caption."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from analysis import reference as ref
from analysis.efficiency import efficiency_table, invertible
from analysis.fits import LogLinearFit, fit_log_linear
from analysis.intervals import arm_intervals
from analysis.runs import aggregate_seeds, load_runs, per_class_long, spread_phrase
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.data.augment_mode import AugmentMode
from harness.data.categories import CITYSCAPES_CATEGORIES
from harness.errors import PanbenchError

PANOPTIC_METRICS = ["pq", "sq", "rq", "pq_th", "pq_st", "miou", "ap", "ap_box"]
COPIES_METRICS = ["pq", "ap"]  # the copies study's table and figure
PEERS_METRICS = ["pq", "pq_th", "pq_st", "ap", "ap_box", "miou"]  # the peers study's table and figure
VARIANT_ORDER = ["none", "extra-iterations", "dropout", "dropout+resize", "dropout+shift", "dropout+resize+shift",
                 "panda-1x", "panda-2x", "panda-4x", "panda-8x", "panda-online"]
TABLE3_FORMATS = {"images": "d", "n_orig": ".1f", "n_aug": ".1f", "de": ".1f"}
THINGS = [c.name for c in CITYSCAPES_CATEGORIES if c.isthing]
CATEGORY_NAMES = {str(c.id): c.name for c in CITYSCAPES_CATEGORIES}


@dataclass
class Table:
    name: str
    frame: pd.DataFrame
    caption: str
    formats: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFilter:
    """Which runs a table is built from (all finished runs when every field is None)."""

    root: Path = DEFAULT_RUNS_ROOT
    recipe: str | None = None
    model: str | None = None
    dataset: str | None = None


def round_significant(x: float, digits: int) -> float:
    """The paper prints Eq. 1-3 with five significant digits (6.3255, -11.494)."""
    return float(f"{x:.{digits}g}")


# ---------------------------------------------------------------------------------------------------------------
# reference
# ---------------------------------------------------------------------------------------------------------------

def wide(frame: pd.DataFrame, index: list[str], columns: str, order: list[str]) -> pd.DataFrame:
    """Printed strings pivoted back to the paper's layout; a dash in the paper is an empty cell."""
    frame = frame.copy()
    frame["_row"] = frame.groupby(index, sort=False).ngroup()
    wide = frame.pivot_table(index=["_row", *index], columns=columns, values="value", aggfunc="first")
    wide = wide.reindex(columns=[c for c in order if c in wide.columns]).reset_index().drop(columns="_row")
    wide.columns.name = None
    return wide.fillna("")


def reference_fits() -> dict[str, LogLinearFit]:
    points = ref.fit_inputs()
    return {m: fit_log_linear(g.images.to_numpy(), g.value.to_numpy()) for m, g in points.groupby("metric", sort=False)}


def fit_table(fits: dict[str, LogLinearFit], name: str, caption: str) -> Table:
    frame = pd.DataFrame([{"metric": m, "slope": round_significant(f.slope, 5),
                           "intercept": round_significant(f.intercept, 5), "r2": round(f.r2, 4)}
                          for m, f in fits.items()], columns=["metric", "slope", "intercept", "r2"])
    frame, caption = flag_weak_fits(frame, fits, caption)
    return Table(name, frame, caption, {"slope": ".5g", "intercept": ".5g", "r2": ".4f"})


def flag_weak_fits(frame: pd.DataFrame, fits: dict[str, LogLinearFit], caption: str) -> tuple[pd.DataFrame, str]:
    """A `note` column on the rows (by `metric`) whose fit has fewer than three sizes n, and a caution
    ending the caption; the frame is unchanged when every fit has enough sizes."""
    weak = {m: f.caution for m, f in fits.items() if f.caution}
    if not weak:
        return frame, caption
    frame = frame.assign(note=frame.metric.map(weak).fillna(""))
    sizes = sorted({f.sizes for f in fits.values() if f.caution})
    return frame, (f"{caption} Caution: {', '.join(weak)} fitted through {' / '.join(map(str, sizes))} "
                   f"sizes n only; a line through two sizes always fits (r² = 1 with one run per size), "
                   f"so its N and DE are not evidence.")


def reference_fit() -> Table:
    caption = ("PanDA Eq. 1-3: metric = slope·ln(n) + intercept, refit (scipy linregress) on UPSNet-50 without "
               "PanDA: Table 2's 10 / 100 / 1,000-image rows and, at n = 3000 (not 2,975), Table 1's baseline "
               "(58.8 PQ, 33.5 AP, 38.7 APbox). Table 2's own 3,000-image row (59.3 / 33.3 / 39.1) is the UPSNet "
               "paper's published result and does not reproduce the printed fits.")
    return fit_table(reference_fits(), "panda-fit", caption)


def reference_table3() -> Table:
    printed = {m: replace(f, slope=round_significant(f.slope, 5), intercept=round_significant(f.intercept, 5))
               for m, f in reference_fits().items()}
    base = ref.fit_inputs().pivot(index="images", columns="metric", values="value")
    aug = ref.augmented_points().pivot(index="images", columns="metric", values="value")
    frame = efficiency_table(printed, base, aug)
    caption = ("PanDA Table 3, data efficiency, recomputed: N = exp((metric - b)/a) with Eq. 1-3's printed "
               "(5-significant-digit) coefficients; N_orig from the fit's inputs (at 3,000 images Table 1's "
               "baseline 58.8 / 33.5 / 38.7, not Table 2's 59.3 / 33.3 / 39.1), N_aug from Table 2's PanDA rows; "
               "DE = (N_aug - N_orig)/N_orig x 100 from the unrounded N.")
    return Table("panda-table3", frame, caption, TABLE3_FORMATS)


# ---------------------------------------------------------------------------------------------------------------
# runs
# ---------------------------------------------------------------------------------------------------------------

def select_runs(where: RunFilter) -> pd.DataFrame:
    runs = load_runs(where.root, finished_only=True)
    for column in ("recipe", "model", "dataset"):
        wanted = getattr(where, column)
        if wanted is not None:
            runs = runs[runs[column] == wanted]
    if runs.empty:
        raise PanbenchError(f"{where.root}: no finished runs"
                            + "".join(f" with {c}={getattr(where, c)}" for c in ("recipe", "model", "dataset")
                                      if getattr(where, c) is not None)
                            + " (run `panbench sweep RECIPE` first)")
    runs = runs.reset_index(drop=True)
    return runs.assign(variant=mark_extra_iterations(runs))


def mark_extra_iterations(runs: pd.DataFrame) -> pd.Series:
    """A run without PanDA trained for more epochs than its recipe's plain baseline is the 'extra
    iterations' control (Table 4), never one more seed of the baseline nor a point of its fit."""
    plain = runs.variant == "none"
    baseline_epochs = runs.epochs.where(plain).groupby(runs.recipe).transform("min")
    return runs.variant.mask(plain & (runs.epochs > baseline_epochs), "extra-iterations")


def panda_setting(runs: pd.DataFrame) -> pd.Series:
    """Each run's augmentation schedule (`none`, `Kx`, `online`) from run.json's structured variant."""
    return runs.augment.map(lambda mode: mode.setting)


def matched_controls(runs: pd.DataFrame, panda: pd.DataFrame) -> pd.DataFrame:
    """The compute-matched plain controls of the PanDA runs `panda` (one model, dataset and n): the
    `extra-iterations` runs (see `mark_extra_iterations`) of the same recipe, model, dataset and n
    trained for as many iterations. PanDA Kx trains (K + 1) x the baseline's iterations and online
    PanDA n / (1 - mix) samples per epoch, so each PanDA row has its own control (Table 4's is 1x's)."""
    keys = ["recipe", "model", "dataset", "n"]
    controls = runs[runs.variant == "extra-iterations"]
    same = controls[keys].apply(tuple, axis=1).isin(set(panda[keys].apply(tuple, axis=1)))
    return controls[same & controls.iterations.isin(set(panda.iterations.dropna()))]


def _mean_std(frame: pd.DataFrame, metrics: list[str], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for m in metrics:
        out[f"{prefix}{m}"] = frame[m].mean() if len(frame) else float("nan")
        out[f"{prefix}{m}_std"] = frame[m].std(ddof=1) if len(frame) > 1 else float("nan")
    return out


def _paired_delta(panda: pd.DataFrame, controls: pd.DataFrame, metrics: list[str]) -> dict[str, float]:
    """PanDA minus control, paired by training seed, mean ± std over the seeds both have."""
    pairs = panda.groupby("seed")[metrics].mean().join(controls.groupby("seed")[metrics].mean(), rsuffix="_c",
                                                       how="inner")
    diff = pd.DataFrame({m: pairs[m] - pairs[f"{m}_c"] for m in metrics})
    return _mean_std(diff, metrics, "delta_")


def _delta_intervals(panda: pd.DataFrame, controls: pd.DataFrame, metrics: list[str]) -> dict[str, object]:
    """The 95 % interval of each Δ (analysis/intervals.py) and which one it is (`interval`)."""
    intervals, method = arm_intervals(panda, controls, metrics)
    return {**{f"delta_{m}_{end}": getattr(i, end) for m, i in intervals.items() for end in ("low", "high")},
            "interval": method}


def runs_copies_table(runs: pd.DataFrame, metrics: list[str] = COPIES_METRICS) -> Table:
    """The copies study: per (model, dataset, n), the plain baseline, then each PanDA setting (1x, 2x,
    4x, 8x offline, online) beside its compute-matched plain control and the difference (of `metrics`;
    the realism study, analysis/realism.py, asks for the whole PQ family)."""
    runs = runs.assign(copies=panda_setting(runs))
    metrics = _measured(runs, metrics)
    rows, unmatched = [], []
    for (model, dataset, n), cell in runs.groupby(["model", "dataset", "n"], sort=True):
        head = {"model": model, "dataset": dataset, "images": n}
        base = cell[cell.variant == "none"]
        if len(base):
            rows.append({**head, "copies": "none", "variant": "none", "iterations": base.iterations.median(),
                         "seeds": base.seed.nunique(), **_mean_std(base, metrics)})
        for variant, panda in cell[~cell.variant.isin(["none", "extra-iterations"])].groupby("variant", sort=False):
            controls = matched_controls(cell, panda)
            if controls.empty:
                unmatched.append(variant)
            rows.append({**head, "copies": panda.copies.iloc[0], "variant": variant,
                         "iterations": panda.iterations.median(), "seeds": panda.seed.nunique(),
                         **_mean_std(panda, metrics), "control_seeds": controls.seed.nunique(),
                         **_mean_std(controls, metrics, "control_"), **_paired_delta(panda, controls, metrics),
                         **(_delta_intervals(panda, controls, metrics) if len(controls) else {})})
    frame = pd.DataFrame(rows)
    frame = frame.assign(_rank=frame.copies.map(lambda setting: AugmentMode.parse(setting).rank)).sort_values(
        ["model", "dataset", "images", "_rank", "variant"], kind="stable").drop(columns="_rank").reset_index(drop=True)
    seeds = sorted(set(runs.seed.dropna().astype(int)))
    caption = ("The copies study from the run store: at a fixed n, PanDA Kx generated offline and online PanDA "
               "(drawn fresh every pass), each beside its compute-matched plain control (no PanDA, as many "
               "iterations: the `extra-iterations` runs of the same iteration count); Δ = PanDA − control, paired "
               "by training seed, with its 95 % interval in brackets (`interval`: t on the paired seed differences "
               "with >= 3 seeds, else a paired bootstrap over the validation images, else none). Constant epochs "
               "count the original images, so Kx trains (K + 1)x the baseline's "
               "iterations and online PanDA at mix 0.5 those of 1x. The papers publish no numbers for this study. "
               f"Runs: {len(runs)}; seeds {seeds}; {spread_phrase(len(seeds))}."
               + (f" No control (a plain run of the same iterations) for {', '.join(unmatched)}." if unmatched else ""))
    return Table("panda-copies", frame, caption, _arm_formats(frame, metrics))


def _arm_formats(frame: pd.DataFrame, metrics: list[str]) -> dict[str, str]:
    """Counts as integers, every metric column of an arm table (mean, std, control, Δ, interval) to 2 decimals."""
    return {"images": "d", "iterations": "d", "seeds": "d", "control_seeds": "d",
            **{c: ".2f" for c in frame.columns if c.removesuffix("_std").removesuffix("_low").removesuffix("_high")
               .removeprefix("control_").removeprefix("delta_") in metrics}}


def runs_peers_table(runs: pd.DataFrame) -> Table:
    """The peers study (issue 26): per (model, dataset, n), the plain baseline and control, then each
    augmentation arm (`data.augment`: PanDA, Copy-Paste, their composition, any door method) offline 1x
    and online beside its compute-matched plain control, with Δ and its 95 % interval."""
    runs = runs.assign(method=runs.augment.map(lambda m: m.method), schedule=panda_setting(runs))
    metrics = _measured(runs, PEERS_METRICS)
    rows, unmatched = [], []
    for (model, dataset, n), cell in runs.groupby(["model", "dataset", "n"], sort=True):
        head = {"model": model, "dataset": dataset, "images": n}
        for variant, group in cell.groupby("variant", sort=False):
            plain = variant in ("none", "extra-iterations")
            row = {**head, "arm": "none" if plain else group.method.iloc[0], "schedule": group.schedule.iloc[0],
                   "variant": variant, "iterations": group.iterations.median(), "seeds": group.seed.nunique(),
                   **_mean_std(group, metrics)}
            if not plain:
                controls = matched_controls(cell, group)
                if controls.empty:
                    unmatched.append(f"{variant} (n={n})")
                else:
                    row |= {"control_seeds": controls.seed.nunique(), **_paired_delta(group, controls, metrics),
                            **_delta_intervals(group, controls, metrics)}
            rows.append(row)
    order = {"none": 0, "extra-iterations": 1}
    frame = pd.DataFrame(rows)
    frame = frame.assign(_rank=frame.variant.map(lambda v: order.get(v, 2))).sort_values(
        ["model", "dataset", "images", "_rank", "arm", "schedule"], kind="stable").drop(columns="_rank")
    seeds = sorted(set(runs.seed.dropna().astype(int)))
    caption = ("The peers study from the run store: each augmentation arm (data.augment: PanDA, Simple Copy-Paste, "
               "their composition), offline 1x and online, beside its compute-matched plain control (no "
               "augmentation, as many iterations: `extra-iterations`); Δ = arm − control paired by training seed, "
               "with its 95 % interval (`interval`: t on the paired seed differences with >= 3 seeds, else a paired "
               "bootstrap over the validation images, else none). The papers publish no numbers for this study. "
               f"Runs: {len(runs)}; seeds {seeds}; {spread_phrase(len(seeds))}."
               + (f" No control for {', '.join(unmatched)}." if unmatched else ""))
    return Table("panda-peers", frame.reset_index(drop=True), caption, _arm_formats(frame, metrics))


def _measured(runs: pd.DataFrame, metrics: list[str]) -> list[str]:
    return [m for m in metrics if runs[m].notna().any()]


def _order_variants(frame: pd.DataFrame, column: str = "variant") -> pd.DataFrame:
    rank = {v: i for i, v in enumerate(VARIANT_ORDER)}
    keys = [c for c in ("model", "dataset", "n") if c in frame]
    frame = frame.assign(_rank=frame[column].map(lambda v: rank.get(v, len(rank))))
    return frame.sort_values([*keys, "_rank", column], kind="stable").drop(columns="_rank").reset_index(drop=True)


def seed_table(name: str, runs: pd.DataFrame, keys: list[str], caption: str) -> Table:
    metrics = _measured(runs, PANOPTIC_METRICS)
    frame = _order_variants(aggregate_seeds(runs, keys, metrics), keys[-1])
    frame = frame.rename(columns={"n": "images"})  # the papers' "# images" (original images)
    formats = {"images": "d", **{c: ".2f" for c in frame.columns if c.split("_std")[0] in metrics}}
    seeds = sorted(set(runs.seed.dropna().astype(int)))
    return Table(name, frame, f"{caption} Runs: {len(runs)}; seeds {seeds}; {spread_phrase(len(seeds))}.", formats)


def ablation_label(runs: pd.DataFrame) -> pd.Series:
    """Table 4 rows: the 'extra iterations' control (see `mark_extra_iterations`), and PanDA 1x with
    every operation is 'dropout+resize+shift'."""
    return mark_extra_iterations(runs).replace({"panda-1x": "dropout+resize+shift"})


def curve_group(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of one learning curve: the (model, dataset) with the most training-set sizes."""
    sizes = runs.groupby(["model", "dataset"]).n.nunique().sort_values(ascending=False, kind="stable")
    model, dataset = sizes.index[0]
    return runs[(runs.model == model) & (runs.dataset == dataset)]


def runs_fits(runs: pd.DataFrame, variant: str = "none") -> tuple[dict[str, LogLinearFit], str]:
    group = curve_group(runs)
    chosen = group[group.variant == variant]
    if chosen.n.nunique() < 2:
        raise PanbenchError(f"a learning curve needs runs with variant '{variant}' at two or more sizes n; "
                            f"found n = {sorted(chosen.n.dropna().unique().tolist())}")
    fits = {m: fit_log_linear(chosen.n.to_numpy(), chosen[m].to_numpy())
            for m in _measured(chosen, list(ref.FIT_METRICS))}
    label = f"{group.model.iloc[0]} on {group.dataset.iloc[0]}, {len(chosen)} runs, variant {variant}"
    return fits, label


def runs_table3(runs: pd.DataFrame) -> Table:
    fits, label = runs_fits(runs)
    group = curve_group(runs)
    means = group.groupby(["variant", "n"])[list(fits)].mean()
    if "panda-1x" not in means.index.get_level_values(0):
        raise PanbenchError("panda-table3 needs runs with PanDA 1x (variant 1x) beside the baseline")
    frame = efficiency_table(fits, means.loc["none"], means.loc["panda-1x"])
    per_seed = _per_seed_de(group, fits)
    falling = [m for m, f in fits.items() if not f.slope > 0]
    caption = (f"Data efficiency from the run store: fits of {label}; N from the mean metric over seeds."
               + (f" DE per seed: {per_seed}." if per_seed else "")
               + (f" No usable learning curve for {', '.join(falling)} (slope <= 0: the metric does not rise"
                  f" with n, so N is meaningless or undefined)." if falling else ""))
    frame, caption = flag_weak_fits(frame, fits, caption)
    return Table("panda-table3", frame, caption + compute_confound(group), TABLE3_FORMATS)


def compute_confound(group: pd.DataFrame) -> str:
    """One caption line when PanDA 1x trained more iterations than the baseline (constant epochs over
    twice the images): DE then mixes more data with more compute, which the copies study separates."""
    iterations = group.groupby("variant").iterations.median()
    if not {"none", "panda-1x"} <= set(iterations.index) or not iterations["panda-1x"] > iterations["none"]:
        return ""
    return (f" Compute confound: the PanDA 1x runs also trained {iterations['panda-1x'] / iterations['none']:.1f}x "
            f"the baseline's iterations ({iterations['panda-1x']:.0f} vs {iterations['none']:.0f}, median), so DE "
            "mixes more data with more compute; the copies study (`make panda-copies`) sets PanDA beside plain "
            "runs of the same iterations.")


def _per_seed_de(group: pd.DataFrame, fits: dict[str, LogLinearFit]) -> str:
    """Spread of DE over seeds (baseline and PanDA runs paired by seed), for the caption."""
    parts = []
    for (n, metric), values in _seed_de(group, fits).groupby(["n", "metric"]):
        if len(values) > 1:
            parts.append(f"n={int(n)} {metric} {values.de.mean():.1f} ± {values.de.std(ddof=1):.1f}")
    return "; ".join(parts)


def _seed_de(group: pd.DataFrame, fits: dict[str, LogLinearFit]) -> pd.DataFrame:
    base = group[group.variant == "none"].set_index(["n", "seed"])
    aug = group[group.variant == "panda-1x"].set_index(["n", "seed"])
    common = base.index.intersection(aug.index)
    rows = []
    for metric, fit in fits.items():
        if not invertible(fit):
            continue
        n_orig = fit.effective_size(base.loc[common, metric].to_numpy())
        n_aug = fit.effective_size(aug.loc[common, metric].to_numpy())
        for (n, seed), o, a in zip(common, n_orig, n_aug):
            rows.append({"n": n, "seed": seed, "metric": metric, "de": (a - o) / o * 100.0})
    return pd.DataFrame(rows, columns=["n", "seed", "metric", "de"])


def per_class_table(name: str, runs: pd.DataFrame, root: Path, metric: str) -> Table:
    classes = per_class_long(root)
    classes = classes[(classes.metric == metric) & classes.run_id.isin(runs.run_id)]
    if classes.empty:
        raise PanbenchError(f"{root}: no per-class '{metric}' in the metrics.json of the selected runs")
    classes = classes.merge(runs[["run_id", "model", "variant"]], on="run_id")
    classes["category"] = classes.category.map(lambda c: CATEGORY_NAMES.get(c, c))
    frame = classes.pivot_table(index=["model", "variant"], columns="category", values="value", aggfunc="mean")
    known = [c.name for c in CITYSCAPES_CATEGORIES]
    frame = frame.reindex(columns=[c for c in known if c in frame.columns]
                          + [c for c in frame.columns if c not in known]).reset_index()
    frame.columns.name = None
    frame = _order_variants(frame)
    formats = {c: ".2f" for c in frame.columns if c not in ("model", "variant")}
    caption = f"Per-class {metric} from the run store (mean over the selected runs of each model and variant)."
    return Table(name, frame, caption, formats)
