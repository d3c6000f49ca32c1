"""The end of a synthesis run: the trained generator synthesises every validation label map (eval
mode: BatchNorm's running statistics, as SPADE's test.py), the images are written under the run's
predictions folder with the file-name stem of their label map (the matching rule of
`harness.metrics.synthesis`), a few sample grids (label | real | generated) are saved as PNG, and
the generated folder is scored by `evaluate_synthesis` (mIoU / accuracy / detAP with the recipe's
evaluators, FID / KID with the Inception weights).

    <out>/generated/<label stem>.png   the generator's images, at its resolution
    <out>/real/<label stem>.png        the real validation images as the generator sees them
    <out>/samples/<label stem>.png     label (category colours, instances shaded) | real | generated

FID and KID compare the generated images with `real/`: the validation images resized to the
generator's resolution (bicubic, as in training), so the distance measures the synthesis, not the
missing resolution of a 256x512 generator against 1024x2048 photographs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.atomic import write_png
from harness.data.dataset import PANOPTIC_DIR, ground_truth_json
from harness.metrics.per_image import PER_IMAGE_FILE
from harness.metrics.protocol import DEFAULT_PROTOCOL
from harness.metrics.synthesis import RESULT_KEYS, Resolver, evaluate_synthesis
from harness.models.evaluators.registry import DETECTOR, SEGMENTER, LoadedEvaluator
from harness.panda.figures import colorize
from harness.progress import track
from harness.train.task import Evaluation, to_device
from harness.train.tasks.synthesis.data import SynthesisSet, collate
from harness.weight_files import candidate_path
from harness.weights import WeightsError

GENERATED, REAL, SAMPLES = "generated", "real", "samples"
GAP = 4  # white pixels between the panels of a sample grid
REAL_IMAGES = "validation images resized to the generator's resolution (bicubic, as in training)"


@dataclass(frozen=True)
class EvaluatorSettings:
    """The recipe's `eval.segmenter / detector / fid_weights`: weights files or evaluator run ids
    (resolved through the task's `resolve_run`); None: that metric is not measured. `eval.protocol`."""

    segmenter: str | None = None
    detector: str | None = None
    fid_weights: str | None = None
    protocol: str = DEFAULT_PROTOCOL  # eval.protocol (harness.metrics.protocol)

    def check(self, resolve_run: Resolver | None) -> None:
        """Before training: a named weights file must exist (without a resolver nothing else can
        name an evaluator), so a long run does not fail at its evaluation."""
        for key in ("segmenter", "detector", "fid_weights"):
            value = getattr(self, key)
            resolvable = resolve_run is not None and key != "fid_weights"
            if value is not None and not resolvable and not candidate_path(value).is_file():
                raise WeightsError(value, f"eval.{key}: no such weights file")

    def resolved_now(self, resolve_run: Resolver | None) -> Resolver | None:
        """Resolve the named evaluators before training (one that cannot be had fails the run at its
        start, not after the generator's training) and return a resolver that hands back what was loaded."""
        self.check(resolve_run)
        if resolve_run is None:
            return None
        loaded = {(value, kind): resolve_run(value, kind)
                  for value, kind in ((self.segmenter, SEGMENTER), (self.detector, DETECTOR)) if value is not None}

        def resolve(value: str, kind: str) -> LoadedEvaluator:
            return loaded.get((value, kind)) or resolve_run(value, kind)

        return resolve


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8, rounded (SPADE's `tensor2im` without its truncation)."""
    scaled = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def sample_grid(*panels: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 panels side by side, `GAP` white columns between them."""
    height = panels[0].shape[0]
    gap = np.full((height, GAP, 3), 255, np.uint8)
    parts = [p for panel in panels for p in (gap, panel)][1:]
    return np.concatenate(parts, axis=1)


@torch.no_grad()
def synthesise(gan: nn.Module, val_set: SynthesisSet, out_dir: Path, device: torch.device, n: int, batch_size: int,
               n_samples: int, amp: bool, progress: bool) -> tuple[list[dict], list[Path]]:
    """Write generated/ and real/ for the first `n` samples and the first `n_samples` grids; return the
    grids for W&B ({"grid", "caption": the image's file name}) and their files."""
    was_training = gan.training
    gan.eval()
    grids, grid_files = [], []
    try:
        for start in track(range(0, n, batch_size), "generate", disable=not progress):
            indices = list(range(start, min(n, start + batch_size)))
            batch = collate([val_set.sample(i) for i in indices])
            with torch.autocast(device_type=device.type, enabled=amp and device.type == "cuda"):
                fake = gan(to_device(batch, device), "inference")
            fakes, reals = to_uint8(fake), to_uint8(batch["image"])
            for k, index in enumerate(indices):
                stem = val_set.stem(index)
                write_png(out_dir / GENERATED / f"{stem}.png", fakes[k])
                write_png(out_dir / REAL / f"{stem}.png", reals[k])
                if len(grids) < n_samples:
                    ds, image, annotation = val_set.entry(index)
                    label = colorize(batch["panoptic"][k].numpy(), annotation["segments_info"], ds.category_map())
                    grid = sample_grid(label, reals[k], fakes[k])
                    path = out_dir / SAMPLES / f"{stem}.png"
                    write_png(path, grid)
                    grids.append({"grid": grid, "caption": str(image["file_name"])})
                    grid_files.append(path)
    finally:
        gan.train(was_training)
    return grids, grid_files


def evaluate_generator(gan: nn.Module, val_set: SynthesisSet, out_dir: Path, device: torch.device, *,
                       val_max: int | None, batch_size: int, n_samples: int, amp: bool, evaluators: EvaluatorSettings,
                       resolve_run: Resolver | None, progress: bool) -> Evaluation:
    """Synthesise the validation set (its first `val_max` images) and score it. metrics: the measured
    keys of `det_ap miou accuracy fid kid kid_std` + per_class; record: the protocol, the generated
    folder and the sample grids (for run.json)."""
    out_dir = Path(out_dir)
    n = min(len(val_set), val_max) if val_max else len(val_set)
    grids, grid_files = synthesise(gan, val_set, out_dir, device, n, max(1, batch_size), n_samples, amp, progress)
    ds = val_set.datasets[0]
    gt_json = ground_truth_json(ds, ds.images[:n], out_dir)
    result = evaluate_synthesis(out_dir / GENERATED, gt_json, ds.root / PANOPTIC_DIR, real=out_dir / REAL,
                                segmenter=evaluators.segmenter, detector=evaluators.detector,
                                fid_weights=evaluators.fid_weights, resolve_run=resolve_run, device=device,
                                progress=progress, per_image=out_dir / PER_IMAGE_FILE, protocol=evaluators.protocol)
    metrics = {key: result[key] for key in RESULT_KEYS if result[key] is not None}
    metrics["per_class"] = result["per_class"]
    if len(metrics) > 1:  # the scores' protocol; no score (no evaluator, no Inception), no protocol to name
        metrics["protocol"] = result["protocol"]["name"]
    protocol = {**result["protocol"], "generation": {"resolution": list(val_set.image_size), "real": REAL_IMAGES,
                                                     "mode": "eval (BatchNorm running statistics)"}}
    return Evaluation(metrics, grids, {"protocol": protocol, "generated": out_dir / GENERATED, "samples": grid_files})
