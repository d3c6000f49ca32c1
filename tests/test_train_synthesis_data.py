"""Synthesis samples (harness/train/tasks/synthesis/data.py) on the hand-made blocks dataset, whose pixels
are known: the semantic map is each category's position in the categories (void 255), the image in
[-1, 1]; resizing takes F.interpolate's nearest pixels for labels and PIL's bicubic for the image;
flips and crops are a pure function of (seed, epoch, index). And the reading side of the label-map
contract (`"label_maps": {"dir": "label_ids", "num_classes": 35}` in panoptic.json, one-channel
class-id PNGs beside the panoptic PNGs), on a tiny dataset written here in that layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from harness.atomic import write_png
from harness.data.categories import IGNORE_LABEL
from harness.data.dataset import PanopticDataset
from harness.data.images import read_ids, read_rgb
from harness.data.subsets import write_subset
from harness.errors import DatasetError
from harness.train.tasks.synthesis.data import LabelSource, SynthesisSet, collate

# the blocks dataset (conftest.write_blocks_dataset): category id -> position in Cityscapes' 19
POSITION = {23: 10, 7: 0, 26: 13, 24: 11}
CATEGORY_OF = {1000: 23, 2000: 7, 26001: 26, 24001: 24}


def semantic_by_hand(ids: np.ndarray) -> np.ndarray:
    out = np.full(ids.shape, IGNORE_LABEL, np.int64)
    for sid, category in CATEGORY_OF.items():
        out[ids == sid] = POSITION[category]
    return out


def nearest(t: np.ndarray, size) -> np.ndarray:
    """F.interpolate's nearest resize of an integer map (through float64: ids stay exact)."""
    maps = torch.from_numpy(t.astype(np.float64))[None, None]
    return F.interpolate(maps, size=size, mode="nearest")[0, 0].long().numpy()


def dataset(root, size=(32, 48), **kw) -> SynthesisSet:
    return SynthesisSet([root], LabelSource.of([root]), size, seed=0, **kw)


def test_evaluation_sample_is_the_files_pixels(blocks_dataset):
    ds = dataset(blocks_dataset, hflip=1.0)  # no epoch: no draws, whatever hflip says
    raw = PanopticDataset.load(blocks_dataset)
    for index in range(len(ds)):
        sample = ds.sample(index)
        ids = read_ids(blocks_dataset / "panoptic" / raw.annotations[index]["file_name"]).astype(np.int64)
        rgb = read_rgb(blocks_dataset / "images" / raw.images[index]["file_name"])
        np.testing.assert_array_equal(sample["panoptic"].numpy(), ids)
        np.testing.assert_array_equal(sample["semantic"].numpy(), semantic_by_hand(ids))
        assert (sample["semantic"][:, -2:] == IGNORE_LABEL).all()  # the void stripe
        want = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).double().div(127.5).sub(1).float()
        torch.testing.assert_close(sample["image"], want)
        assert sample["image"].dtype == torch.float32 and sample["semantic"].dtype == torch.int64
    assert ds.stem(1) == "img_001"


def test_resize_is_nearest_for_labels_and_bicubic_for_the_image(blocks_dataset):
    size = (20, 30)
    sample = dataset(blocks_dataset, size).sample(0)
    full = dataset(blocks_dataset).sample(0)
    np.testing.assert_array_equal(sample["semantic"].numpy(), nearest(full["semantic"].numpy(), size))
    np.testing.assert_array_equal(sample["panoptic"].numpy(), nearest(full["panoptic"].numpy(), size))
    rgb = read_rgb(blocks_dataset / "images" / "img_000.png")
    want = np.asarray(Image.fromarray(rgb).resize((30, 20), Image.BICUBIC)).astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(sample["image"].permute(1, 2, 0).numpy(), want, atol=1e-6)


def test_flips_are_keyed_on_seed_epoch_and_index(blocks_dataset):
    ds = dataset(blocks_dataset, hflip=0.5)
    plain = [ds.sample(i) for i in range(len(ds))]
    flipped = 0
    for epoch in range(6):
        for index in range(len(ds)):
            a, b = ds[(index, epoch)], ds[(index, epoch)]
            assert all(torch.equal(a[k], b[k]) for k in a)  # the same key gives the same sample
            mirrored = {k: v.flip(-1) for k, v in plain[index].items()}
            assert all(torch.equal(a[k], plain[index][k]) for k in a) or all(torch.equal(a[k], mirrored[k]) for k in a)
            flipped += torch.equal(a["panoptic"], mirrored["panoptic"])
    assert 0 < flipped < 18  # 18 draws at p = 0.5
    batch = collate([ds[(i, 0)] for i in range(3)])
    assert batch["image"].shape == (3, 3, 32, 48) and batch["semantic"].shape == batch["panoptic"].shape == (3, 32, 48)


