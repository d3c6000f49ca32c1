"""95 % intervals of a Δ between two arms (PanDA vs original, PanDA vs its compute-matched control,
panoptic SPADE vs SPADE). With three or more training seeds both arms share: a Student t interval on the
paired seed differences. Otherwise a paired bootstrap over the validation images: every resample draws
the same images for both arms, dataset-level PQ / mIoU are recomputed from the stored per-image counts
(harness.metrics.per_image) and the interval is the 2.5 / 97.5 percentiles of the resampled Δ (averaged
over the seed pairs there are). Other metrics (FID, KID, AP) get no interval with fewer than three seeds."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from harness.errors import PanbenchError
from harness.metrics.per_image import PER_IMAGE_FILE, PerImageCounts, read_per_image, resampled
from harness.tracking.run_store import PREDICTIONS

LEVEL = 0.95
MIN_SEEDS = 3
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
BOOTSTRAP_METRICS = ("pq", "sq", "rq", "pq_th", "sq_th", "rq_th", "pq_st", "sq_st", "rq_st", "miou", "accuracy")


@dataclass(frozen=True)
class Interval:
    delta: float
    low: float
    high: float
    method: str  # what a reader is told: "t, 3 seeds", "bootstrap, 40 images", "none (1 seed)"


def seed_t_interval(differences: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): mean ± t_{(1+level)/2, n-1} · s / √n of paired seed differences."""
    d = np.asarray(differences, np.float64)
    mean = float(d.mean())
    half = float(stats.t.ppf((1 + level) / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return mean, mean - half, mean + half


def resample_weights(n_images: int, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """(resamples, n_images): how often each image is drawn in each resample (n draws with replacement)."""
    draws = np.random.default_rng(seed).integers(0, n_images, size=(resamples, n_images))
    offsets = draws + n_images * np.arange(resamples)[:, None]
    return np.bincount(offsets.ravel(), minlength=resamples * n_images).reshape(resamples, n_images)


def aligned(pairs: list[tuple[PerImageCounts, PerImageCounts]]) -> list[tuple[PerImageCounts, PerImageCounts]]:
    """Every count set restricted to the validation images all of them scored, in one order."""
    common = set.intersection(*(set(c.image_ids.tolist()) for pair in pairs for c in pair))
    if not common:
        raise PanbenchError("the two arms were scored on no common validation image")
    order = sorted(common)

    def rows(c: PerImageCounts) -> np.ndarray:
        position = {image: k for k, image in enumerate(c.image_ids.tolist())}
        return np.array([position[image] for image in order])

    return [(a.subset(rows(a)), b.subset(rows(b))) for a, b in pairs]


def paired_bootstrap(pairs: list[tuple[PerImageCounts, PerImageCounts]], key: str, resamples: int = RESAMPLES,
                     seed: int = BOOTSTRAP_SEED, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(Δ, low, high, images): `key` of arm a minus arm b on the full set (mean over the seed pairs), and
    the percentile interval of the same Δ over `resamples` image sets drawn once for every pair."""
    pairs = aligned(pairs)
    n_images = len(pairs[0][0].image_ids)
    weights = resample_weights(n_images, resamples, seed)
    every = np.ones((1, n_images))
    point = np.mean([resampled(a, every, key)[0] - resampled(b, every, key)[0] for a, b in pairs])
    deltas = np.mean([resampled(a, weights, key) - resampled(b, weights, key) for a, b in pairs], axis=0)
    low, high = np.nanpercentile(deltas, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(point), float(low), float(high), n_images


@functools.lru_cache(maxsize=64)
def per_image_counts(run_dir: str | Path) -> PerImageCounts | None:
    """A run's stored per-image counts, or None when its evaluation wrote none (older runs)."""
    path = Path(run_dir) / PREDICTIONS / PER_IMAGE_FILE
    return read_per_image(path) if path.is_file() else None


def arm_interval(treated: pd.DataFrame, control: pd.DataFrame, key: str) -> Interval:
    """The Δ `key` (treated − control) of two arms' runs (columns seed, run_dir, `key`), paired by seed."""
    pairs = treated.groupby("seed").first().join(control.groupby("seed").first(), rsuffix="_c", how="inner")
    pairs = pairs[pairs[key].notna() & pairs[f"{key}_c"].notna()]
    if pairs.empty:
        return Interval(np.nan, np.nan, np.nan, "none (no seed in both arms)")
    differences = (pairs[key] - pairs[f"{key}_c"]).to_numpy(float)
    if len(pairs) >= MIN_SEEDS:
        mean, low, high = seed_t_interval(differences)
        return Interval(mean, low, high, f"t, {len(pairs)} seeds")
    none = Interval(float(differences.mean()), np.nan, np.nan, f"none ({len(pairs)} seed{'s' * (len(pairs) > 1)})")
    if key not in BOOTSTRAP_METRICS:
        return none
    counts = [(per_image_counts(a), per_image_counts(b)) for a, b in zip(pairs.run_dir, pairs.run_dir_c)]
    if any(a is None or b is None for a, b in counts):
        return none
    delta, low, high, n_images = paired_bootstrap(counts, key)
    return Interval(delta, low, high, f"bootstrap, {n_images} images")


def arm_intervals(treated: pd.DataFrame, control: pd.DataFrame, keys: list[str]) -> tuple[dict[str, Interval], str]:
    """`arm_interval` of each key, and what a reader is told: one method (`t, 3 seeds`), or each method
    with its keys (`bootstrap, 40 images: pq, miou; none (1 seed): ap`)."""
    intervals = {key: arm_interval(treated, control, key) for key in keys}
    methods: dict[str, list[str]] = {}
    for key, interval in intervals.items():
        methods.setdefault(interval.method, []).append(key)
    if len(methods) == 1:
        return intervals, next(iter(methods))
    return intervals, "; ".join(f"{method}: {', '.join(ms)}" for method, ms in methods.items())
