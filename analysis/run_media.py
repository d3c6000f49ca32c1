"""A run's images as small data: URIs for the dashboard, read only from inside the run folder.

Two sources, in this order: the images a run lists in `run.json` under `samples` (paths relative
to the run folder, e.g. a synthesis run's sample grids), then its panoptic predictions
(`predictions/panoptic/*.png` id maps named by `predictions/panoptic.json`), coloured with the
dataset's category colours. A listed path must stay inside its folder: no `..`, no absolute path,
no symlink resolving outside; a rejected or unreadable file becomes a note naming the file, the
entry and the rule, and the page still renders.

Size budget (so the page stays small): at most `IMAGES_PER_RUN` = 4 images per run, each at most
`THUMB_WIDTH` = 256 px wide, and at most `PAGE_IMAGE_BYTES` = 4 MiB of encoded images per page;
images beyond it are left out with a note. Predictions are taken in file-name order, so runs
evaluated on the same validation set show the same images side by side."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.dataset import PANOPTIC_DIR, PANOPTIC_JSON
from harness.data.images import opened_image, read_ids
from harness.data.paths import confined
from harness.data.schema import read_json
from harness.errors import DatasetError
from harness.panda.figures import colorize
from harness.tracking.run_store import PREDICTIONS, RUN_JSON

IMAGES_PER_RUN = 4
THUMB_WIDTH = 256
PAGE_IMAGE_BYTES = 4 * 2 ** 20
SAMPLES_KEY = "samples"
UNKNOWN_COLOR = (128, 128, 128)


@dataclass
class ImageBudget:
    """Encoded bytes the page may still spend on images; once an image does not fit, no later run
    decodes any (the runs left out are counted for one note)."""

    left: int = PAGE_IMAGE_BYTES
    runs_left_out: int = 0

    def spend(self, size: int) -> bool:
        if size > self.left:
            self.left = 0
            return False
        self.left -= size
        return True

    def note(self) -> str | None:
        if not self.runs_left_out:
            return None
        return (f"images of {self.runs_left_out} run(s) left out: the page's {PAGE_IMAGE_BYTES // 2 ** 20} MiB "
                f"image budget is spent")


@dataclass
class Thumbnail:
    caption: str
    kind: str  # "sample" or "prediction"
    src: str  # data:image/...;base64,...


def data_uri(image: np.ndarray, image_format: str) -> str:
    """(H, W, 3) uint8 -> `data:image/png|jpeg;base64,...` (PNG for label maps, JPEG for photographs)."""
    buf = io.BytesIO()
    if image_format == "png":
        Image.fromarray(image).save(buf, format="PNG", optimize=True)
    else:
        Image.fromarray(image).save(buf, format="JPEG", quality=85)
    mime = "png" if image_format == "png" else "jpeg"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def nearest_rows_cols(shape: tuple[int, int], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices that shrink an (H, W) map to at most `width` columns (nearest, aspect kept)."""
    height, full = shape
    if full <= width:
        return np.arange(height), np.arange(full)
    out_h = max(1, round(height * width / full))
    return (np.arange(out_h) * height // out_h), (np.arange(width) * full // width)


def sample_thumbnail(path: Path) -> np.ndarray:
    with opened_image(path) as image:  # size checked from the header; a decoding failure names the file
        image.draft("RGB", (THUMB_WIDTH, THUMB_WIDTH * image.height // max(image.width, 1)))
        rgb = image.convert("RGB")
        if rgb.width > THUMB_WIDTH:
            rgb = rgb.resize((THUMB_WIDTH, max(1, round(rgb.height * THUMB_WIDTH / rgb.width))),
                             Image.Resampling.LANCZOS)
        return np.asarray(rgb)


def _categories(raw: object) -> dict[int, dict]:
    """Category id -> {color, isthing}, with a grey for a missing or malformed colour."""
    categories = {}
    for category in raw if isinstance(raw, list) else []:
        if not isinstance(category, dict) or not isinstance(category.get("id"), int):
            continue
        color = category.get("color")
        valid = (isinstance(color, list) and len(color) == 3
                 and all(isinstance(c, int) and 0 <= c <= 255 for c in color))
        categories[category["id"]] = {"color": color if valid else UNKNOWN_COLOR,
                                      "isthing": category.get("isthing") is True}
    return categories


def prediction_thumbnail(path: Path, segments_info: object, categories: dict[int, dict]) -> np.ndarray:
    ids = read_ids(path)
    rows, cols = nearest_rows_cols(ids.shape, THUMB_WIDTH)
    ids = ids[rows][:, cols]
    segments = [s for s in (segments_info if isinstance(segments_info, list) else [])
                if isinstance(s, dict) and isinstance(s.get("id"), int) and s.get("category_id") in categories]
    return colorize(ids, segments, categories)


@dataclass
class Candidate:
    """An image a run may show: a listed sample, or a prediction with what colours it."""

    caption: str
    kind: str
    path: Path
    segments_info: object = None
    categories: dict | None = None

    def thumbnail(self) -> str:
        if self.kind == "sample":
            return data_uri(sample_thumbnail(self.path), "jpeg")
        return data_uri(prediction_thumbnail(self.path, self.segments_info, self.categories or {}), "png")


def listed_samples(run_dir: Path, record: dict, notes: list[str]) -> list[Candidate]:
    """The images `run.json` lists under `samples`, each confined to the run folder."""
    listed = record.get(SAMPLES_KEY)
    source = run_dir / RUN_JSON
    if listed is None:
        return []
    if not isinstance(listed, list):
        notes.append(str(DatasetError(source, f"{SAMPLES_KEY}: expected a list of paths inside the run folder")))
        return []
    out = []
    for k, name in enumerate(listed[:IMAGES_PER_RUN]):
        try:
            out.append(Candidate(str(name), "sample", confined(run_dir, name, source=source, entry=f"{SAMPLES_KEY}[{k}]")))
        except DatasetError as exc:
            notes.append(str(exc))
    return out


def predicted_maps(run_dir: Path, notes: list[str]) -> list[Candidate]:
    """The predictions of `predictions/panoptic.json`, by file name, each confined to `predictions/panoptic/`."""
    folder = run_dir / PREDICTIONS
    pred_json = folder / PANOPTIC_JSON
    if not pred_json.is_file():
        return []
    try:
        data = read_json(pred_json)
        annotations = data.get("annotations") if isinstance(data, dict) else None
        if not isinstance(annotations, list):
            raise DatasetError(pred_json, "annotations: expected a list")
    except DatasetError as exc:
        notes.append(str(exc))
        return []
    categories = _categories(data.get("categories"))
    out = []
    for k, annotation in sorted(enumerate(annotations), key=lambda ka: str(_field(ka[1], "file_name"))):
        name = _field(annotation, "file_name")
        try:
            path = confined(folder / PANOPTIC_DIR, name, source=pred_json, entry=f"annotations[{k}]")
        except DatasetError as exc:
            notes.append(str(exc))
            continue
        out.append(Candidate(name, "prediction", path, annotation.get("segments_info"), categories))
        if len(out) == IMAGES_PER_RUN:
            break
    return out


def _field(entry: object, key: str) -> object:
    return entry.get(key) if isinstance(entry, dict) else None


def run_thumbnails(run_dir: Path, record: dict, budget: ImageBudget) -> tuple[list[Thumbnail], list[str]]:
    """Up to `IMAGES_PER_RUN` thumbnails of one run (listed samples first), and a note per problem."""
    notes: list[str] = []
    thumbnails: list[Thumbnail] = []
    candidates = listed_samples(run_dir, record, notes) + predicted_maps(run_dir, notes)
    for candidate in candidates:
        if len(thumbnails) == IMAGES_PER_RUN:
            break
        if budget.left == 0:
            budget.runs_left_out += 1
            break
        try:
            src = candidate.thumbnail()
        except DatasetError as exc:
            notes.append(str(exc))
            continue
        if budget.spend(len(src)):
            thumbnails.append(Thumbnail(candidate.caption, candidate.kind, src))
    return thumbnails, notes
