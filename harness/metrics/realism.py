"""How realistic an augmented set is (issue 25): FID and KID of its images against the real images
it was made from, with the FID machinery of the synthesis protocol (torch-fidelity's Inception,
harness/metrics/fid.py, kid.py), so a PanDA set's realism and a generator's FID are one measure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data.dataset import PanopticDataset
from harness.data.images import read_rgb
from harness.metrics.synthesis import _feature_distances

REALISM_JSON = "realism.json"  # beside a PanDA set's manifest.json


def set_realism(set_root: str | Path, real_root: str | Path, *, fid_weights: str | Path | None = None,
                batch_size: int = 16, progress: bool = False) -> dict[str, Any]:
    """{"fid", "kid", "kid_std", "protocol"} of the images of the dataset at `set_root` against those of
    `real_root`, on the CPU; {"protocol": {"skipped": why}} when the Inception weights are not here."""
    fake_ds, real_ds = PanopticDataset.load(set_root), PanopticDataset.load(real_root)
    fake_paths = [fake_ds.image_path(image) for image in fake_ds.images]
    real = (read_rgb(real_ds.image_path(image)) for image in real_ds.images)
    scores, about = _feature_distances(real, fake_paths, fid_weights, None, "cpu", batch_size, progress)
    if "real" in about:
        about["real"] = str(real_root)
    return {**scores, "protocol": about}