def test_resize_and_crop_takes_a_window_of_the_loaded_size(blocks_dataset):
    """SPADE's resize_and_crop: the sample is a (32, 48) window of the map resized to the load size."""
    ds = dataset(blocks_dataset, hflip=0.0, load_size=(40, 60))
    loaded = nearest(dataset(blocks_dataset).sample(2)["panoptic"].numpy(), (40, 60))
    offsets = set()
    for epoch in range(8):
        crop = ds[(2, epoch)]["panoptic"].numpy()
        assert crop.shape == (32, 48)
        found = [(y, x) for y in range(9) for x in range(13) if np.array_equal(loaded[y:y + 32, x:x + 48], crop)]
        assert found
        offsets.add(found[0])
    assert len(offsets) > 1  # the window moves with the epoch
    unshifted = dataset(blocks_dataset).sample(2)["panoptic"]
    assert torch.equal(ds.sample(2)["panoptic"], unshifted)  # evaluation: no crop


def test_void_pixels_need_the_dontcare_channel(blocks_dataset):
    with pytest.raises(DatasetError, match=r"img_000\.png: has unlabelled pixels \(255\).*dontcare_label=true"):
        dataset(blocks_dataset, dontcare_label=False).sample(0)


# --- label maps --------------------------------------------------------------------------------------
def add_label_maps(root, num_classes: int = 35, dir_name: str = "label_ids", value_of=None):
    """Write `<root>/label_ids/<panoptic file_name>` (class id = the segment's Cityscapes label id,
    i.e. its category id; void 0 = 'unlabeled' except one 255 pixel) and declare them."""
    data = json.loads((root / "panoptic.json").read_text())
    for ann in data["annotations"]:
        ids = read_ids(root / "panoptic" / ann["file_name"])
        classes = np.zeros(ids.shape, np.uint8)
        for sid, category in CATEGORY_OF.items():
            classes[ids == sid] = category if value_of is None else value_of(category)
        classes[0, -1] = 255
        write_png(root / dir_name / ann["file_name"], classes)
    data["label_maps"] = {"dir": dir_name, "num_classes": num_classes}
    (root / "panoptic.json").write_text(json.dumps(data))
    return root


def test_declared_label_maps_are_the_semantic_input(blocks_dataset):
    add_label_maps(blocks_dataset)
    labels = LabelSource.of([blocks_dataset])
    assert labels.num_classes == 35 and labels.model_arguments() == {"num_classes": 35}
    assert labels.describe() == {"source": "label_maps", "num_classes": 35, "dir": "label_ids"}
    ds = SynthesisSet([blocks_dataset], labels, (32, 48), seed=0)
    for index in range(len(ds)):
        sample = ds.sample(index)
        ids = sample["panoptic"].numpy()
        want = np.zeros(ids.shape, np.int64)
        for sid, category in CATEGORY_OF.items():
            want[ids == sid] = category  # label ids, not positions
        want[0, -1] = IGNORE_LABEL
        np.testing.assert_array_equal(sample["semantic"].numpy(), want)
    small = SynthesisSet([blocks_dataset], labels, (16, 24), seed=0).sample(0)["semantic"].numpy()
    np.testing.assert_array_equal(small, nearest(ds.sample(0)["semantic"].numpy(), (16, 24)))


def test_without_label_maps_the_categories_are_the_classes(blocks_dataset):
    labels = LabelSource.of([blocks_dataset])
    assert labels.label_maps is None and labels.num_classes == 19
    assert [c["id"] for c in labels.model_arguments()["categories"]][:3] == [7, 8, 11]


def test_label_map_problems_are_one_line_errors_naming_the_file(blocks_dataset, tmp_path):
    add_label_maps(blocks_dataset, value_of=lambda category: 40 if category == 26 else category)
    ds = SynthesisSet([blocks_dataset], LabelSource.of([blocks_dataset]), (32, 48), seed=0)
    bad_ids = r"label_ids/img_000\.png: label map holds id\(s\) 40, not below num_classes 35 nor 255"
    with pytest.raises(DatasetError, match=bad_ids):
        ds.sample(0)
    (blocks_dataset / "label_ids" / "img_001.png").unlink()
    with pytest.raises(DatasetError, match=r"img_001\.png: label map file is missing"):
        ds.sample(1)
    data = json.loads((blocks_dataset / "panoptic.json").read_text())
    cases = (({"dir": "../elsewhere", "num_classes": 35}, r"label_maps\.dir '\.\./elsewhere' climbs out"),
             ({"dir": "label_ids", "num_classes": 0}, r"label_maps\.num_classes must be an integer in 1\.\.255"),
             ({"dir": "label_ids"}, r'label_maps must be \{"dir": FOLDER, "num_classes": K\}'))
    for declared, problem in cases:
        (blocks_dataset / "panoptic.json").write_text(json.dumps({**data, "label_maps": declared}))
        with pytest.raises(DatasetError, match=r"panoptic\.json: " + problem):
            PanopticDataset.load(blocks_dataset).label_maps


