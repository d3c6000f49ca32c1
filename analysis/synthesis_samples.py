"""A sample figure like the synthesis paper's Figs 6-7: for a few validation label maps, one row
each: the label map (category colours, segment boundaries dark, so instances of one class are
told apart), the real image, then each generator's image generated from that map (SPADE, then
panoptic SPADE), with the detector's boxes (score >= 0.5) drawn on every image: where a generator
loses objects, its boxes are missing.

Generated images are read from the folder each run.json names (`generated`: `predictions/generated/
<label stem>.png`, written by the synthesis task), through `confined` paths: a stem comes from the
dataset's JSON and is data. One run per generator: the lowest seed. The detector is the one the
runs named (`eval.detector`), read from its finished evaluator run or weights file; nothing is
trained here."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from analysis.labels import method_label  # noqa: E402
from analysis.synthesis_tables import synthesis_runs  # noqa: E402
from harness.data.dataset import PanopticDataset  # noqa: E402
from harness.data.images import read_rgb  # noqa: E402
from harness.data.paths import confined  # noqa: E402
from harness.data.tensors import image_tensor  # noqa: E402
from harness.errors import PanbenchError  # noqa: E402
from harness.models.evaluators.registry import DETECTOR, LoadedEvaluator, load_evaluator  # noqa: E402
from harness.tracking.run_store import RUN_JSON, RunStore, read_record  # noqa: E402

GENERATED = "predictions/generated"  # where synthesis runs write them (run.json `generated`)
SCORE_THRESHOLD = 0.5
ORDER = ("spade", "panoptic-spade")


def label_picture(ids: np.ndarray, segments_info: list[dict], categories: list[dict]) -> np.ndarray:
    """(H, W, 3) uint8: each segment in its category's colour, void black, boundaries between
    segments darkened."""
    colors = {int(c["id"]): c.get("color", (128, 128, 128)) for c in categories}
    palette = {int(s["id"]): colors.get(int(s["category_id"]), (128, 128, 128)) for s in segments_info}
    keys = np.array([0, *palette], np.int64)
    values = np.array([(0, 0, 0), *palette.values()], np.uint8)
    order = np.argsort(keys)
    index = np.searchsorted(keys[order], ids.astype(np.int64)).clip(0, len(keys) - 1)
    known = keys[order][index] == ids
    picture = np.where(known[..., None], values[order][index], 0).astype(np.uint8)
    edge = np.zeros(ids.shape, bool)
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[1:, :] |= ids[1:, :] != ids[:-1, :]
    picture[edge] = picture[edge] // 3
    return picture


def one_run_per_generator(runs: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """(method, run) columns: SPADE first, then panoptic SPADE, then any other generator; lowest seed."""
    chosen = synthesis_runs(runs).sort_values("seed", kind="stable")
    firsts = chosen.groupby("method", sort=False).head(1)
    rank = {m: i for i, m in enumerate(ORDER)}
    firsts = firsts.assign(_rank=firsts.method.map(lambda m: rank.get(m, len(rank)))).sort_values("_rank", kind="stable")
    return [(row.method, row) for _, row in firsts.iterrows()]


def run_detector(columns: list[tuple[str, pd.Series]], root: Path) -> LoadedEvaluator | None:
    """The detector the runs named, from its finished evaluator run (or its weights file)."""
    from harness.train.tasks.evaluator.runs import evaluator_run_id, weights_of_run

    for _, run in columns:
        value = (run.config.get("eval") or {}).get(DETECTOR)
        if not value:
            continue
        if Path(value).is_file():
            return load_evaluator(value, DETECTOR)
        rid = evaluator_run_id(value, DETECTOR, root)
        weights = weights_of_run(RunStore(root).run_dir(rid))
        if weights.is_file():
            return load_evaluator(weights, DETECTOR)
    return None


def detections(detector: LoadedEvaluator | None, image: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """(xyxy box, label) of the detections scoring at least SCORE_THRESHOLD."""
    if detector is None:
        return []
    with torch.inference_mode():
        found = detector.model.eval()([image_tensor(image)])[0]
    keep = found["scores"] >= SCORE_THRESHOLD
    return list(zip(found["boxes"][keep].numpy(), found["labels"][keep].tolist()))


def generated_path(run: pd.Series, stem: str) -> Path:
    """`<stem>.png` in the folder run.json's `generated` names (inside the run folder, as the image)."""
    run_dir = Path(run.run_dir)
    record_file = run_dir / RUN_JSON
    folder = confined(run_dir, (read_record(record_file) or {}).get("generated") or GENERATED, source=record_file,
                      entry="generated")
    return confined(folder, f"{stem}.png", source=record_file, entry=f"generated image of {stem}")


def synthesis_samples(runs: pd.DataFrame, root: str | Path, n_images: int = 3) -> plt.Figure:
    """label | real | each generator, for the first `n_images` validation maps every chosen run generated."""
    root = Path(root)
    columns = one_run_per_generator(runs)
    first = columns[0][1]
    val_root = ((RunStore(root).read_run(first.run_id) or {}).get("data") or {}).get("val_root")
    if not val_root:
        raise PanbenchError(f"{Path(first.run_dir) / RUN_JSON}: names no validation set (data.val_root)")
    val = PanopticDataset.load(val_root)
    rows = []
    for index, image in enumerate(val.images):
        annotation = val.annotation_for(image["id"])
        stem = Path(annotation["file_name"]).stem
        if all(generated_path(run, stem).is_file() for _, run in columns):
            rows.append((index, annotation, stem))
        if len(rows) == n_images:
            break
    if not rows:
        raise PanbenchError(f"no validation map of {val.root} has a generated image in every run "
                            f"({', '.join(str(Path(r.run_dir) / GENERATED) for _, r in columns)})")
    detector = run_detector(columns, root)
    colors = {k + 1: np.asarray(c.get("color", (255, 255, 0))) / 255.0
              for k, c in enumerate(c for c in val.categories if c.get("isthing"))}
    titles = ["label", "real images", *(method for method, _ in columns)]
    height, width = val.read_ids(rows[0][0]).shape
    fig, axes = plt.subplots(len(rows), len(titles), squeeze=False,
                             figsize=(2.6 * len(titles), 0.4 + 2.6 * len(rows) * height / width))
    for r, (index, annotation, stem) in enumerate(rows):
        pictures = [(label_picture(val.read_ids(index), annotation["segments_info"], val.categories), False),
                    (val.read_image(index), True)]
        pictures += [(read_rgb(generated_path(run, stem)), True) for _, run in columns]
        for c, (picture, boxed) in enumerate(pictures):
            ax = axes[r][c]
            ax.imshow(picture, interpolation="nearest")
            for box, label in detections(detector, picture) if boxed else []:
                x0, y0, x1, y1 = box
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linewidth=1.0,
                                       edgecolor=colors.get(label, (1.0, 1.0, 0.0))))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(method_label(titles[c]), fontsize=9)
            if c == 0:
                ax.set_ylabel(stem, fontsize=7)
    boxes = f"boxes: {detector.architecture} (score >= {SCORE_THRESHOLD})" if detector else "no detector named: no boxes"
    fig.suptitle(f"Generated from validation label maps; {boxes}", fontsize=9)
    fig.tight_layout()
    return fig
