"""Cityscapes -> COCO panoptic, through cityscapesscripts' own panoptic preparation.

`createPanopticImgs.convert2panoptic` is the reference converter (the one Cityscapes' panoptic
benchmark and UPSNet use): it reads `gtFine/<split>/<city>/*_gtFine_instanceIds.png`, keeps the 19
evaluation categories (label ids as category ids; `ignoreInEval` classes become void), writes ids
as in the instance PNG (stuff: its label id; things: label id * 1000 + k; crowd groups: the label
id with iscrowd 1). panbench only moves its output into the dataset layout (images from
`leftImg8bit/`, PNGs under `panoptic/`, `panoptic.json`) and validates the result."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PanopticDataset, write_panoptic_json
from harness.data.subsets import link_or_copy
from harness.errors import DatasetError

CONVERTER = "cityscapesscripts.preparation.createPanopticImgs.convert2panoptic"


def _run_converter(gt_fine: Path, work: Path, split: str) -> dict:
    """Call the converter; it reports bad input with sys.exit, which becomes a DatasetError."""
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            convert2panoptic(str(gt_fine), str(work), False, [split])
    except SystemExit:
        message = log.getvalue().strip().splitlines()
        raise DatasetError(gt_fine / split, f"cityscapesscripts refused it: {message[-1] if message else 'exit'}") from None
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise DatasetError(gt_fine / split, f"cityscapesscripts could not convert it ({type(exc).__name__}: {exc})") from None
    return json.loads((work / f"cityscapes_panoptic_{split}.json").read_text())


def convert_cityscapes(root: str | Path, out: str | Path, split: str = "train") -> Path:
    """Convert one split of the Cityscapes tree at `root` (holding gtFine/ and leftImg8bit/) into a
    COCO-panoptic dataset at `out`; return `out`."""
    root, out = Path(root), Path(out)
    gt_fine, left = root / "gtFine", root / "leftImg8bit"
    for folder in (gt_fine / split, left / split):
        if not folder.is_dir():
            raise DatasetError(folder, "folder is missing (expected the Cityscapes layout gtFine/ and leftImg8bit/ "
                                       "with <split>/<city>/ inside)")
    work = out / ".cityscapes_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    converted = _run_converter(gt_fine, work, split)

    (out / IMAGES_DIR).mkdir(exist_ok=True)
    (out / PANOPTIC_DIR).mkdir(exist_ok=True)
    for image, ann in zip(converted["images"], converted["annotations"]):
        # The converter names the image "<id>_gtFine_leftImg8bit.png", a file Cityscapes does not
        # have; the real one is "<id>_leftImg8bit.png" in leftImg8bit/<split>/<city>/.
        image["file_name"] = f"{image['id']}_leftImg8bit.png"
        city = image["id"].rsplit("_", 2)[0]  # <city>_<sequence>_<frame>
        source = left / split / city / image["file_name"]
        if not source.is_file():
            raise DatasetError(source, "image file is missing (every gtFine annotation needs its leftImg8bit image)")
        link_or_copy(source, out / IMAGES_DIR / image["file_name"])
        os.replace(work / f"cityscapes_panoptic_{split}" / ann["file_name"], out / PANOPTIC_DIR / ann["file_name"])
    write_panoptic_json(out, converted["images"], converted["annotations"], converted["categories"],
                        info={"description": f"Cityscapes {split} (gtFine) in COCO panoptic format",
                              "converted_with": CONVERTER})
    shutil.rmtree(work)
    PanopticDataset.load(out)
    return out