def test_every_folder_of_a_run_needs_the_same_label_maps(tmp_path):
    from conftest import write_blocks_dataset

    maps = add_label_maps(write_blocks_dataset(tmp_path / "maps"))
    plain = write_blocks_dataset(tmp_path / "plain")
    with pytest.raises(DatasetError, match=r"plain/panoptic\.json: label_maps None differ"):
        LabelSource.of([maps, plain])


def test_a_subset_keeps_its_label_maps(blocks_dataset, tmp_path):
    add_label_maps(blocks_dataset)
    out = write_subset(blocks_dataset, tmp_path / "subset", [0, 2])
    sub = SynthesisSet([out], LabelSource.of([out]), (32, 48), seed=0)
    full = SynthesisSet([blocks_dataset], LabelSource.of([blocks_dataset]), (32, 48), seed=0)
    assert len(sub) == 2
    assert torch.equal(sub.sample(1)["semantic"], full.sample(2)["semantic"])


def test_spades_edge_map_comes_from_the_instance_map_on_a_hand_made_map(tmp_path):
    """Cityscapes' instanceIds (void classes and trailer instances keep their own ids) against the
    panoptic map of the same frame (void = 0, trailer is void): SPADE's 4-neighbour edges, by hand."""
    from cityscapes_fixtures import write_cityscapes_tree

    from harness.data.cityscapes import convert_cityscapes
    from harness.models.registry import create_model
    from harness.models.synthesis.label_maps import instance_edges

    # label ids: 1 ego vehicle, 4 static (both void in the panoptic map), 7 road; trailer (30) instances
    instances = torch.tensor([[1, 1, 4, 4, 7],
                              [1, 1, 4, 4, 7],
                              [30000, 30000, 30001, 30001, 7]])
    want = torch.tensor([[0, 1, 1, 1, 1],
                         [1, 1, 1, 1, 1],
                         [1, 1, 1, 1, 1]], dtype=torch.float32)
    torch.testing.assert_close(instance_edges(instances[None])[0, 0], want)
    panoptic = torch.where((instances < 7) | (instances >= 30000), 0, instances)  # what the panoptic PNG holds
    from_panoptic = torch.tensor([[0, 0, 0, 1, 1],
                                  [0, 0, 0, 1, 1],
                                  [0, 0, 0, 1, 1]], dtype=torch.float32)
    torch.testing.assert_close(instance_edges(panoptic[None])[0, 0], from_panoptic)

    root = write_cityscapes_tree(tmp_path / "cs")
    frame = root / "gtFine/train/aachen/aachen_000000_000019_gtFine"  # the first image
    for suffix in ("labelIds", "instanceIds"):  # 'static' (4) beside the 'ego vehicle' (1): both void
        path = f"{frame}_{suffix}.png"
        pixels = np.asarray(Image.open(path)).copy()
        pixels[-3:, :5] = 4
        Image.fromarray(pixels).save(path)
    out = convert_cityscapes(root, tmp_path / "out", workers=1, progress=False, instance_ids=True)
    ds = SynthesisSet([out], LabelSource.of([out]), (24, 40), seed=0, dontcare_label=False)
    sample = ds.sample(0)
    np.testing.assert_array_equal(sample["instances"].numpy(), PanopticDataset.load(out).read_instance_map(0))
    model = create_model("spade-mini", num_classes=35, dontcare_label=False)
    label, panoptic_ids = model.labels(collate([sample]))
    torch.testing.assert_close(label[:, -1:], instance_edges(sample["instances"][None]))
    assert torch.equal(panoptic_ids[0], sample["panoptic"])
    spade_edges, panoptic_edges = instance_edges(sample["instances"][None]), instance_edges(sample["panoptic"][None])
    assert bool(spade_edges[0, 0, -3:, 4:6].all()) and not bool(panoptic_edges[0, 0, -2:, 4:6].any())
    assert LabelSource.of([out]).describe()["instance_dir"] == "instance_ids"  # the edges' source, recorded
