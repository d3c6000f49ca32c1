"""Fréchet Inception Distance (Heusel et al. 2017; synthesis paper Sec. 4, Tables 1-2) through
torchmetrics' `FrechetInceptionDistance`, whose standard Inception comes from torch-fidelity.

panbench never lets torch-fidelity download: the weights file is located first (an explicit path,
else torch hub's cache where torch-fidelity itself would have stored it) and an error says where it
looked and how to provide it. Any `nn.Module` mapping uint8 (B, 3, H, W) images to (B, F) features
can replace Inception (tests use a small fixed random CNN)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import scipy.linalg
import torch
from torch import nn

from harness.data.images import read_rgb
from harness.errors import DatasetError, PanbenchError
from harness.progress import progress_bar

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class MissingWeightsError(PanbenchError, FileNotFoundError):
    """The Inception weights FID needs are not on this machine."""


def cached_inception_path() -> Path:
    """Where torch-fidelity's own download would have put the weights (torch hub's checkpoint cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def find_inception_weights(weights_path: str | Path | None = None) -> Path:
    """The weights file to load, or MissingWeightsError naming the file(s) looked for."""
    candidates = [Path(weights_path)] if weights_path else [cached_inception_path()]
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise MissingWeightsError(
        f"Inception weights for FID not found (looked for {looked}). Download {INCEPTION_URL} once on a machine "
        f"with internet, then pass it with `panbench evaluate fid --weights FILE`, the recipe key "
        f"`feature_extractor_weights_path`, or copy it to {cached_inception_path()}; or pass your own "
        f"feature_extractor module.")


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d² = ||mu1 - mu2||² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½) of two Gaussians, with the
    matrix square root from scipy (independent of torchmetrics' eigenvalue route)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def image_files(folder: str | Path) -> list[Path]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
        if Path(folder).is_dir() else []
    if not files:
        raise DatasetError(folder, "no .png/.jpg images found (is this a folder of images?)")
    return files


def _as_images(images: str | Path | Iterable[np.ndarray]) -> tuple[Iterable[np.ndarray], int | None]:
    if isinstance(images, (str, Path)):
        files = image_files(images)
        return (read_rgb(f) for f in files), len(files)
    return images, len(images) if isinstance(images, Sequence) else None


def _batches(images: Iterable[np.ndarray], batch_size: int) -> Iterator[torch.Tensor]:
    """uint8 (B, 3, H, W) tensors of consecutive same-size images (FID's Inception resizes to 299
    itself, so images are passed at their own resolution)."""
    batch: list[np.ndarray] = []
    for image in images:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"FID expects (H, W, 3) uint8 images, got {image.dtype} {image.shape}")
        if batch and (len(batch) == batch_size or image.shape != batch[0].shape):
            yield torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
            batch = []
        batch.append(image)
    if batch:
        yield torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)


def compute_fid(real_images: str | Path | Iterable[np.ndarray], fake_images: str | Path | Iterable[np.ndarray],
                feature_extractor: nn.Module | None = None, weights_path: str | Path | None = None,
                batch_size: int = 32, device: str | torch.device = "cpu", progress: bool = True,
                dims: int = 2048) -> float:
    """FID between two image sets (folders or iterables of (H, W, 3) uint8 arrays).

    With no `feature_extractor`, torch-fidelity's InceptionV3 features are used (`dims` 2048 = the
    standard pool features; 64 / 192 / 768 are earlier layers), loaded from `weights_path` (or
    torch hub's cache), never downloaded."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    sets = [(_as_images(real_images), True), (_as_images(fake_images), False)]  # a missing folder first
    if feature_extractor is None:
        weights = find_inception_weights(weights_path)
        try:
            metric = FrechetInceptionDistance(feature=dims, feature_extractor_weights_path=str(weights))
        except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError) as exc:
            raise DatasetError(weights, f"not torch-fidelity's Inception weights ({type(exc).__name__}: {exc}); "
                                        f"expected {INCEPTION_FILE} from {INCEPTION_URL}") from None
    else:
        metric = FrechetInceptionDistance(feature=feature_extractor.eval())
    metric = metric.to(device)
    with progress_bar(disable=not progress, transient=True) as bar, torch.inference_mode():
        for (images, total), real in sets:
            task = bar.add_task("FID " + ("real" if real else "fake"), total=total)
            for batch in _batches(images, batch_size):
                metric.update(batch.to(device), real=real)
                bar.advance(task, len(batch))
    return float(metric.compute())
