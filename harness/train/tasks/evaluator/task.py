"""Training an evaluator of synthesised images (synthesis paper Sec. 4: the segmenter behind mIoU /
accuracy, the Faster R-CNN behind detAP) as a task of the one training loop, on the real training
images of the dataset.

Everything but the end is the panoptic task's (harness/train/tasks/panoptic/task.py): the model from the
registry door (an evaluator there: one output per category, or per thing category + background),
the recipe's SGD with lr scaling, warmup and steps, flips and scale jitter, the summed loss dict as
one step. The end differs: the final weights are written as a plain state dict,
`<out_dir>/evaluator.pth`, with its sidecar `evaluator.json` (architecture, category of each output
class), so `load_evaluator` reads them like any user file; then the evaluator scores the real
validation images through `evaluate_synthesis` itself, exactly as it will score generated images.
That row (mIoU / accuracy / per-class IoU, or detAP) is the ceiling a generator can reach; it goes
to metrics.json, and the full result with its protocol to `<out_dir>/ceiling.json`."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from harness.atomic import write_json
from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PANOPTIC_JSON, PanopticDataset
from harness.models.evaluators.registry import EVALUATORS, category_ids_of, load_evaluator, sidecar_path
from harness.train.task import Evaluation
from harness.train.tasks.panoptic.task import PanopticTask
from harness.weights import write_state_dict

EVALUATOR_WEIGHTS = "evaluator.pth"
CEILING_JSON = "ceiling.json"
VAL_SUBSET = "val_subset"


def save_evaluator(model: nn.Module, architecture: str, category_ids: list[int], path: Path) -> Path:
    """The state dict (tensors only) and its sidecar, each written atomically; the sidecar last, so
    a file named by a sidecar is always complete."""
    write_state_dict(path, model.state_dict())
    write_json(sidecar_path(path), {"architecture": architecture, "category_ids": category_ids})
    return path


def validation_root(val_root: Path, val_max: int | None, out_dir: Path) -> Path:
    """The validation set, or its first `val_max` images as a dataset of their own (the evaluation
    matches every annotation of a folder to one image)."""
    ds = PanopticDataset.load(val_root)
    if not val_max or val_max >= len(ds):
        return val_root
    from harness.data.subsets import write_subset

    return write_subset(ds, out_dir / VAL_SUBSET, [image["id"] for image in ds.images[:val_max]])


class EvaluatorTask(PanopticTask):
    """A segmenter or detector of the evaluator table (harness/models/evaluators/registry.py)."""

    def evaluate(self, modules: dict[str, nn.Module], out_dir: Path, device: torch.device, n_samples: int,
                 progress: bool) -> Evaluation:
        from harness.metrics.synthesis import RESULT_KEYS, evaluate_synthesis

        kind = EVALUATORS[self.model_name].kind
        out_dir = Path(out_dir)
        weights = save_evaluator(modules["model"], self.model_name, category_ids_of(kind, self.categories),
                                 out_dir / EVALUATOR_WEIGHTS)
        evaluator = load_evaluator(weights, kind)  # scored as every later user will load it
        root = validation_root(Path(self.val_root), self.val_max, out_dir)
        result = evaluate_synthesis(root / IMAGES_DIR, root / PANOPTIC_JSON, root / PANOPTIC_DIR,
                                    **{kind: evaluator}, device=device, progress=progress, distances=False)
        write_json(out_dir / CEILING_JSON, result)
        metrics = {k: result[k] for k in RESULT_KEYS if result[k] is not None}
        if result["per_class"]:
            metrics["per_class"] = {str(c): row for c, row in result["per_class"].items()}
        return Evaluation(metrics)
