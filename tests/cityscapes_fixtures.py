"""A tiny Cityscapes tree (gtFine + leftImg8bit) with hand-known segments, shared by the tests of
the conversion and of the exports built on it."""

import numpy as np
from PIL import Image

H, W = 24, 40


def label_and_instance_maps(variant: int):
    """labelIds and instanceIds of one frame, as Cityscapes writes them: stuff pixels carry their
    label id in both; thing instances label_id * 1000 + k; a crowd group just the label id."""
    labels = np.full((H, W), 11, np.uint8)  # building
    labels[:6] = 23  # sky
    labels[14:] = 7  # road
    labels[-3:] = 1  # ego vehicle: ignoreInEval -> void
    instances = labels.astype(np.uint16)
    labels[10:16, 4:14] = 26  # car 26000
    instances[10:16, 4:14] = 26000
    labels[9:17, 20 + variant:23 + variant] = 24  # person 24000
    instances[9:17, 20 + variant:23 + variant] = 24000
    labels[12:15, 30:38] = 26  # a car group: crowd
    instances[12:15, 30:38] = 26
    return labels, instances


def write_cityscapes_tree(root, split="train",
                          frames=("bochum_000000_000313", "aachen_000000_000019", "aachen_000001_000019")):
    rng = np.random.default_rng(0)
    for i, frame in enumerate(frames):
        city = frame.split("_")[0]
        labels, instances = label_and_instance_maps(i)
        gt = root / "gtFine" / split / city
        gt.mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels).save(gt / f"{frame}_gtFine_labelIds.png")
        Image.fromarray(instances).save(gt / f"{frame}_gtFine_instanceIds.png")  # 16-bit PNG
        img = root / "leftImg8bit" / split / city
        img.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(img / f"{frame}_leftImg8bit.png")
    return root
