"""Intervals of a Δ between two arms: the seed t interval against scipy's paired t test, the paired
bootstrap over validation images against a plain loop over the same resamples (PQ by panopticapi's
averaging, mIoU from a confusion matrix), and per-image counts stored by a real evaluation that give
back the run's PQ and mIoU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.intervals import arm_interval, paired_bootstrap, resample_weights, seed_t_interval
from harness.metrics.panoptic_reference import average_pq
from harness.metrics.per_image import (PER_IMAGE_FILE, PerImageCounts, dataset_metrics, read_per_image,
                                       write_per_image)
from harness.metrics.pq_image import PQCounts


def hand_made(rng: np.random.Generator, n_images: int = 25, n_cats: int = 5, shift: int = 0) -> PerImageCounts:
    tp = rng.integers(0, 4, (n_images, n_cats)) + shift
    iou = tp * rng.uniform(0.5, 1.0, (n_images, n_cats))
    sem_tp = rng.integers(0, 50, (n_images, 4)) + 10 * shift
    return PerImageCounts(np.array([f"img{i:02d}" for i in range(n_images)]), np.arange(1, n_cats + 1),
                          np.array([True, True, False, False, False][:n_cats]), tp,
                          rng.integers(0, 3, (n_images, n_cats)), rng.integers(0, 3, (n_images, n_cats)), iou,
                          sem_tp, sem_tp + rng.integers(0, 20, (n_images, 4)),
                          sem_tp + rng.integers(0, 20, (n_images, 4)))


def loop_pq(c: PerImageCounts, rows: np.ndarray) -> float:
    counts = PQCounts(c.pq_iou[rows].sum(0), c.pq_tp[rows].sum(0), c.pq_fp[rows].sum(0), c.pq_fn[rows].sum(0))
    return average_pq(counts, c.categories)["pq"]


def loop_miou(c: PerImageCounts, rows: np.ndarray) -> float:
    """mIoU the plain way: IoU = TP / (TP + FP + FN) of each class with a non-empty union, averaged."""
    tp, gt, pred = c.sem_tp[rows].sum(0), c.sem_gt[rows].sum(0), c.sem_pred[rows].sum(0)
    ious = [100.0 * t / (t + (p - t) + (g - t)) for t, g, p in zip(tp, gt, pred) if g + p - t > 0]
    return float(np.mean(ious))


@pytest.mark.parametrize("key, reference", [("pq", loop_pq), ("miou", loop_miou)])
def test_paired_bootstrap_equals_a_plain_loop_over_the_same_resamples(key, reference):
    rng = np.random.default_rng(3)
    pairs = [(hand_made(rng, shift=1), hand_made(rng)) for _ in range(2)]  # two seed pairs, one image set
    delta, low, high, n = paired_bootstrap(pairs, key, resamples=1000, seed=7)
    weights = resample_weights(25, 1000, 7)
    draws = np.random.default_rng(7).integers(0, 25, size=(1000, 25))
    assert (weights == np.stack([np.bincount(d, minlength=25) for d in draws])).all()
    loop = [np.mean([reference(a, d) - reference(b, d) for a, b in pairs]) for d in draws]
    everything = np.arange(25)
    assert n == 25
    assert delta == pytest.approx(np.mean([reference(a, everything) - reference(b, everything) for a, b in pairs]),
                                  abs=1e-9)
    assert (low, high) == pytest.approx(tuple(np.percentile(loop, [2.5, 97.5])), abs=1e-9)
    assert low < delta < high


def test_paired_bootstrap_pairs_images_by_id_not_by_position():
    rng = np.random.default_rng(0)
    a, b = hand_made(rng, shift=1), hand_made(rng)
    flipped = a.subset(np.arange(25)[::-1])
    assert paired_bootstrap([(flipped, b)], "pq") == paired_bootstrap([(a, b)], "pq")


def test_seed_t_interval_equals_scipys_paired_t_test():
    treated, control = np.array([31.0, 33.5, 32.2, 34.1]), np.array([30.2, 31.0, 31.9, 32.0])
    mean, low, high = seed_t_interval(treated - control)
    ci = stats.ttest_rel(treated, control).confidence_interval(0.95)
    assert (mean, low, high) == pytest.approx((np.mean(treated - control), ci.low, ci.high), abs=1e-12)


def test_arm_interval_picks_t_with_three_seeds_and_none_without_counts(tmp_path):
    def arm(values):
        return pd.DataFrame({"seed": [0, 1, 2], "run_dir": [str(tmp_path / f"r{v}") for v in values], "pq": values,
                             "fid": values})

    t = arm_interval(arm([30.0, 31.0, 33.0]), arm([29.0, 30.5, 31.0]), "pq")
    assert t.method == "t, 3 seeds" and t.low < t.delta < t.high
    one = arm_interval(arm([30.0, 31.0, 33.0]).head(1), arm([29.0, 30.5, 31.0]).head(1), "fid")
    assert one.method == "none (1 seed)" and one.delta == 1.0 and np.isnan(one.low)


def test_stored_counts_round_trip_and_refuse_a_pickle(tmp_path):
    rng = np.random.default_rng(1)
    counts = hand_made(rng)
    path = write_per_image(tmp_path / PER_IMAGE_FILE, counts)
    back = read_per_image(path)
    assert all((getattr(back, k) == getattr(counts, k)).all() for k in ("image_ids", "pq_tp", "pq_iou", "sem_gt"))
    np.savez(tmp_path / "bad.npz", image_ids=np.array([{"x": 1}], dtype=object))
    with pytest.raises(Exception, match="bad.npz"):
        read_per_image(tmp_path / "bad.npz")


@pytest.mark.slow
def test_a_runs_stored_counts_give_back_its_pq_and_miou(tmp_path):
    """A tiny training run's evaluation writes predictions/per_image.npz; the summed counts give exactly
    the PQ of the reference engine on its predictions, the run's (hotcoco) PQ and its mIoU."""
    import json

    from harness.data.dataset import PanopticDataset
    from harness.metrics.panoptic import pq_compute
    from harness.train.run import run_training
    from harness.config.run_spec import RunSpec

    overrides = ["data.n=2", "data.panda=none", "data.synth.count=3", "data.synth.val_count=3", "train.max_iters=2",
                 f"data.cache={tmp_path / 'cache'}"]
    run_dir = run_training(RunSpec.from_recipe("panda-table2-mini", overrides), tmp_path / "runs",
                           progress=False).run_dir
    counts = read_per_image(run_dir / "predictions" / PER_IMAGE_FILE)
    assert len(counts.image_ids) == 3
    metrics = json.loads((run_dir / "metrics.json").read_text())
    recomputed = dataset_metrics(counts)
    predictions = run_dir / "predictions"
    val = PanopticDataset.load(json.loads((run_dir / "run.json").read_text())["data"]["val_root"])
    reference = pq_compute(val.json_path, val.panoptic_dir, predictions / "panoptic.json", predictions / "panoptic",
                           engine="panbench")
    for key in ("pq", "sq", "rq", "pq_th", "pq_st"):
        assert recomputed[key] == reference[key]
        assert recomputed[key] == pytest.approx(metrics[key], abs=1e-9)
    assert recomputed["miou"] == metrics["miou"] and recomputed["accuracy"] == metrics["accuracy"]
