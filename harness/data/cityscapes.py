"""Cityscapes -> COCO panoptic, through cityscapesscripts' own panoptic preparation.

`createPanopticImgs.convert2panoptic` is the reference converter (the one Cityscapes' panoptic
benchmark and UPSNet use): it reads `gtFine/<split>/<city>/*_gtFine_instanceIds.png`, keeps the 19
evaluation categories (label ids as category ids; `ignoreInEval` classes become void), writes ids
as in the instance PNG (stuff: its label id; things: label id * 1000 + k; crowd groups: the label
id with iscrowd 1). panbench only moves its output into the dataset layout (images from
`leftImg8bit/`, PNGs under `panoptic/`, `panoptic.json`) and validates the result.

Each label PNG takes its image's name (`<frame>_leftImg8bit.png` in both images/ and panoptic/, not
the converter's `<frame>_gtFine_panoptic.png`): mmdetection derives a label's path from its image's
file name and detectron2's `load_sem_seg` pairs files by stem, so one stem serves both. Image ids
stay Cityscapes' frame names (cityscapesscripts' own evaluation matches on them);
`panbench data export` gives the frameworks integer ids.

`label_ids=True` also keeps every frame's `*_gtFine_labelIds.png` (Cityscapes' 34 label ids, the
35-class input of SPADE and the synthesis paper) under `label_ids/`; `instance_ids=True` (which implies
it) also its `*_gtFine_instanceIds.png` (SPADE's instance map, the source of its boundary channel)
under `instance_ids/`; both declared in panoptic.json as `label_maps` (harness.data.label_maps)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

from harness.atomic import link_or_copy, naming_failures, output_folder
from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PanopticDataset, write_panoptic_json
from harness.data.label_maps import LABEL_MAPS_KEY, LabelMaps
from harness.data.schema import read_json
from harness.data.validate import validate_dataset
from harness.errors import DatasetError
from harness.parallel import parallel_map

CONVERTER = "cityscapesscripts.preparation.createPanopticImgs.convert2panoptic"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
LABEL_IDS_DIR = "label_ids"
INSTANCE_IDS_SUFFIX = "_gtFine_instanceIds.png"
INSTANCE_IDS_DIR = "instance_ids"
LABEL_NC = 35  # SPADE's label_nc for Cityscapes: label ids 0..33 (cityscapesscripts' labels.py) and one spare


def _run_converter(gt_fine: Path, work: Path, split: str, blame: Path) -> dict:
    """Call the converter on `gt_fine/<split>`; its sys.exit on bad input (and its exceptions)
    become a DatasetError naming `blame`."""
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            convert2panoptic(str(gt_fine), str(work), False, [split])
    except SystemExit:
        message = log.getvalue().strip().splitlines()
        raise DatasetError(blame, f"cityscapesscripts refused it: {message[-1] if message else 'exit'}") from None
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise DatasetError(blame, f"cityscapesscripts could not convert it ({type(exc).__name__}: {exc})") from None
    return read_json(work / f"cityscapes_panoptic_{split}.json")


def _convert_city(job: tuple[str, str, str]) -> dict:
    """One city in its own work folder (a gtFine tree holding a link to that city only), so cities
    convert in parallel; the converter's per-segment full-image masks make it ~1 s per 2 Mpx frame."""
    city_dir, work, split = Path(job[0]), Path(job[1]), job[2]
    tree = work / "gtFine" / split
    tree.mkdir(parents=True)
    (tree / city_dir.name).symlink_to(city_dir.resolve(), target_is_directory=True)
    converted = _run_converter(work / "gtFine", work, split, blame=city_dir)
    converted["png_dir"] = str(work / f"cityscapes_panoptic_{split}")
    return converted


def convert_cityscapes(root: str | Path, out: str | Path, split: str = "train", workers: int | None = None,
                       progress: bool = True, label_ids: bool = False, instance_ids: bool = False) -> Path:
    """Convert one split of the Cityscapes tree at `root` (holding gtFine/ and leftImg8bit/) into a
    COCO-panoptic dataset at `out` (built beside it and renamed into place, so a failed conversion
    leaves nothing there), one city per process; return `out`. Images keep the converter's order
    (sorted paths: city, then frame). `label_ids`: keep the `*_gtFine_labelIds.png` maps too;
    `instance_ids`: and the `*_gtFine_instanceIds.png` maps."""
    root, out = Path(root), Path(out)
    label_ids = label_ids or instance_ids
    kept = [(LABEL_IDS_SUFFIX, LABEL_IDS_DIR)] * label_ids + [(INSTANCE_IDS_SUFFIX, INSTANCE_IDS_DIR)] * instance_ids
    gt_fine, left = root / "gtFine", root / "leftImg8bit"
    for folder in (gt_fine / split, left / split):
        if not folder.is_dir():
            raise DatasetError(folder, "folder is missing (expected the Cityscapes layout gtFine/ and leftImg8bit/ "
                                       "with <split>/<city>/ inside)")
    cities = sorted(p for p in (gt_fine / split).iterdir() if p.is_dir())
    if not cities:
        raise DatasetError(gt_fine / split, "holds no <city>/ folders")
    with output_folder(out) as staging:
        work = staging / ".cityscapes_work"
        jobs = [(str(city), str(work / city.name), split) for city in cities]
        per_city = parallel_map(_convert_city, jobs, workers=workers, description=f"Cityscapes {split}",
                                progress=progress)
        images, annotations = [], []
        for converted in per_city:
            for image, ann in zip(converted["images"], converted["annotations"]):
                # The converter names the image "<id>_gtFine_leftImg8bit.png", a file Cityscapes does not
                # have; the real one is "<id>_leftImg8bit.png" in leftImg8bit/<split>/<city>/.
                image["file_name"] = f"{image['id']}_leftImg8bit.png"
                city = image["id"].rsplit("_", 2)[0]  # <city>_<sequence>_<frame>
                source = left / split / city / image["file_name"]
                if not source.is_file():
                    raise DatasetError(source, "image file is missing (every gtFine annotation needs its "
                                               "leftImg8bit image)")
                link_or_copy(source, staging / IMAGES_DIR / image["file_name"])
                converted_label, ann["file_name"] = ann["file_name"], image["file_name"]  # one stem (see above)
                label = staging / PANOPTIC_DIR / ann["file_name"]
                with naming_failures(label):
                    label.parent.mkdir(exist_ok=True)
                    os.replace(Path(converted["png_dir"]) / converted_label, label)
                for suffix, folder in kept:
                    ids_source = gt_fine / split / city / f"{image['id']}{suffix}"
                    if not ids_source.is_file():
                        kind = suffix[len("_gtFine_"):-len(".png")]
                        raise DatasetError(ids_source, f"{kind} file is missing (--label-ids / --instance-ids keep "
                                                       f"every frame's gtFine {kind} map)")
                    link_or_copy(ids_source, staging / folder / ann["file_name"])
                images.append(image)
                annotations.append(ann)
        shutil.rmtree(work)
        maps = LabelMaps(LABEL_IDS_DIR, LABEL_NC, INSTANCE_IDS_DIR if instance_ids else None)
        extra = {LABEL_MAPS_KEY: maps.to_json()} if label_ids else {}
        write_panoptic_json(staging, images, annotations, per_city[0]["categories"],
                            info={"description": f"Cityscapes {split} (gtFine) in COCO panoptic format",
                                  "converted_with": CONVERTER}, **extra)
        validate_dataset(PanopticDataset.load(staging))
    return out
